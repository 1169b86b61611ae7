#!/usr/bin/env bash
# The GPU half of the benchmark suite as one prepared run: ~6-8 minutes on one
# H100/H200-class GPU.  Every step has its own time limit and a failed step does not stop the others;
# results (and the log) are packed into one archive at the end, whatever happened.
#
# On this CPU machine, once (the GPU image has torch, numpy, scikit-learn, huggingface-hub, but not
# our pinned transformers, tokenizers or plotly):
#     bash bench/gpu_wheels.sh                 # -> .whl/ (ignored by git; ~26 MiB)
# Then one device call (carry [".whl"], timeout_s 600):
#     python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl \
#       && PYTHONPATH=/tmp/site:src PY=python3 bash bench/gpu_check.sh
# It writes bench/results/<GPU name>/ and, where $OUT is set, $OUT/gpu_results.tgz and $OUT/gpu_check.log.
# A dry run of the script itself on a CPU machine:  GPU_CHECK_DEVICE=cpu GPU_CHECK_SMOKE=1 bash bench/gpu_check.sh
set -u
PY=${PY:-.venv/bin/python}
DEV=${GPU_CHECK_DEVICE:-cuda}
SMOKE=${GPU_CHECK_SMOKE:+--smoke}
DTYPE=bfloat16
[ "$DEV" = cpu ] && DTYPE=float32
LOG=${OUT:-/tmp}/gpu_check.log
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
: > "$LOG"

step() {  # step SECONDS NAME COMMAND...: run with a limit, log it, never stop the script
  local limit=$1 name=$2; shift 2
  local t0=$SECONDS
  echo "== $name" | tee -a "$LOG"
  timeout "$limit" "$@" >> "$LOG" 2>&1
  local rc=$?
  echo "== $name: rc=$rc in $((SECONDS - t0)) s" | tee -a "$LOG"
}

pack() {
  local dir
  dir=$($PY -c "import sys; sys.path.insert(0, 'bench'); from harness import device_name; print(device_name('$DEV'))" 2>/dev/null || echo unknown)
  [ -n "${OUT:-}" ] && tar czf "$OUT/gpu_results.tgz" -C bench/results "$dir" 2>/dev/null
  echo "results in bench/results/$dir" | tee -a "$LOG"
}
trap pack EXIT

step 20 "device" bash -c "nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv || true; $PY -c 'import torch, transformers; print(torch.__version__, transformers.__version__, torch.cuda.is_available())'"
step 120 "CUDA tests (same results as CPU)" env UNLEARNSCOPE_TEST_ALT_DEVICE=$DEV $PY -m pytest -q -p no:cacheprovider tests/test_cuda.py
# item 3: a >= 100M-parameter model (GPT-2-shaped d1024 x 12 layers: ~150M) in bf16
for b in capture unlearn localize routing; do
  step 90 "$b d1024 l12 $DTYPE" $PY bench/bench_$b.py --device "$DEV" --dtype "$DTYPE" --d-model 1024 --layers 12 $SMOKE
done
step 120 "memory d1024 l12 $DTYPE" $PY bench/bench_memory.py --device "$DEV" --dtype "$DTYPE" --d-model 1024 --layers 12 $SMOKE
step 60 "host reads / copies on hot paths (profiler)" $PY bench/bench_syncs.py --device "$DEV" $SMOKE
step 90 "concept scan, GPT-2-small shape" $PY bench/bench_scan.py --device "$DEV" --dtype "$DTYPE" --shape small $SMOKE
# item 4: 1B-parameter-shaped scan and probes
step 120 "concept scan, 1B shape" $PY bench/bench_scan.py --device "$DEV" --dtype "$DTYPE" --shape 1b $SMOKE
step 150 "probes, 1B-shaped activations (d2048, 17 depths)" $PY bench/bench_probes.py --device "$DEV" --d-model 2048 --layers 16 --rounds 3 --threads 16 $SMOKE
step 60 "scaling (capture / patching / routing)" $PY bench/bench_scaling.py --device "$DEV" --dtype "$DTYPE" --rounds 3 $SMOKE
step 30 "summary" $PY bench/run_all.py --device "$DEV" --summary-only --d-model 1024 --layers 12 $SMOKE
