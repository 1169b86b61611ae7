"""``make typecheck``: mypy on ``src/`` against a baseline that may only shrink.

``tools/mypy-baseline.json`` holds the number of mypy errors per file when the type checker was
introduced.  A file with more errors than its baseline (or a file that had none and has some now)
fails; a file with fewer prints a reminder to lower its count (``--update`` writes the new counts,
which may only be lower; it writes the first baseline when there is none).  New code is therefore
fully typed, and old code only gets better.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "tools" / "mypy-baseline.json"


def errors_per_file() -> Counter:
    out = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary"], cwd=ROOT, capture_output=True, text=True)
    counts: Counter = Counter()
    for line in out.stdout.splitlines():
        m = re.match(r"^(src/[^:]+\.py):\d+: error:", line)
        if m:
            counts[m.group(1)] += 1
    if out.returncode not in (0, 1) or (out.returncode == 1 and not counts):
        sys.exit(f"mypy did not run: {out.stdout[-2000:]}{out.stderr[-2000:]}")
    return counts


def main() -> int:
    now = errors_per_file()
    base = Counter(json.loads(BASELINE.read_text())) if BASELINE.is_file() else Counter()
    worse = {f: (base.get(f, 0), n) for f, n in now.items() if n > base.get(f, 0)}
    better = {f: (n, now.get(f, 0)) for f, n in base.items() if now.get(f, 0) < n}
    if "--update" in sys.argv:
        if worse and BASELINE.is_file():
            print(f"not updating: {len(worse)} files got worse")
        else:
            BASELINE.write_text(json.dumps(dict(sorted(now.items())), indent=1) + "\n")
            print(f"baseline: {sum(now.values())} errors in {len(now)} files")
            return 0
    for f, (was, n) in sorted(worse.items()):
        print(f"{f}: {n} mypy errors, baseline {was} — type the new code (mypy {f})")
    for f, (was, n) in sorted(better.items()):
        print(f"{f}: {n} errors, baseline {was}: lower it (python tools/typecheck.py --update)")
    print(f"mypy: {sum(now.values())} errors in {len(now)} files (baseline {sum(base.values())})")
    return 1 if worse else 0


if __name__ == "__main__":
    sys.exit(main())
