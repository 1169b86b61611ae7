"""Stage timings and peak memory: what each audit stage cost, for the report's provenance and
`bench/bench_audit.py`.

    log = StageClock(print_to_stderr)
    stage(log, "localize on ORIG")      # `plan.stage` starts a stage on a clock it is given
    ...
    log.finish(); log.stages             # [{"stage", "seconds", "peak_rss_mib", "peak_cuda_mib"}, ...]

A stage runs from its ``stage`` line to the next one.  Peak resident memory is the process's
high-water mark (Linux ``VmHWM``, reset at each stage through ``/proc/self/clear_refs``; elsewhere
the running peak); peak CUDA memory is torch's allocator peak, reset likewise.
"""

from __future__ import annotations

import time
from pathlib import Path

_STATUS, _CLEAR = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def _peak_rss_mib() -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    except (ImportError, OSError):
        return None


def _reset_peaks() -> None:
    try:
        _CLEAR.write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        pass
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def _peak_cuda_mib() -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None


class StageClock:
    """A log function (messages pass through to ``log``) that also times the stages `plan.stage`
    announces on it."""

    def __init__(self, log):
        self.log, self.stages, self._open = log, [], None

    def __call__(self, message: str) -> None:
        self.log(message)

    def begin(self, name: str) -> None:
        self.finish()
        _reset_peaks()
        self._open = (name, time.perf_counter())

    def finish(self) -> None:
        if self._open is None:
            return
        name, t0 = self._open
        rss, cuda = _peak_rss_mib(), _peak_cuda_mib()
        self.stages.append(
            {
                "stage": name,
                "seconds": round(time.perf_counter() - t0, 2),
                "peak_rss_mib": None if rss is None else round(rss, 1),
                "peak_cuda_mib": None if cuda is None else round(cuda, 1),
            }
        )
        self._open = None

    def total(self) -> float:
        return round(sum(s["seconds"] for s in self.stages), 2)
