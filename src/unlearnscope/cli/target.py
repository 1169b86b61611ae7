"""``unlearnscope target BENCHMARK SOURCE --out target.jsonl``: a benchmark's own files as the
audit's target file (the registered converters: `data.benchmarks.BENCHMARKS`).

    unlearnscope target tofu data/TOFU --split 10 --out tofu10.jsonl --json
    unlearnscope target wmdp data/wmdp --subset wmdp-bio --retain data/mmlu --out wmdp-bio.jsonl
    unlearnscope target rwku data/RWKU/Target/1_Stephen_King --out king.jsonl
    unlearnscope target muse hf:muse-bench/MUSE-News --out news.jsonl       # needs a reachable hub

Exit codes: 0 written, 2 bad input (unknown benchmark, missing or malformed file: the record is
named; an unwritable --out), 1 other errors.
"""

from __future__ import annotations

import typer

from .common import emit, handle_errors


def benchmark_help() -> str:
    from ..data.benchmarks import BENCHMARKS

    return " | ".join(f"{b.name} ({b.description})" for b in BENCHMARKS)


@handle_errors
def target(
    benchmark: str = typer.Argument(..., help=benchmark_help()),
    source: str = typer.Argument(
        ..., help="the benchmark's files (directory or file, its published layout) or hf:OWNER/NAME"
    ),
    out: str = typer.Option(..., "--out", help="target file to write (JSON Lines)"),
    split: str = typer.Option(
        None, "--split", help="TOFU: forget split 01 | 05 | 10 (default 10; retained: 99 | 95 | 90)"
    ),
    retain: str = typer.Option(None, "--retain", help="WMDP: retain questions in the MMLU layout (file or directory)"),
    subset: str = typer.Option(None, "--subset", help="WMDP: wmdp-bio | wmdp-chem | wmdp-cyber (default all found)"),
    as_json: bool = typer.Option(False, "--json", help='print {"target", "n_forget", "n_retain", "kinds"} on stdout'),
) -> None:
    """Convert a benchmark's files into a target file for `unlearnscope audit --target`."""
    from pathlib import Path

    from ..data.benchmarks import convert, write_target
    from ..results import check_writable_file

    check_writable_file(Path(out))  # before reading anything large
    conv = convert(benchmark, source, split=split, retain=retain, subset=subset)
    path = write_target(conv, out)
    c = conv.counts()
    payload = {"target": str(path), "n_forget": c["n_forget"], "n_retain": c["n_retain"], "kinds": c["kinds"]}
    if not as_json:
        payload.update(n_holdout=c["n_holdout"], notes=conv.notes)
    emit(payload, as_json)
