"""Concept-vector scan throughput against the device's measured matmul throughput (bar on
GPU: the scan at >= 50 % of measured bf16 matmul throughput), and its peak memory.

    python bench/bench_scan.py                                   # GPT-2-small-shaped (124M), CPU fp32, 1 thread
    python bench/bench_scan.py --shape 1b --device cuda --dtype bfloat16
    python bench/bench_scan.py --smoke

A scan that projects every value vector onto the vocabulary costs one ``[n_vectors, d_model] x
[d_model, d_vocab]`` matmul (2·N·d·V flops); ours (`concept_scores`) never forms those logits and
costs about 2·(N + V)·d² flops (module doc of `localize.concepts`).  Arms:
* ``matmul``: square ``[n, n] x [n, n]`` matmuls in the bench dtype — the device's measured peak;
* ``projection``: the projection of ``--proj-vectors`` value vectors onto W_U (the work of a
  projecting scan, without any of its reductions), extrapolated linearly to all N vectors;
* ``scan``: `scan_concept` on the whole model (scores, layer maxima, top-20 with hits and tokens).
Reported: each arm's FLOP rate as a fraction of ``matmul``; ``scan_equivalent_fraction`` =
(2·N·d·V / scan time) / matmul rate — the projection work the scan stands for, per second, as a
fraction of the device's matmul throughput (the bar: >= 0.5); ``scan_own_fraction`` = the scan's
own flops per second / matmul rate (how efficiently it does what it does); peak memory growth.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
warnings.filterwarnings("ignore")

from harness import device_name, measure, parse_args, peak_growth, write  # noqa: E402

SHAPES = {  # d_model, layers, d_mlp, vocab (Llama-style gated MLP, untied unembedding)
    "small": (768, 12, 3072, 50257),  # GPT-2-small-shaped: 124M-parameter class
    "1b": (2048, 16, 8192, 128256),  # Llama-3.2-1B-shaped: 1.2B parameters
}


def _extra(p):
    p.add_argument("--shape", choices=sorted(SHAPES), default="small")
    p.add_argument("--proj-vectors", type=int, default=4096, help="value vectors the projection arm runs on")
    p.add_argument("--matmul-n", type=int, default=None, help="square matmul size (default 2048 CPU, 8192 GPU)")


def build_model(args):
    """A random-weight Llama-shaped model of ``args.shape`` in ``args.dtype`` on ``args.device``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    import unlearnscope as us

    d, layers, d_mlp, vocab = SHAPES[args.shape] if not args.smoke else (64, 2, 256, 1000)
    cfg = LlamaConfig(
        hidden_size=d,
        num_hidden_layers=layers,
        intermediate_size=d_mlp,
        vocab_size=vocab,
        num_attention_heads=max(1, d // 64),
        num_key_value_heads=max(1, d // 256),
        tie_word_embeddings=False,
    )
    dtype = getattr(torch, args.dtype)
    with torch.device(args.device):
        model = LlamaForCausalLM._from_config(cfg, torch_dtype=dtype).eval()
    return us.load(model)


def main(argv=None):
    args = parse_args(argv, batch=1, seq=1, rounds=5, smoke_batch=1, extra=_extra)
    from unlearnscope.localize.concepts import scan_concept

    if args.smoke:
        args.proj_vectors, args.matmul_n = 256, args.matmul_n or 256
    n_mm = args.matmul_n or (8192 if args.device.startswith("cuda") else 2048)
    dtype = getattr(torch, args.dtype)
    subject = build_model(args)
    a = subject.anatomy
    d, V = a.d_model, a.d_vocab
    N = a.n_layers * a.d_mlp
    n_params = sum(p.numel() for p in subject.model.parameters())
    W_U = a.unembed
    P = min(args.proj_vectors, a.d_mlp)
    proj_vectors = a.values(0)[:P]
    lex = list(range(100, 120))
    A, B = (
        torch.randn(n_mm, n_mm, device=args.device, dtype=dtype),
        torch.randn(n_mm, n_mm, device=args.device, dtype=dtype),
    )

    arms = {
        "matmul": lambda: A @ B,
        "projection": lambda: proj_vectors @ W_U.T,
        "scan": lambda: scan_concept(subject, lex),
    }
    res = measure(arms, warmup=1, rounds=args.rounds, device=args.device)
    t = {k: v["median_ms"] / 1e3 for k, v in res.items()}
    peak = 2 * n_mm**3 / t["matmul"]
    proj_rate = 2 * P * d * V / t["projection"]
    scan_equiv = 2 * N * d * V / t["scan"]
    scan_flops = 2 * (N + V) * d * d + 2 * 20 * d * V
    with peak_growth(args.device) as mem:
        scan_concept(subject, lex)
    grown = mem["bytes"]
    weights = sum(p.numel() * p.element_size() for p in subject.model.parameters())
    results = {
        "setup": (
            f"Llama-shaped {args.shape if not args.smoke else 'smoke'} ({n_params / 1e6:.0f}M parameters: d_model={d}, "
            f"{a.n_layers}L, d_mlp={a.d_mlp}, "
            f"vocab {V}), {args.dtype}, {device_name(args.device)}, threads {args.threads}, {args.rounds} interleaved "
            "rounds"
        ),
        "shape": {
            "d_model": d,
            "layers": a.n_layers,
            "d_mlp": a.d_mlp,
            "vocab": V,
            "n_vectors": N,
            "n_params": n_params,
        },
        "arms": res,
        "matmul_tflops": peak / 1e12,
        "projection_tflops": proj_rate / 1e12,
        "scan_seconds": t["scan"],
        "projection_seconds_all_vectors": t["projection"] * N / P,
        "ratios": {
            "projection_fraction_of_matmul": proj_rate / peak,
            "scan_equivalent_fraction": scan_equiv / peak,
            "scan_own_fraction": scan_flops / t["scan"] / peak,
            "scan_speedup_over_projection": t["projection"] * N / P / t["scan"],
        },
        "bar_met": {"scan >= 0.5x matmul throughput": scan_equiv / peak >= 0.5},
        "memory": {"peak_growth_bytes": grown, "weights_bytes": weights, "all_logits_bytes_fp32": N * V * 4},
    }
    name = "scan_smoke" if args.smoke else ("scan" if args.shape == "small" else f"scan_{args.shape}")
    rows = [
        ("matmul", f"{n_mm}³", f"{res['matmul']['median_ms']:.2f}", f"{peak / 1e12:.3f}", "1.00"),
        (
            "projection",
            f"{P} vectors",
            f"{res['projection']['median_ms']:.2f}",
            f"{proj_rate / 1e12:.3f}",
            f"{proj_rate / peak:.2f}",
        ),
        (
            "scan (equivalent)",
            f"{N} vectors",
            f"{res['scan']['median_ms']:.1f}",
            f"{scan_equiv / 1e12:.3f}",
            f"{scan_equiv / peak:.2f}",
        ),
        (
            "scan (own flops)",
            f"{N} vectors",
            f"{res['scan']['median_ms']:.1f}",
            f"{scan_flops / t['scan'] / 1e12:.3f}",
            f"{scan_flops / t['scan'] / peak:.2f}",
        ),
        ("scan peak memory growth", f"{grown / 2**20:.1f} MiB", "", "", f"all logits fp32 {N * V * 4 / 2**30:.1f} GiB"),
    ]
    out = write(
        results,
        name,
        args.device,
        rows,
        ("arm", "work", "median ms", "TFLOP/s", "x matmul"),
        Path(args.out) if args.out else None,
    )
    print(out / f"{name}.md")
    print((out / f"{name}.md").read_text())


if __name__ == "__main__":
    main()
