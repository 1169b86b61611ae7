"""The public API, read by importing it: every exported function is annotated, and no module is
hidden by a same-named attribute of its package (``import a.b as m`` must give the module)."""

import importlib
import inspect
import pkgutil
import sys

import unlearnscope

PACKAGES = sorted(m.name for m in pkgutil.walk_packages(unlearnscope.__path__, "unlearnscope.") if m.ispkg)
MODULES = sorted(
    m.name for m in pkgutil.walk_packages(unlearnscope.__path__, "unlearnscope.") if not m.name.endswith("__main__")
)


def public_functions():
    seen = set()
    for name in ["unlearnscope", *PACKAGES]:
        if name.startswith("unlearnscope.cli"):  # typer commands: annotated for typer, checked by the CLI tests
            continue
        pkg = importlib.import_module(name)
        for attr in getattr(pkg, "__all__", ()):
            obj = getattr(pkg, attr)
            if inspect.isfunction(obj) and obj not in seen:
                seen.add(obj)
                yield f"{name}.{attr}", obj


def missing_annotations(fn) -> list[str]:
    sig = inspect.signature(fn)
    skip = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    out = [p.name for p in sig.parameters.values() if p.annotation is inspect.Parameter.empty and p.kind not in skip]
    return out + (["return"] if sig.return_annotation is inspect.Signature.empty else [])


def test_every_exported_function_is_fully_annotated():
    functions = dict(public_functions())
    assert len(functions) > 100  # the walk found the API
    bad = {name: m for name, fn in functions.items() if (m := missing_annotations(fn))}
    assert not bad, f"public functions with unannotated parameters / returns: {bad}"


def test_the_check_sees_a_missing_annotation():
    def f(subject, k: int = 1):
        return k

    def g(subject: object) -> int:
        return 1

    assert missing_annotations(f) == ["subject", "return"] and missing_annotations(g) == []


def test_no_module_is_hidden_by_an_attribute_of_its_package():
    hidden = []
    for name in MODULES:
        module = importlib.import_module(name)
        parent, _, leaf = name.rpartition(".")
        if getattr(sys.modules[parent], leaf, None) is not module:
            hidden.append(
                f"{name} (unlearnscope's {parent}.{leaf} is {type(getattr(sys.modules[parent], leaf)).__name__})"
            )
    assert not hidden, hidden
