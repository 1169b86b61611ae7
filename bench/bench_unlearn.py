"""Masked vs unmasked unlearning step (bar: masked <= 1.2x unmasked, same model and batch).

    python bench/bench_unlearn.py            # GPT-2-shaped 8L d512, batch 8 x 64 tokens, CPU, 1 thread
    python bench/bench_unlearn.py --smoke

Arms (one GradAscent step = forward, backward, AdamW step, each arm's own bookkeeping):
* ``unmasked``: every parameter trained, no masks.
* ``masked``: every parameter trained except half of each layer's value vectors and one attention
  head per layer — partial masks on 16 tensors (gradient hooks, masked decay, exact restore).
* ``masked_small``: only the MLP of one layer (whole tensors: no hooks, far fewer trained entries).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
warnings.filterwarnings("ignore")

from harness import device_name, parse_args, result_name, write  # noqa: E402


def masked_ga_step(subject, ctx, opt, ids, mask) -> None:
    """One GradAscent step inside ``MaskedParams`` ``ctx``: forward, backward, AdamW, masked
    decay, restore outside the mask (what the unlearning trainer does per step)."""
    from unlearnscope.ablate import losses as L

    loss = -L.nll(subject.model(input_ids=ids).logits, ids, mask)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    ctx.decay(1e-5, 0.01)
    ctx.restore_outside()


def main(argv=None):
    args = parse_args(argv, batch=8, seq=64, rounds=15, smoke_batch=2)

    from transformers import GPT2Config, GPT2LMHeadModel

    import unlearnscope as us
    from unlearnscope.ablate import ComponentSet
    from unlearnscope.ablate.masking import MaskedParams
    from unlearnscope.model.tiny import tiny_tokenizer

    tok = tiny_tokenizer()
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_positions=max(64, args.seq),
        n_ctx=max(64, args.seq),
        n_embd=args.d_model,
        n_layer=args.layers,
        n_head=max(1, args.d_model // 64),
        resid_pdrop=0,
        embd_pdrop=0,
        attn_pdrop=0,
        bos_token_id=0,
        eos_token_id=0,
    )
    torch.manual_seed(0)
    subject = us.load(GPT2LMHeadModel(cfg).to(args.device), tok)
    ids = torch.randint(1, len(tok), (args.batch, args.seq), device=args.device)
    mask = torch.ones_like(ids)
    d_mlp = subject.anatomy.d_mlp
    everything = ComponentSet.parse(subject, r"re:.")
    holes = ComponentSet.parse(
        subject, " ".join(f"blocks.{l}.mlp.value:0-{d_mlp // 2 - 1} blocks.{l}.attn.head:0" for l in range(args.layers))
    )
    sets = {
        "unmasked": None,
        "masked": everything - holes,
        "masked_small": ComponentSet.parse(subject, f"blocks.{args.layers // 2}.mlp"),
    }

    import random
    import statistics
    import time

    def block(cs, n_steps):
        """Enter the arm's masks once, warm up one step, time ``n_steps`` steps (ms each)."""
        with MaskedParams(subject, cs) as ctx:
            opt = torch.optim.AdamW(list(ctx.params.values()), lr=1e-5, weight_decay=0.0)
            times = []
            for i in range(n_steps + 1):
                t = time.perf_counter()
                masked_ga_step(subject, ctx, opt, ids, mask)
                if i:
                    times.append((time.perf_counter() - t) * 1e3)
        return times

    snapshot = {k: v.clone() for k, v in subject.model.state_dict().items()}
    times = {k: [] for k in sets}
    rng = random.Random(0)
    names = list(sets)
    for _ in range(args.rounds):  # interleaved blocks, shuffled order
        rng.shuffle(names)
        for name in names:
            times[name] += block(sets[name], 3)
            subject.model.load_state_dict(snapshot)
    res = {k: {"median_ms": statistics.median(v), "min_ms": min(v), "n": len(v)} for k, v in times.items()}
    base = res["unmasked"]["median_ms"]
    for v in res.values():
        v["x_unmasked"] = v["median_ms"] / base
    trained = {
        k: (cs.n_params if cs is not None else sum(p.numel() for p in subject.model.parameters()))
        for k, cs in sets.items()
    }
    results = {
        "setup": f"GPT-2-shaped {args.layers}L d_model={args.d_model}, batch {args.batch} x {args.seq}, fp32, "
        f"{device_name(args.device)}, "
        f"threads {args.threads}, {args.rounds} interleaved blocks of 3 timed steps; one GradAscent step = forward, "
        "backward, AdamW, masked decay, restore" + (" (SMOKE)" if args.smoke else ""),
        "arms": res,
        "trained_params": trained,
        "ratio_masked_over_unmasked": res["masked"]["x_unmasked"],
        "bar_met": {"masked <= 1.2x unmasked": res["masked"]["x_unmasked"] <= 1.2},
        "smoke": args.smoke,
    }
    rows = [(k, f"{v['median_ms']:.1f}", f"{v['x_unmasked']:.3f}", str(trained[k])) for k, v in res.items()]
    out = write(
        results,
        result_name("unlearn_step", args),
        args.device,
        rows,
        ("arm", "median ms", "x unmasked", "trained params"),
        root=args.out,
    )
    print(
        json.dumps({"ratio_masked_over_unmasked": results["ratio_masked_over_unmasked"], "bar_met": results["bar_met"]})
    )
    print(f"written to {out}")


if __name__ == "__main__":
    main()
