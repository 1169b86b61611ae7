"""The JSON Schema of ``report.json``, generated from the types that write it.

    from unlearnscope.report.schema import report_schema, validate_report
    json.dumps(report_schema())          # draft 2020-12; `unlearnscope report --schema` prints it
    validate_report(json.loads(Path("report.json").read_text()))   # needs the jsonschema package

The verdict table's rows (`rows.VerdictRow`), every method's verification (`Verification`, with
its `Verdict`, `MetricSummary`\\ s, `RKI`\\ s and `Finding`\\ s) are described field by field from their
dataclasses (required keys, `Literal` labels as enums); the sections that hold free-form
measurements (provenance, config, localization, details) are objects.  A float that was NaN is
written as ``null``.  The schema's version is the report's (`rows.REPORT_VERSION`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal, Union

JSON_SCHEMA = "https://json-schema.org/draft/2020-12/schema"
VALIDATE_ENV = "UNLEARNSCOPE_VALIDATE_REPORTS"  # set: `write_report` validates every report it writes
SCALARS: dict[Any, dict] = {
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": ["number", "null"]},
    str: {"type": "string"},
}


def _schema(tp: Any, defs: dict) -> dict:
    """The JSON Schema of a type hint (dataclasses become ``$defs`` entries)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any or tp is object:
        return {}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # recursion guard
            defs[name] = _dataclass_schema(tp, defs)
        return {"$ref": f"#/$defs/{name}"}
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (Union, types.UnionType):
        return {"anyOf": [_schema(a, defs) if a is not type(None) else {"type": "null"} for a in args]}
    if origin in (list, list) or tp is list:
        return {"type": "array", "items": _schema(args[0], defs)} if args else {"type": "array"}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _schema(args[0], defs)}
        return {
            "type": "array",
            "prefixItems": [_schema(a, defs) for a in args],
            "minItems": len(args),
            "maxItems": len(args),
        }
    if origin is dict or tp is dict:
        return {"type": "object", "additionalProperties": _schema(args[1], defs)} if args else {"type": "object"}
    return dict(SCALARS.get(tp, {}))


def _dataclass_schema(cls: type, defs: dict) -> dict:
    hints = typing.get_type_hints(cls)
    props, required = {}, []
    for f in dataclasses.fields(cls):
        if not f.repr and f.name == "subject":
            continue
        key = f.metadata.get("json", f.name)
        props[key] = _schema(hints[f.name], defs)
        if not f.metadata.get("omit_none"):
            required.append(key)
    doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
    return {
        "type": "object",
        "description": doc,
        "properties": props,
        "required": required,
        "additionalProperties": False,
    }


def report_schema() -> dict:
    """The schema every ``report.json`` satisfies."""
    from ..evaluate.verification import Verification
    from .rows import REPORT_VERSION, VerdictRow

    defs: dict = {}
    run = _dataclass_schema(Verification, defs)
    run["properties"] = {
        "kind": {"const": Verification.kind},
        **run["properties"],
        "noise": {
            "type": "object",
            "description": "each metric's NOISE values (the method's drift floor)",
            "additionalProperties": {"anyOf": [_schema(_role_summary(), defs), {"type": "null"}]},
        },
    }
    run["required"] = ["kind", *run["required"], "noise"]
    defs["Verification"] = run
    obj = {"type": "object"}
    return {
        "$schema": JSON_SCHEMA,
        "$id": f"https://unlearnscope.dev/schemas/report-v{REPORT_VERSION}.json",
        "title": "unlearnscope intrinsic evaluation report (report.json)",
        "type": "object",
        "properties": {
            "kind": {"const": "intrinsic_evaluation_report"},
            "version": {"const": REPORT_VERSION},
            "name": {"type": "string"},
            "created": {"type": "string"},
            "verdict_table": {"type": "array", "items": _schema(VerdictRow, defs)},
            "provenance": obj,
            "config": obj,
            "sections": obj,
            "runs": {"type": "object", "additionalProperties": {"$ref": "#/$defs/Verification"}},
            "output_metrics": obj,
        },
        "required": [
            "kind",
            "version",
            "name",
            "created",
            "verdict_table",
            "provenance",
            "config",
            "sections",
            "runs",
            "output_metrics",
        ],
        "additionalProperties": False,
        "$defs": defs,
    }


def _role_summary() -> type:
    from ..evaluate.verdicts import RoleSummary

    return RoleSummary


def validate_report(report: dict) -> None:
    """Raise `UnlearnscopeError` listing (up to 10 of) the places where ``report`` (the JSON form,
    as `load_report` returns it) breaks `report_schema`; needs ``jsonschema`` (the test extra)."""
    import json

    from ..errors import UnlearnscopeError
    from ..results import to_jsonable

    try:
        import jsonschema
    except ImportError as err:
        raise UnlearnscopeError("validating a report needs jsonschema: pip install 'unlearnscope[test]'") from err
    data = json.loads(json.dumps(to_jsonable(report)))  # the JSON as written (tuples as lists, NaN as null)
    validator = jsonschema.Draft202012Validator(report_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:300]}" for e in errors[:10]]
        raise UnlearnscopeError(f"report breaks the report.json schema ({len(errors)} errors):\n" + "\n".join(lines))
