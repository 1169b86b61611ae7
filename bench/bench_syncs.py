"""Host↔device traffic on hot paths (the goal: no host↔device copies on hot paths, shown by a profile).

    python bench/bench_syncs.py                         # CPU: reads of tensor values into Python
    python bench/bench_syncs.py --device cuda --dtype bfloat16   # + every Memcpy the GPU did
    python bench/bench_syncs.py --smoke

Each hot path runs at two work sizes (1x and 2x: hooks, batches, layers, chunks, depths or steps).
Counted per run, by a dispatch-mode spy (`TransferSpy`) that attributes each event to the innermost
Python frame that is ours or a library's:
* ``ours`` / ``library``: tensor values read into Python (``.item()``, ``float(t)``, ``bool(t)``:
  ``aten::_local_scalar_dense``; on CUDA a device→host copy that stalls the host) plus copies
  between CPU and the accelerator (``.cpu()``, ``.to(device)``; these only exist off-CPU);
  ``library`` = inside transformers / torch (e.g. transformers' causal-mask check reads one flag per
  forward with an attention mask; AdamW reads its CPU step counters, which is no device sync);
* on CUDA ``memcpy``: every Memcpy event `torch.profiler` recorded, whoever caused it.
A hot path is clean when *our* counts do not grow with the work: O(1) reads of a final result are
fine, reads per batch, hook, layer, chunk or step are not.  Iterative solvers (batched L-BFGS
probes) and the `unlearn` loop (its divergence checks decide on the host whether to apply a step)
read once per iteration / step by design; they are reported, not barred.  On CPU, ``.tolist()`` / ``.cpu()`` of
a CPU tensor dispatch nothing and cannot be seen: run on CUDA for the complete picture.
"""

from __future__ import annotations

import sys
import traceback
import warnings
from collections import Counter
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).parent))
warnings.filterwarnings("ignore")

from harness import device_name, parse_args, result_name, with_args, write  # noqa: E402

KINDS = ("ours", "library", "memcpy")
ITERATIVE = ("logistic_probes", "unlearn_loop")  # one host read per iteration / step by design


TRANSPARENT = (
    "/torch/_",
    "/torch/utils/_",
    "/torch/overrides.py",
    "bench_syncs.py",
)  # torch's private wrappers, this spy


class TransferSpy(TorchDispatchMode):
    """Counts host reads (``aten::_local_scalar_dense``) and cross-device copies (``_to_copy`` /
    ``copy_`` between CPU and an accelerator), each attributed to the innermost Python frame that
    is ours (``unlearnscope``) or a library's (transformers, torch)."""

    def __init__(self):
        super().__init__()
        self.counts = Counter()

    @staticmethod
    def owner() -> str:
        for f in reversed(traceback.extract_stack()):
            path = f.filename
            if any(t in path for t in TRANSPARENT):  # wrappers around the op, not its caller
                continue
            if "/unlearnscope/" in path:
                return "ours"
            if "/transformers/" in path or "/torch/" in path:
                return "library"
        return "library"

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        aten = torch.ops.aten
        moved = False
        if func is aten._local_scalar_dense.default:
            moved = True
        elif func is aten._to_copy.default and "device" in kwargs and kwargs["device"] is not None:
            moved = torch.device(kwargs["device"]).type != args[0].device.type
        elif func is aten.copy_.default:
            moved = args[0].device.type != args[1].device.type
        if moved:
            self.counts[self.owner()] += 1
        return func(*args, **kwargs)


