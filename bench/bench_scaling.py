"""How cost grows with sequence length, batch, layers and experts, one table per benchmark.

    python bench/bench_scaling.py            # CPU, 1 thread: GPT-2 / Mixtral-shaped random models, d_model 256
    python bench/bench_scaling.py --smoke    # two points per sweep, seconds

* capture: plain HF forward vs `capture` of 20 hooks (ms, ratio), over seq, batch and layers;
* patching: one forward+backward, attribution patching and the activation-patching sweep (ms, and
  both in forward+backward equivalents), over layers and the number of facts;
* routing: `routing_stats` vs a plain forward (tokens/s, ratio), over experts and seq.
Every point is its own interleaved measurement (the harness), so ratios are within one run.
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
warnings.filterwarnings("ignore")

from harness import device_name, measure, parse_args, result_name, with_args, write  # noqa: E402

FULL = {
    "capture": {"seq": [64, 128, 256, 512], "batch": [1, 4, 16], "layers": [2, 4, 8, 16]},
    "patching": {"layers": [2, 4, 8], "facts": [16, 64]},
    "routing": {"experts": [4, 8, 16, 32], "seq": [64, 128, 256]},
}
SMOKE = {
    "capture": {"seq": [16, 32], "batch": [1, 2], "layers": [1, 2]},
    "patching": {"layers": [1, 2], "facts": [4, 8]},
    "routing": {"experts": [2, 4], "seq": [16, 32]},
}
BASE = {
    "capture": {"seq": 128, "batch": 4, "layers": 8},
    "patching": {"layers": 4, "facts": 32},
    "routing": {"experts": 8, "seq": 128},
}
SMOKE_BASE = {
    "capture": {"seq": 16, "batch": 1, "layers": 2},
    "patching": {"layers": 2, "facts": 4},
    "routing": {"experts": 4, "seq": 16},
}


def capture_point(args, warmup, rounds) -> dict:
    import unlearnscope as us
    from bench_capture import build

    subject, tok = build(args)
    L = args.layers
    names = (
        [f"blocks.{l}.hook_resid_post" for l in range(L)]
        + [f"blocks.{l}.mlp.hook_post" for l in range(L)]
        + [f"blocks.{l}.hook_attn_out" for l in range(L)]
    )[:20]
    ids = torch.randint(1, len(tok), (args.batch, args.seq), device=args.device)
    model = subject.model

    def plain():
        with torch.no_grad():
            model(input_ids=ids)

    def ours():
        with torch.no_grad(), us.capture(subject, names):
            model(input_ids=ids)

    res = measure({"plain": plain, "ours_20": ours}, warmup=warmup, rounds=rounds, device=args.device)
    return {
        "plain_ms": res["plain"]["median_ms"],
        "ours_ms": res["ours_20"]["median_ms"],
        "n_hooks": len(names),
        "ratio": res["ours_20"]["median_ms"] / res["plain"]["median_ms"],
    }


def patching_point(args, warmup, rounds) -> dict:
    from bench_localize import build_facts
    from unlearnscope.data import encode_facts
    from unlearnscope.localize.facts import activation_patching, attribution_patching

    subject, facts = build_facts(args)
    enc = encode_facts(subject, facts)

    def fwd_bwd():
        subject.model(**enc.inputs()).logits[:, -1].logsumexp(-1).sum().backward()
        subject.model.zero_grad(set_to_none=True)

    res = measure(
        {
            "fwd_bwd": fwd_bwd,
            "attribution": lambda: attribution_patching(subject, facts),
            "patching": lambda: activation_patching(subject, facts),
        },
        warmup=warmup,
        rounds=rounds,
        device=args.device,
    )
    t = {k: v["median_ms"] for k, v in res.items()}
    return {
        **{f"{k}_ms": v for k, v in t.items()},
        "attribution_x_fwd_bwd": t["attribution"] / t["fwd_bwd"],
        "patching_x_fwd_bwd": t["patching"] / t["fwd_bwd"],
        "patching_over_attribution": t["patching"] / t["attribution"],
    }


def routing_point(args, warmup, rounds, n_experts) -> dict:
    from bench_routing import build_moe
    from unlearnscope.localize.experts import routing_stats

    subject, enc, batches = build_moe(args, n_experts=n_experts, n_batches=2)

    def plain():
        with torch.no_grad():
            for b in batches:
                subject.model(**b)

    res = measure(
        {"plain": plain, "routing_stats": lambda: routing_stats(subject, enc, batch_size=args.batch)},
        warmup=warmup,
        rounds=rounds,
        device=args.device,
    )
    n_tok = int(enc["attention_mask"].sum())
    tps = {k: n_tok / (v["median_ms"] / 1e3) for k, v in res.items()}
    return {
        "plain_tokens_per_s": tps["plain"],
        "stats_tokens_per_s": tps["routing_stats"],
        "ratio": tps["routing_stats"] / tps["plain"],
    }


COLUMNS = {
    "capture": (
        ("plain_ms", "plain ms", ".1f"),
        ("ours_ms", "capture 20 hooks ms", ".1f"),
        ("ratio", "x plain", ".3f"),
    ),
    "patching": (
        ("fwd_bwd_ms", "fwd+bwd ms", ".1f"),
        ("attribution_x_fwd_bwd", "attribution, x fwd+bwd", ".2f"),
        ("patching_x_fwd_bwd", "patching sweep, x fwd+bwd", ".1f"),
        ("patching_over_attribution", "sweep / attribution", ".1f"),
    ),
    "routing": (
        ("plain_tokens_per_s", "plain tokens/s", ".0f"),
        ("stats_tokens_per_s", "routing_stats tokens/s", ".0f"),
        ("ratio", "x plain", ".3f"),
    ),
}


def render(results: dict) -> str:
    """One markdown table per (benchmark, knob)."""
    parts = ["# scaling", "", results["setup"], "", f"Base points: {json.dumps(results['base'])}", ""]
    for name, rows in results["tables"].items():
        bench, knob = name.split("/")
        cols = COLUMNS[bench]
        parts += [
            f"## {bench} vs {knob}",
            "",
            "| " + " | ".join([knob] + [c[1] for c in cols]) + " |",
            "|" + "---|" * (len(cols) + 1),
        ]
        parts += [
            "| " + " | ".join([str(r["point"][knob])] + [format(r[c[0]], c[2]) for c in cols]) + " |" for r in rows
        ] + [""]
    return "\n".join(parts)


def main(argv=None):
    args = parse_args(argv, batch=4, seq=128, rounds=5, smoke_batch=1)
    if not args.smoke and not args.d_model_given:
        args.d_model = 256
    grid, base = (SMOKE, SMOKE_BASE) if args.smoke else (FULL, BASE)
    warmup, rounds = (1, 2) if args.smoke else (2, args.rounds)
    results = {
        "setup": f"d_model {args.d_model}, {args.dtype}, {device_name(args.device)}, threads {args.threads}, {rounds} "
        "interleaved rounds per point" + (" (SMOKE: no claims)" if args.smoke else ""),
        "smoke": args.smoke,
        "base": base,
        "tables": {},
    }
    rows = []
    for bench, sweeps in grid.items():
        for knob, values in sweeps.items():
            table = []
            for v in values:
                point = {**base[bench], knob: v}
                if bench == "capture":
                    r = capture_point(
                        with_args(args, seq=point["seq"], batch=point["batch"], layers=point["layers"]), warmup, rounds
                    )
                elif bench == "patching":
                    r = patching_point(with_args(args, layers=point["layers"], batch=point["facts"]), warmup, rounds)
                else:
                    r = routing_point(
                        with_args(args, seq=point["seq"], batch=8 if not args.smoke else 2, layers=2),
                        warmup,
                        rounds,
                        point["experts"],
                    )
                table.append({"point": point, **r})
                rows.append((bench, f"{knob}={v}", *(format(r[c[0]], c[2]) for c in COLUMNS[bench][:3])))
                print(
                    bench,
                    knob,
                    v,
                    json.dumps({k: round(x, 3) if isinstance(x, float) else x for k, x in r.items()}),
                    flush=True,
                )
            results["tables"][f"{bench}/{knob}"] = table
    name = result_name("scaling", args)
    out = write(results, name, args.device, rows, ("benchmark", "point", "a", "b", "c"), root=args.out)
    (out / f"{name}.md").write_text(render(results))  # one table per sweep instead of the harness' single table
    print(f"written to {out}")


if __name__ == "__main__":
    main()
