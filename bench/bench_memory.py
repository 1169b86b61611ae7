"""Peak memory of capturing one hook over a long batch vs a full TransformerLens cache.

    python bench/bench_memory.py            # GPT-2-shaped 8L d512, batch 4 x 512 tokens, fp32, CPU
    python bench/bench_memory.py --smoke
    python bench/bench_memory.py --device cuda --dtype bfloat16

Every arm runs in its own fresh process (peaks do not leak between arms) and reports the growth of
peak memory over the process's level after the model is loaded: CPU, the high-water mark of the
resident set (VmHWM, reset through /proc/self/clear_refs); CUDA, ``max_memory_allocated``.
Arms: ``plain`` (HF forward, no_grad), ``ours_1`` (`capture` of one residual hook, the rest of the
forward untouched), ``tl_1`` (TL bridge ``run_with_cache(names_filter=[one])``), ``tl_full``
(``run_with_cache`` with every hook: what a notebook user gets by default).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
warnings.filterwarnings("ignore")

from bench_capture import build  # noqa: E402
from harness import device_name, have, parse_args, peak_growth, result_name, write  # noqa: E402

ARMS = ("plain", "ours_1", "tl_1", "tl_full")


def _extra(p):
    p.add_argument("--arm", default=None, help="internal: run one arm in this process and print its peak growth")


def run_arm(args) -> dict:
    import unlearnscope as us

    subject, tok = build(args)
    hook = f"blocks.{args.layers // 2}.hook_resid_post"
    ids = torch.randint(1, len(tok), (args.batch, args.seq), device=args.device)
    model = subject.model
    if args.arm.startswith("tl"):
        from unlearnscope.model.backends.transformer_lens import to_bridge

        bridge = to_bridge(subject)

    def unique_bytes(tensors) -> int:  # a cache may hold views of one storage (aliases): count each storage once
        seen = {}
        for v in tensors:
            st = v.untyped_storage()
            seen[st.data_ptr()] = st.nbytes()
        return sum(seen.values())

    kept = 0
    with peak_growth(args.device) as peak, torch.no_grad():
        if args.arm == "plain":
            out = model(input_ids=ids)
        elif args.arm == "ours_1":
            with us.capture(subject, [hook]) as cache:
                out = model(input_ids=ids)
            kept = unique_bytes([cache[hook]])
        else:
            out, cache = bridge.run_with_cache(ids, names_filter=[hook] if args.arm == "tl_1" else None)
            kept = unique_bytes(cache.values())
    growth = peak["bytes"]
    logits = out.logits if hasattr(out, "logits") else out
    return {
        "peak_growth_bytes": int(growth),
        "kept_bytes": int(kept),
        "logits_bytes": int(logits.numel() * logits.element_size()),
    }


def main(argv=None):
    args = parse_args(argv, batch=4, seq=512, rounds=1, smoke_batch=1, extra=_extra)
    if args.smoke:
        args.seq = 64
    if args.arm:
        print(json.dumps(run_arm(args)))
        return
    res = {}
    passthrough = [
        "--device",
        args.device,
        "--dtype",
        args.dtype,
        "--d-model",
        str(args.d_model),
        "--layers",
        str(args.layers),
        "--batch",
        str(args.batch),
        "--seq",
        str(args.seq),
        "--threads",
        str(args.threads),
    ] + (["--smoke"] if args.smoke else [])
    repeats = 1 if args.smoke else 3
    arms = [a for a in ARMS if not a.startswith("tl") or have("transformer_lens")]
    for _ in range(repeats):  # interleaved fresh processes; the median per arm (allocator peaks vary run to run)
        for arm in arms:
            done = subprocess.run(
                [sys.executable, __file__, "--arm", arm, *passthrough], capture_output=True, text=True, check=True
            )
            res.setdefault(arm, []).append(json.loads(done.stdout.strip().splitlines()[-1]))
    res = {
        arm: {
            **runs[0],
            "peak_growth_bytes": int(statistics.median(r["peak_growth_bytes"] for r in runs)),
            "peak_growth_runs": [r["peak_growth_bytes"] for r in runs],
        }
        for arm, runs in res.items()
    }
    mib = lambda b: b / 2**20
    ratios = {"ours_1_over_plain": res["ours_1"]["peak_growth_bytes"] / max(1, res["plain"]["peak_growth_bytes"])}
    for arm in ("tl_full", "tl_1"):
        if arm in res:
            ratios[f"{arm}_over_ours_1"] = res[arm]["peak_growth_bytes"] / max(1, res["ours_1"]["peak_growth_bytes"])
    setup = (
        f"GPT-2-shaped {args.layers}L d_model={args.d_model}, batch {args.batch} x {args.seq} tokens, {args.dtype}, "
        f"{device_name(args.device)}, threads {args.threads}; one fresh process per arm and run, median of "
        f"{1 if args.smoke else 3} interleaved runs" + (" (SMOKE: no claims)" if args.smoke else "")
    )
    results = {"setup": setup, "arms": res, "ratios": ratios, "smoke": args.smoke}
    rows = [
        (
            k,
            f"{mib(v['peak_growth_bytes']):.1f}",
            f"{mib(v['kept_bytes']):.1f}",
            f"{v['peak_growth_bytes'] / max(1, res['plain']['peak_growth_bytes']):.2f}",
        )
        for k, v in res.items()
    ]
    out = write(
        results,
        result_name("memory", args),
        args.device,
        rows,
        ("arm", "peak growth MiB", "kept activations MiB", "x plain forward"),
        root=args.out,
    )
    print(json.dumps(ratios))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
