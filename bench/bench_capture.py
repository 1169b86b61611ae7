"""Capture overhead: ours (native hooks) vs plain HF, TransformerLens run_with_cache, nnsight trace.

    python bench/bench_capture.py            # full (CPU: GPT-2-shaped 8L d512, batch 4 x 128 tokens)
    python bench/bench_capture.py --smoke    # seconds; for CI, no timing claims
    python bench/bench_capture.py --device cuda --dtype bfloat16 --d-model 1024 --layers 12

Bar: capturing <= 20 named activations costs <= 1.10x a plain HF forward and less than
TL ``run_with_cache(names_filter=...)`` and an nnsight trace saving the same tensors.
"""

from __future__ import annotations

import copy
import json
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
warnings.filterwarnings("ignore")

from harness import device_name, have, measure, parse_args, result_name, write  # noqa: E402


def build(args):
    from transformers import GPT2Config, GPT2LMHeadModel

    import unlearnscope as us
    from unlearnscope.model.tiny import tiny_tokenizer

    tok = tiny_tokenizer()
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_positions=max(args.seq, 64),
        n_ctx=max(args.seq, 64),
        n_embd=args.d_model,
        n_layer=args.layers,
        n_head=max(1, args.d_model // 64),
        bos_token_id=0,
        eos_token_id=0,
    )
    torch.manual_seed(0)
    model = GPT2LMHeadModel(cfg).eval().to(args.device, dtype=getattr(torch, args.dtype))
    return us.load(model, tok), tok


def main(argv=None):
    args = parse_args(argv, batch=4, seq=128, rounds=30, smoke_batch=1)

    import unlearnscope as us

    subject, tok = build(args)
    L = args.layers
    twenty = (
        [f"blocks.{l}.hook_resid_post" for l in range(L)]
        + [f"blocks.{l}.mlp.hook_post" for l in range(L)]
        + [f"blocks.{l}.hook_attn_out" for l in range(L)]
    )[:20]
    one = twenty[:1]
    ids = torch.randint(1, len(tok), (args.batch, args.seq), device=args.device)
    model = subject.model

    def plain():
        with torch.no_grad():
            return model(input_ids=ids)

    def ours(names):
        def run():
            with torch.no_grad(), us.capture(subject, names) as cache:
                model(input_ids=ids)
            return cache

        return run

    arms = {"hf_plain": plain, "ours_1": ours(one), "ours_20": ours(twenty), "ours_all": ours(None)}
    n = len(twenty)
    assert len(arms["ours_20"]()) == n  # sanity: every arm captured what was asked
    missing = [m for m in ("transformer_lens", "nnsight") if not have(m)]
    if have("transformer_lens"):
        from unlearnscope.model.backends.transformer_lens import to_bridge

        bridge = to_bridge(subject)  # on its own copy of the model

        def tl(names):
            def run():
                with torch.no_grad():
                    return bridge.run_with_cache(ids, names_filter=names)

            return run

        arms |= {"tl_1": tl(one), "tl_20": tl(twenty)}
        assert set(twenty) <= set(arms["tl_20"]()[1].keys())
    if have("nnsight"):
        from nnsight import LanguageModel

        from unlearnscope.model.backends.nnsight import execution_order

        lm = LanguageModel(copy.deepcopy(model), tokenizer=tok)
        points = subject.resolve(twenty)
        sites = list(dict.fromkeys((pt.module_path, pt.phase) for pt in points))
        order = [sites[i] for i in execution_order(subject, sites, {"input_ids": ids})]  # nnsight needs forward order

        def nn_trace(selected):
            def run():
                saved = []
                with torch.no_grad(), lm.trace(ids):
                    for path, ph in selected:
                        env = lm.get(path)
                        saved.append((env.inputs if ph == "in" else env.output).save())
                return saved

            return run

        arms |= {"nnsight_1": nn_trace([(points[0].module_path, points[0].phase)]), "nnsight_20": nn_trace(order)}
        assert len(arms["nnsight_20"]()) == len(order) == n
    res = measure(arms, warmup=2 if args.smoke else 5, rounds=args.rounds, device=args.device)
    base = res["hf_plain"]["median_ms"]
    for v in res.values():
        v["x_hf"] = v["median_ms"] / base
    setup = (
        f"GPT-2-shaped {L}L d_model={args.d_model}, batch {args.batch} x {args.seq} tokens, {args.dtype}, "
        f"device {device_name(args.device)}, torch threads {args.threads}, {args.rounds} interleaved rounds"
        + (" (SMOKE: no timing claims)" if args.smoke else "")
        + (f"; not installed, so not measured: {missing}" if missing else "")
    )
    ratios = {"ours_20_over_hf": res["ours_20"]["x_hf"]}
    bar = {"ours_20 <= 1.10x hf": ratios["ours_20_over_hf"] <= 1.10}
    if args.device.startswith("cuda"):
        bar["ours_20 <= 1.05x hf (GPU bar)"] = ratios["ours_20_over_hf"] <= 1.05
    for arm in ("tl_20", "nnsight_20"):
        if arm in res:
            ratios[f"ours_20_over_{arm}"] = res["ours_20"]["median_ms"] / res[arm]["median_ms"]
            bar[f"ours_20 < {arm}"] = ratios[f"ours_20_over_{arm}"] < 1
    results = {
        "setup": setup,
        "arms": res,
        "ratios": ratios,
        "bar_met": bar,
        "smoke": args.smoke,
        "peers_missing": missing,
        "versions": {"torch": torch.__version__},
    }
    rows = [(k, f"{v['median_ms']:.2f}", f"{v['x_hf']:.3f}") for k, v in res.items()]
    name = result_name("capture", args)
    out = write(results, name, args.device, rows, ("arm", "median ms", "x plain HF"), root=args.out)
    print(json.dumps({"ratios": ratios, "bar_met": bar}, indent=2))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
