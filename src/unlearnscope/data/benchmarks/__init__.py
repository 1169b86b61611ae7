"""Benchmark targets: TOFU, MUSE, WMDP and RWKU in their own published file layouts, converted
into the audit's target file (`audit.target`).

    conv = convert("tofu", "data/TOFU", split="10")     # a Converted: rows + notes
    write_target(conv, "tofu10.jsonl")                   # JSON Lines, written atomically

``source`` is a local directory (or file) in the benchmark's layout; ``hf:OWNER/NAME`` loads the
benchmark through the ``datasets`` library when a hub is reachable and converts the same way.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

from ...errors import UnlearnscopeError
from .common import Converted
from .registry import BENCHMARKS, Benchmark, ConvertOptions

MODULES = ("tofu", "muse", "wmdp", "rwku")  # registration order
for _module in MODULES:
    importlib.import_module(f"{__name__}.{_module}")  # each module registers its converter


def _from_hub(benchmark: str, name: str, split: str | None, into: Path) -> Path:
    """Download the configs ``benchmark`` needs into ``into`` as JSON Lines files (needs the hub)."""
    try:
        import datasets
    except ImportError as err:
        raise UnlearnscopeError("hf: sources need the datasets library (pip install datasets)") from err
    configs = BENCHMARKS[benchmark].hub_configs(split)
    if not configs:
        raise UnlearnscopeError(
            f"{benchmark}: convert a local copy (its hub layout has one config per probe level); download it first"
        )
    for cfg in configs:
        try:
            ds = datasets.load_dataset(name, cfg)
        except Exception as err:  # noqa: BLE001 - offline, unknown name, missing config: all say the same to a user
            if benchmark == "tofu" and ("perturbed" in cfg or "holdout" in cfg):
                continue  # optional files
            raise UnlearnscopeError(
                f"cannot load {name!r} config {cfg!r} through the datasets library ({type(err).__name__}: {err}); "
                "without a reachable hub, download the benchmark's files and give their directory"
            ) from err
        for split_name, part in ds.items():
            target = into / (f"{cfg}.jsonl" if len(ds) == 1 or benchmark != "muse" else f"{cfg}/{split_name}.jsonl")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("\n".join(json.dumps(r) for r in part.to_list()))
    return into


def convert(
    benchmark: str,
    source: str | os.PathLike,
    *,
    split: str | None = None,
    retain: str | os.PathLike | None = None,
    subset: str | None = None,
) -> Converted:
    """``benchmark``'s files at ``source`` as target rows (see each converter's module doc);
    ``split`` / ``retain`` / ``subset``: the options the benchmark takes (`Benchmark.options`)."""
    b = BENCHMARKS[benchmark]
    options = ConvertOptions(split, Path(retain) if retain is not None else None, subset)
    wrong = [o for o in options.given() if o not in b.options]
    if wrong:
        takes = f"it takes {', '.join('--' + o for o in b.options)}" if b.options else "it takes none"
        raise UnlearnscopeError(f"{', '.join('--' + o for o in wrong)} does not apply to {b.name}; {takes}")
    src = str(source)
    if src.startswith("hf:"):
        import tempfile

        src = str(_from_hub(benchmark, src[3:], split, Path(tempfile.mkdtemp(prefix="unlearnscope-hub-"))))
    path = Path(src).expanduser()
    if not path.exists():
        raise UnlearnscopeError(f"{source}: no such file or directory (give the benchmark's files, or hf:OWNER/NAME)")
    out = b.convert(path, options)
    c = out.counts()
    if not c["n_forget"] or not c["n_retain"]:
        raise UnlearnscopeError(
            f"{source}: the {benchmark} files gave {c['n_forget']} forget and {c['n_retain']} retain items; a target "
            "needs both"
        )
    return out


def write_target(conv: Converted, out: str | os.PathLike) -> Path:
    """The rows as a JSON Lines target file, written atomically."""
    from ...results import write_text_atomic

    return write_text_atomic(out, "\n".join(json.dumps(r, ensure_ascii=False) for r in conv.rows) + "\n")


__all__ = ["BENCHMARKS", "Benchmark", "ConvertOptions", "Converted", "convert", "write_target"]
