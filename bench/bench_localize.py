"""Localization costs: attribution patching vs the activation-patching sweep (the
concept-vector scan has its own benchmark, `bench_scan.py`).

    python bench/bench_localize.py            # GPT-2-shaped 8L d512 (random weights), 64 facts, CPU, 1 thread
    python bench/bench_localize.py --smoke

Arms on the same facts: ``fwd_bwd`` (one forward + backward of the batch: the unit of cost),
``attribution`` (every (kind, layer, role) cell from one corrupted forward + backward and one clean
forward) and ``patching`` (one batched forward per (kind, layer), every role at once).
Bars: attribution <= 3 forward+backward equivalents and >= 20x faster than the patching sweep.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
warnings.filterwarnings("ignore")

from harness import device_name, measure, parse_args, result_name, write  # noqa: E402

FIRST = [
    "Bob",
    "Alice",
    "Tom",
    "Anna",
    "Paul",
    "Mary",
    "John",
    "Kate",
    "Mark",
    "Lisa",
    "Jack",
    "Emma",
    "Sam",
    "Lucy",
    "Ben",
    "Sara",
]
LAST = ["Smith", "Brown", "Green", "White", "Black", "Stone", "Wood", "Hill"]


def build_facts(args):
    """A GPT-2-shaped random model and ``args.batch`` facts whose subjects share one token length."""
    from collections import Counter

    from transformers import GPT2Config, GPT2LMHeadModel

    import unlearnscope as us
    from unlearnscope.data import Fact
    from unlearnscope.model.tiny import tiny_tokenizer

    tok = tiny_tokenizer()
    cfg = GPT2Config(
        vocab_size=len(tok),
        n_positions=64,
        n_ctx=64,
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
    subject = us.load(GPT2LMHeadModel(cfg).to(args.device).eval(), tok)
    pool = [f"{f} {l}" for f in FIRST for l in LAST]
    lengths = {n: len(tok(" " + n, add_special_tokens=False)["input_ids"]) for n in pool}
    common = Counter(lengths.values()).most_common(1)[0][0]
    names = [n for n in pool if lengths[n] == common][: max(2, args.batch)]
    return subject, [Fact(f"The friend of {n} lives in the city of", "Paris", n) for n in names]


def main(argv=None):
    args = parse_args(argv, batch=64, seq=0, rounds=5, smoke_batch=8)

    from unlearnscope.data import encode_facts
    from unlearnscope.localize.facts import activation_patching, attribution_patching

    subject, facts = build_facts(args)
    enc = encode_facts(subject, facts)

    def fwd_bwd():
        out = subject.model(**enc.inputs())
        out.logits[:, -1].logsumexp(-1).sum().backward()
        subject.model.zero_grad(set_to_none=True)

    arms = {
        "fwd_bwd": fwd_bwd,
        "attribution": lambda: attribution_patching(subject, facts),
        "patching": lambda: activation_patching(subject, facts),
    }
    res = measure(arms, warmup=1, rounds=args.rounds, device=args.device)
    t = {k: v["median_ms"] for k, v in res.items()}

    results = {
        "setup": f"GPT-2-shaped {args.layers}L d{args.d_model} random weights, {len(facts)} facts, device "
        f"{device_name(args.device)}, threads {args.threads}",
        "arms": res,
        "attribution_fwd_bwd_equivalents": t["attribution"] / t["fwd_bwd"],
        "patching_over_attribution": t["patching"] / t["attribution"],
    }
    name = result_name("localize", args)
    rows_md = [(k, f"{v['median_ms']:.1f}", f"{v['median_ms'] / t['fwd_bwd']:.2f}") for k, v in res.items()]
    out = write(
        results, name, args.device, rows_md, ("arm", "median ms", "x fwd+bwd"), Path(args.out) if args.out else None
    )
    print(out / f"{name}.md")
    print((out / f"{name}.md").read_text())


if __name__ == "__main__":
    main()
