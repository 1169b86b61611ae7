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
from pathlib import Path

import torch


def device_name(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device)).replace(" ", "-")
    return f"cpu-{platform.machine()}"


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


def write(results: dict, name: str, device: str, table_rows: list[tuple[str, ...]], header: tuple[str, ...], root: Path | None = None) -> Path:
    out = Path(root or Path(__file__).parent / "results") / device_name(device)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=2))
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows]
    (out / f"{name}.md").write_text(f"# {name}\n\n{results.get('setup', '')}\n\n" + "\n".join(lines) + "\n")
    return out
