"""The whole benchmark suite, one command: every benchmark in its own process, then a summary.

    python bench/run_all.py                  # full mode (CPU: ~30-40 min on one thread)
    python bench/run_all.py --smoke          # seconds per benchmark; for CI, no timing claims
    python bench/run_all.py --device cuda --dtype bfloat16 --only capture,memory
    python bench/run_all.py --device cuda --dtype bfloat16 --d-model 1024 --layers 12   # >= 100M parameters
    python bench/run_all.py --only scan --shape 1b --device cuda --dtype bfloat16         # 1B-shaped scan
    python bench/run_all.py --summary-only   # rebuild SUMMARY.md from the JSON already there

Writes ``bench/results/<device>/<bench>.json|.md`` (each benchmark) and ``SUMMARY.md``: the headline
ratio and bar of every benchmark, read back from its JSON, with its setup line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from harness import device_name  # noqa: E402

BENCHES = ("capture", "memory", "unlearn", "localize", "routing", "probes", "scan", "syncs", "scaling")
RESULT = {"unlearn": "unlearn_step"}  # result file stem when it differs from the bench name
SIZED = ("capture", "memory", "unlearn", "localize", "routing", "probes")  # take --d-model / --layers


def _fmt(x) -> str:
    return f"{x:.3g}" if isinstance(x, float) else str(x)


def headline(name: str, r: dict) -> list[str]:
    """Key numbers of one benchmark's JSON (whatever it reports as ratios / bars)."""
    out = []
    for key in ("ratios", "bar_met", "speedup_vs_sklearn", "accuracy_delta_vs_sklearn_points"):
        if isinstance(r.get(key), dict):
            out += [f"{k}: {_fmt(v)}" for k, v in r[key].items()]
    for key in (
        "throughput_ratio",
        "attribution_fwd_bwd_equivalents",
        "patching_over_attribution",
        "ratio_masked_over_unmasked",
    ):
        if key in r:
            out.append(f"{key}: {_fmt(r[key])}")
    if name == "syncs":
        for path, v in r.get("paths", {}).items():
            out.append(
                f"{path}: ours {v['1x']['ours']}→{v['2x']['ours']} when the {v['doubles']} double"
                + (" (per iteration by design)" if v.get("iterative") else "")
            )
    if name == "scaling":
        for tname, rows in r.get("tables", {}).items():
            key = "ratio" if "ratio" in rows[0] else "patching_over_attribution"
            out.append(f"{tname}: {key} " + ", ".join(f"{list(p['point'].values())}→{_fmt(p[key])}" for p in rows))
    return out


def result_stem(name: str, smoke: bool, size: str = "", shape: str | None = None) -> str:
    """The file stem a benchmark wrote (see `harness.result_name`; the scan names its shape)."""
    if smoke:
        return f"{RESULT.get(name, name)}_smoke"
    if name == "scan":
        return "scan" if shape in (None, "small") else f"scan_{shape}"
    return RESULT.get(name, name) + (size if name in SIZED else "")


def summarise(root: Path, device: str, smoke: bool, size: str = "", shape: str | None = None) -> Path:
    d = root / device_name(device)
    lines = [f"# Benchmark summary — {device_name(device)}{' (SMOKE: no timing claims)' if smoke else ''}{size}", ""]
    for name in BENCHES:
        path = d / f"{result_stem(name, smoke, size, shape)}.json"
        if not path.is_file():
            lines += [f"## {name}", "", "not run", ""]
            continue
        r = json.loads(path.read_text())
        lines += (
            [f"## {name}", "", r.get("setup", ""), ""]
            + [f"- {h}" for h in headline(name, r)]
            + ["", f"details: {path.with_suffix('.md').name}", ""]
        )
    out = d / ("SUMMARY_smoke.md" if smoke else f"SUMMARY{size}.md")
    d.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(BENCHES)}")
    p.add_argument("--out", default=None, help="results root (default bench/results)")
    p.add_argument("--summary-only", action="store_true")
    p.add_argument(
        "--d-model", type=int, default=None, help="model width for every benchmark (default: each one's own)"
    )
    p.add_argument("--layers", type=int, default=None, help="model depth for every benchmark (default: each one's own)")
    p.add_argument("--shape", default=None, help="bench_scan's model shape (small | 1b)")
    args = p.parse_args(argv)
    if (args.d_model is None) != (args.layers is None):
        p.error("give --d-model and --layers together (a sized run names its results after both)")
    names = args.only.split(",") if args.only else list(BENCHES)
    bad = [n for n in names if n not in BENCHES]
    if bad:
        p.error(f"unknown benchmarks {bad}; choose from {BENCHES}")
    root = Path(args.out) if args.out else HERE / "results"
    failed = []
    if not args.summary_only:
        for name in names:
            cmd = [
                sys.executable,
                str(HERE / f"bench_{name}.py"),
                "--device",
                args.device,
                "--dtype",
                args.dtype,
                "--threads",
                str(args.threads),
                "--out",
                str(root),
            ] + (["--smoke"] if args.smoke else [])
            if name in SIZED:
                cmd += [
                    x
                    for flag, v in (("--d-model", args.d_model), ("--layers", args.layers))
                    if v is not None
                    for x in (flag, str(v))
                ]
            if name == "scan" and args.shape:
                cmd += ["--shape", args.shape]
            t = time.perf_counter()
            done = subprocess.run(cmd, capture_output=True, text=True)
            print(
                f"[bench] {name}: {'ok' if done.returncode == 0 else 'FAILED'} in {time.perf_counter() - t:.0f} s",
                flush=True,
            )
            if done.returncode != 0:
                failed.append(name)
                print(done.stderr[-2000:], file=sys.stderr)
    size = f"_d{args.d_model}_l{args.layers}" if args.d_model is not None else ""
    print(summarise(root, args.device, args.smoke, size, args.shape))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
