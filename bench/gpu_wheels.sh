#!/usr/bin/env bash
# Wheels the GPU image lacks (our pinned transformers, tokenizers, plotly), for Python 3.12 x86-64,
# into .whl/ (git-ignored), so one device call can install them offline (see bench/gpu_check.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qxF '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
pins=$(grep -iE '^(transformers|tokenizers|plotly)==' requirements.lock)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl $pins
ls -l .whl