def count_transfers(fn, device: str) -> dict[str, int]:
    """Run ``fn`` once: host reads / copies by owner (`TransferSpy`) and, on CUDA, every Memcpy
    event the profiler records."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.startswith("cuda")
    spy = TransferSpy()
    with profile(activities=[ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])) as prof:
        with spy:
            fn()
        if cuda:
            torch.cuda.synchronize()
    memcpy = sum(1 for e in prof.events() if "Memcpy DtoH" in e.name or "Memcpy HtoD" in e.name) if cuda else 0
    return {"ours": spy.counts["ours"], "library": spy.counts["library"], "memcpy": memcpy}


def hot_paths(args) -> dict[str, tuple[str, object, object]]:
    """``name -> (what doubles, run at 1x, run at 2x)``."""
    import unlearnscope as us
    from bench_capture import build
    from bench_localize import build_facts
    from bench_probes import synthetic
    from bench_routing import build_moe
    from bench_scan import build_model
    from unlearnscope.data import encode_facts
    from unlearnscope.localize.concepts import scan_concept
    from unlearnscope.localize.experts import routing_stats
    from unlearnscope.localize.facts import attribution_patching
    from unlearnscope.probes.recall import recall
    from unlearnscope.probes.solvers import fit_probes

    paths = {}
    subject, tok = build(args)
    L = args.layers
    names = [f"blocks.{l}.hook_resid_post" for l in range(L)] + [f"blocks.{l}.mlp.hook_post" for l in range(L)]
    ids = torch.randint(1, len(tok), (args.batch, args.seq), device=args.device)

    def cap(k):
        def run():
            with torch.no_grad(), us.capture(subject, names[:k]):
                subject.model(input_ids=ids)

        return run

    paths["capture"] = ("hooks", cap(len(names) // 2), cap(len(names)))

    facts_subject, facts = build_facts(with_args(args, batch=16))
    enc = encode_facts(facts_subject, facts)
    paths["recall"] = (
        "batches",
        lambda: recall(facts_subject, enc, batch_size=8),
        lambda: recall(facts_subject, enc, batch_size=4),
    )
    paths["attribution_patching"] = (
        "batches",
        lambda: attribution_patching(facts_subject, facts, batch_size=8),
        lambda: attribution_patching(facts_subject, facts, batch_size=4),
    )

    moe, menc, _ = build_moe(with_args(args, layers=2), n_experts=4, n_batches=4)
    paths["routing_stats"] = (
        "batches",
        lambda: routing_stats(moe, menc, batch_size=2 * args.batch),
        lambda: routing_stats(moe, menc, batch_size=args.batch),
    )

    scan_subject = build_model(with_args(args, shape="small", smoke=True))
    half = list(range(scan_subject.anatomy.n_layers // 2))
    paths["concept_scan"] = (
        "layers",
        lambda: scan_concept(scan_subject, list(range(10, 20)), layers=half),
        lambda: scan_concept(scan_subject, list(range(10, 20))),
    )
    paths["concept_scan_chunks"] = (
        "chunks",
        lambda: scan_concept(scan_subject, list(range(10, 20)), max_chunk_bytes=64 * 8 * 64),
        lambda: scan_concept(scan_subject, list(range(10, 20)), max_chunk_bytes=32 * 8 * 64),
    )

    X, y = synthetic(6, 2, 400, 64, 5)
    X, y = X.to(args.device), y.to(args.device)
    train = torch.zeros(1, 400, dtype=torch.bool, device=args.device)
    train[0, :320] = True
    paths["ridge_probes"] = (
        "depths",
        lambda: fit_probes(X[:3], y, train, 5, method="ridge"),
        lambda: fit_probes(X, y, train, 5, method="ridge"),
    )
    paths["logistic_probes"] = (
        "depths",
        lambda: fit_probes(X[:3], y, train, 5, method="logistic", l2=1 / 320, max_iter=50),
        lambda: fit_probes(X, y, train, 5, method="logistic", l2=1 / 320, max_iter=50),
    )
    paths["unlearn_step"] = ("steps", *(unlearn_steps(args, n) for n in (2, 4)))
    paths["unlearn_loop"] = ("steps", *(unlearn_loop(args, n) for n in (4, 8)))
    return paths


def unlearn_loop(args, n_steps: int):
    """`unlearn` (GradAscent on 8 random sequences, batch 4): its checks read the loss, gradient norm
    and weight finiteness once per step, by design (before `opt.step`, on the host)."""
    from bench_localize import build_facts
    from unlearnscope.ablate.unlearning import UnlearnConfig, unlearn

    subject, _ = build_facts(with_args(args, batch=4))
    ids = torch.randint(1, 100, (8, args.seq))
    data = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    cfg = UnlearnConfig(steps=n_steps, batch_size=4, lr=1e-6, eval_every=4)
    return lambda: unlearn(subject, data, config=cfg, progress=False).edits.undo()


def unlearn_steps(args, n_steps: int):
    """``n_steps`` masked GradAscent steps (forward, backward, AdamW, masked decay, restore)."""
    from bench_localize import build_facts
    from bench_unlearn import masked_ga_step
    from unlearnscope.ablate import ComponentSet
    from unlearnscope.ablate.masking import MaskedParams

    subject, _ = build_facts(with_args(args, batch=4))
    ids = torch.randint(1, 100, (args.batch, args.seq), device=args.device)
    mask = torch.ones_like(ids)
    cs = ComponentSet.parse(subject, "blocks.0.mlp blocks.1.attn")

    def run():
        with MaskedParams(subject, cs) as ctx:
            opt = torch.optim.AdamW(list(ctx.params.values()), lr=1e-5, weight_decay=0.0)
            for _ in range(n_steps):
                masked_ga_step(subject, ctx, opt, ids, mask)

    return run


def main(argv=None):
    args = parse_args(argv, batch=4, seq=32, rounds=1, smoke_batch=2)
    if not args.smoke:
        args.d_model, args.layers = min(args.d_model, 256), min(args.layers, 4)
    torch.manual_seed(0)
    paths = hot_paths(args)
    table, rows = {}, []
    for name, (unit, one, two) in paths.items():
        one()  # warm-up: first calls may read shapes / build caches once
        c1, c2 = count_transfers(one, args.device), count_transfers(two, args.device)
        growth = {k: c2[k] - c1[k] for k in KINDS}
        iterative = name in ITERATIVE
        clean = growth["ours"] <= 0
        table[name] = {"doubles": unit, "1x": c1, "2x": c2, "growth": growth, "clean": clean, "iterative": iterative}
        rows.append(
            (
                name,
                unit,
                *(f"{c1[k]} → {c2[k]}" for k in KINDS),
                "yes" if clean else ("per iteration" if iterative else "NO"),
            )
        )
    barred = {k: v for k, v in table.items() if not v["iterative"]}
    results = {
        "setup": f"d_model {args.d_model}, {args.layers}L, batch {args.batch} x {args.seq}, {args.dtype}, "
        f"{device_name(args.device)}" + (" (SMOKE)" if args.smoke else ""),
        "paths": table,
        "bar_met": {"none of our transfers grow with the work": all(v["clean"] for v in barred.values())},
        "note": "on CPU only scalar reads (.item()/float()/bool()) are visible; copies (.tolist()/.cpu()) exist "
        "and are counted on CUDA only",
    }
    name = result_name("syncs", args)
    out = write(
        results,
        name,
        args.device,
        rows,
        ("hot path", "doubles", "ours 1x → 2x", "library 1x → 2x", "CUDA memcpy 1x → 2x", "ours clean"),
        Path(args.out) if args.out else None,
    )
    print((out / f"{name}.md").read_text())
    return results


if __name__ == "__main__":
    main()
