"""Routing statistics throughput vs a plain forward (bar: stats >= 0.9x plain throughput).

    python bench/bench_routing.py            # Mixtral-shaped 4L d512, 8 experts top-2, batch 16 x 128, CPU, 1 thread
    python bench/bench_routing.py --smoke

Arms, over the same batches (the same padding):
* ``plain``: ``model(**batch)`` under no_grad for every batch.
* ``routing_stats``: `routing_stats` over the same texts' batches (router hooks on every MoE layer;
  frequency, UOE affinity, full-softmax mean, entropy accumulated on the device).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
warnings.filterwarnings("ignore")

from harness import device_name, measure, parse_args, result_name, write  # noqa: E402


def build_moe(args, *, n_experts: int = 8, n_batches: int = 4):
    """A Mixtral-shaped random model and right-padded batches of random tokens: ``(subject, enc, batches)``."""
    from transformers import MixtralConfig, MixtralForCausalLM

    import unlearnscope as us

    cfg = MixtralConfig(
        vocab_size=512,
        hidden_size=args.d_model,
        intermediate_size=2 * args.d_model,
        num_hidden_layers=args.layers,
        num_attention_heads=max(1, args.d_model // 64),
        num_key_value_heads=max(1, args.d_model // 64),
        num_local_experts=n_experts,
        num_experts_per_tok=2,
        max_position_embeddings=max(128, args.seq),
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )
    torch.manual_seed(0)
    model = MixtralForCausalLM(cfg).to(args.device, getattr(torch, args.dtype)).eval()
    ids = torch.randint(1, 512, (n_batches * args.batch, args.seq), device=args.device)
    lengths = torch.randint(args.seq // 2, args.seq + 1, (len(ids),), device=args.device)
    mask = (torch.arange(args.seq, device=args.device)[None] < lengths[:, None]).long()
    enc = {"input_ids": ids * mask, "attention_mask": mask}
    batches = [{k: v[s : s + args.batch] for k, v in enc.items()} for s in range(0, len(ids), args.batch)]
    batches = [{k: v[:, : int(b["attention_mask"].sum(1).max())] for k, v in b.items()} for b in batches]
    return us.load(model), enc, batches


def main(argv=None):
    args = parse_args(argv, batch=16, seq=128, rounds=7, smoke_batch=2)
    if not args.smoke and not args.layers_given:
        args.layers = 4
    from unlearnscope.localize.experts import routing_stats

    n_batches = 4
    subject, enc, batches = build_moe(args, n_experts=8, n_batches=n_batches)
    model = subject.model
    mask = enc["attention_mask"]

    def plain():
        with torch.no_grad():
            for b in batches:
                model(**b)

    def stats():
        routing_stats(subject, enc, batch_size=args.batch)

    res = measure({"plain": plain, "routing_stats": stats}, warmup=1, rounds=args.rounds, device=args.device)
    n_tok = int(mask.sum())
    for v in res.values():
        v["tokens_per_s"] = n_tok / (v["median_ms"] / 1e3)
    ratio = res["routing_stats"]["tokens_per_s"] / res["plain"]["tokens_per_s"]
    results = {
        "setup": f"Mixtral-shaped {args.layers}L d_model={args.d_model}, 8 experts top-2, {n_batches} batches of "
        f"{args.batch} x <= {args.seq} "
        f"({n_tok} tokens, right padding), {args.dtype}, {device_name(args.device)}, threads {args.threads}, "
        f"{args.rounds} interleaved rounds" + (" (SMOKE)" if args.smoke else ""),
        "arms": res,
        "throughput_ratio": ratio,
        "bar_met": {"routing stats >= 0.9x plain throughput": ratio >= 0.9},
        "smoke": args.smoke,
    }
    rows = [
        (
            k,
            f"{v['median_ms']:.1f}",
            f"{v['tokens_per_s']:.0f}",
            f"{v['tokens_per_s'] / res['plain']['tokens_per_s']:.3f}",
        )
        for k, v in res.items()
    ]
    out = write(
        results,
        result_name("routing", args),
        args.device,
        rows,
        ("arm", "median ms", "tokens/s", "x plain"),
        root=args.out,
    )
    print(json.dumps({"throughput_ratio": ratio, "bar_met": results["bar_met"]}))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
