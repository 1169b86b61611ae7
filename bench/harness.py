"""Tiny benchmark harness: interleaved rounds after warm-up, medians and ratios to a baseline.

Every arm runs the same work in the same process; rounds interleave the arms (in a shuffled
order) so drift on a noisy machine hits them alike.  Results are JSON + a markdown table under bench/results/<device>/.
"""

from __future__ import annotations

import json
import platform
import random
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch


def device_name(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device)).replace(" ", "-")
    return f"cpu-{platform.machine()}"


def parse_args(argv, *, batch: int, seq: int, rounds: int, smoke_batch: int, extra=None):
    """The options every benchmark shares (GPT-2-shaped model size, device, threads, output);
    ``--smoke`` shrinks everything to seconds.  Sets torch's thread count."""
    import argparse

    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true", help="seconds-long run for CI; no timing claims")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--d-model", type=int, default=None, help="model width (default 512, or the benchmark's own)")
    p.add_argument("--layers", type=int, default=None, help="model depth (default 8, or the benchmark's own)")
    p.add_argument("--batch", type=int, default=batch)
    p.add_argument("--seq", type=int, default=seq)
    p.add_argument("--rounds", type=int, default=rounds)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=None, help="results root (default bench/results)")
    if extra:
        extra(p)
    args = p.parse_args(argv)
    args.d_model_given, args.layers_given = args.d_model is not None, args.layers is not None
    args.sized = args.d_model_given or args.layers_given  # results then carry the size in their name
    args.d_model = args.d_model if args.d_model is not None else 512
    args.layers = args.layers if args.layers is not None else 8
    if args.smoke:
        args.d_model, args.layers, args.batch, args.seq, args.rounds = 64, 2, smoke_batch, 16, 3
    torch.set_num_threads(args.threads)
    return args


def with_args(args, **changes):
    """A copy of parsed ``args`` with some values changed (a benchmark point, a smaller model)."""
    from argparse import Namespace

    return Namespace(**{**vars(args), **changes})


def have(module: str) -> bool:
    """Whether a peer library is importable (a GPU image may lack TransformerLens / nnsight: their
    arms are then skipped and the results say so).  ``UNLEARNSCOPE_BENCH_WITHOUT=a,b`` pretends
    those are missing (how the tests check the GPU image's path on a machine that has them)."""
    import importlib.util
    import os

    if module in os.environ.get("UNLEARNSCOPE_BENCH_WITHOUT", "").split(","):
        return False
    return importlib.util.find_spec(module) is not None


def result_name(base: str, args) -> str:
    """``base``, ``base_smoke``, or ``base_d{d_model}_l{layers}`` when the size was given explicitly
    (so a sized run never overwrites the default-size results)."""
    if args.smoke:
        return f"{base}_smoke"
    return f"{base}_d{args.d_model}_l{args.layers}" if args.sized else base


def peak_rss_bytes() -> int:
    """This process's peak resident set (VmHWM), bytes; -1 where /proc is missing."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return -1


def reset_peak_rss() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


@contextmanager
def peak_growth(device: str):
    """``with peak_growth(dev) as peak: ...`` then ``peak["bytes"]``: how far memory peaked above
    its level at entry (CUDA: the allocator's peak; CPU: this process's VmHWM after a reset)."""
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        reset_peak_rss()
        base = peak_rss_bytes()
    out: dict[str, int] = {}
    yield out
    if cuda:
        torch.cuda.synchronize()
        out["bytes"] = torch.cuda.max_memory_allocated() - base
    else:
        out["bytes"] = peak_rss_bytes() - base


def measure(arms: dict[str, Callable[[], object]], *, warmup: int, rounds: int, device: str = "cpu") -> dict[str, dict]:
    """Median wall time (ms) per arm over interleaved rounds; the arms' order is shuffled every
    round (seeded), so allocator and cache state left by one arm does not always hit the same next one."""
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    for fn in arms.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in arms}
    rng = random.Random(0)
    names = list(arms)
    for _ in range(rounds):
        rng.shuffle(names)
        for name in names:
            fn = arms[name]
            sync()
            t = time.perf_counter()
            fn()
            sync()
            times[name].append((time.perf_counter() - t) * 1e3)
    return {k: {"median_ms": statistics.median(v), "min_ms": min(v), "n": len(v)} for k, v in times.items()}


def write(
    results: dict,
    name: str,
    device: str,
    table_rows: list[tuple[str, ...]],
    header: tuple[str, ...],
    root: Path | None = None,
) -> Path:
    out = Path(root or Path(__file__).parent / "results") / device_name(device)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=2))
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows]
    (out / f"{name}.md").write_text(f"# {name}\n\n{results.get('setup', '')}\n\n" + "\n".join(lines) + "\n")
    return out
