"""What an audit costs: time and peak memory per stage against model size and target size, with a
fitted cost model extrapolated to 1B and 8B shapes.

    python bench/bench_audit.py                      # CPU, 1 thread: d_model 64/128/256 × 10/20 entities (~25 min)
    python bench/bench_audit.py --smoke              # one tiny point, seconds
    python bench/bench_audit.py --device cuda --dtype bfloat16 --sizes 768,1024,1536 --layers 12   # >= 100M parameters

Each point audits an unlearned checkpoint as it is (``audit --unlearned``): random-initialised
GPT-2-shaped ORIG, REF and checkpoint with the small facts organism's tokenizer and target (a
subset of its entities), the ``--quick`` protocol and the quick attacks.  Knowledge does not
matter for cost: the same forward and backward passes run whatever the weights know.  The stage
timings come from the report's provenance (the same numbers every audit records).

Cost model, per stage: ``seconds = c · N^a · F^b`` (N parameters, F facts), fitted by least squares
on logs; the extrapolation to 1B / 8B shapes keeps this machine's throughput, so it is an upper
bound for a GPU (divide by the GPU's measured speedup over this CPU, from ``--device cuda`` runs).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from harness import device_name  # noqa: E402

SHAPES = {
    "1b": {"d_model": 2048, "layers": 16, "vocab": 128256, "d_mlp": 8192},  # Llama-3.2-1B
    "8b": {"d_model": 4096, "layers": 32, "vocab": 128256, "d_mlp": 14336},
}  # Llama-3.1-8B
TARGET_FACTS = 400  # a TOFU forget10-sized target


def n_params(d: int, layers: int, vocab: int, d_mlp: int | None = None, gated: bool = False) -> int:
    d_mlp = d_mlp or 4 * d
    per_block = 4 * d * d + (3 if gated else 2) * d * d_mlp
    return layers * per_block + vocab * d


def _models(root: Path, d: int, layers: int, tok, n_positions: int, dtype) -> dict:
    from transformers import GPT2Config, GPT2LMHeadModel

    out = {}
    for name, seed in (("orig", 0), ("ref", 1), ("ckpt", 2)):
        torch.manual_seed(seed)
        cfg = GPT2Config(
            n_embd=d,
            n_layer=layers,
            n_head=max(1, d // 64),
            n_inner=4 * d,
            n_positions=n_positions,
            vocab_size=len(tok),
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
        )
        m = GPT2LMHeadModel(cfg).to(dtype)
        m.save_pretrained(root / name)
        tok.save_pretrained(root / name)
        out[name] = root / name
    return out


def _target(org, n_entities: int, path: Path) -> int:
    from unlearnscope.audit import organism_target

    rows = organism_target(org).to_records()
    keep = {}
    for r in rows:
        keep.setdefault(r["split"], [])
        if r["subject"] not in keep[r["split"]] and len(keep[r["split"]]) < n_entities:
            keep[r["split"]].append(r["subject"])
    picked = [r for r in rows if r["subject"] in keep.get(r["split"], [])]
    path.write_text("\n".join(json.dumps(r) for r in picked))
    return sum(r["split"] == "forget" and r["kind"] in ("cloze", "qa") for r in picked)


def point(org, d: int, layers: int, n_entities: int, args) -> dict:
    from unlearnscope.audit import load_config, run_audit

    dtype = getattr(torch, args.dtype)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tok = org.load("orig").tokenizer
        paths = _models(root, d, layers, tok, 64, dtype)
        n_facts = _target(org, n_entities, root / "target.jsonl")
        cfg = load_config(
            model=str(paths["orig"]),
            reference=str(paths["ref"]),
            unlearned=f"ckpt={paths['ckpt']}",
            target=str(root / "target.jsonl"),
            quick=True,
            attacks="quick",
            device=args.device,
            dtype=args.dtype,
            n_random=20 if args.smoke else 100,
        )
        t0 = time.perf_counter()
        res = run_audit(cfg, out=root / "report", progress=False, log=lambda m: None)
        total = time.perf_counter() - t0
    prov = res.report["provenance"]["stage_timings"]
    stages = {}
    for s in prov["stages"]:
        key = s["stage"].split(" (")[0].split(":")[0].strip()
        key = (
            "write report"
            if key.startswith("write ")
            else {"verify": "verify checkpoint", "checkpoint ckpt": "load checkpoint"}.get(key, key)
        )
        stages.setdefault(key, {"seconds": 0.0, "peak_rss_mib": 0.0, "peak_cuda_mib": None})
        stages[key]["seconds"] += s["seconds"]
        stages[key]["peak_rss_mib"] = max(stages[key]["peak_rss_mib"], s["peak_rss_mib"] or 0)
        if s["peak_cuda_mib"] is not None:
            stages[key]["peak_cuda_mib"] = max(stages[key]["peak_cuda_mib"] or 0, s["peak_cuda_mib"])
    for name, sec in prov["readouts"]["ckpt"].items():
        stages[f"readout: {name}"] = {"seconds": sec}
    return {
        "d_model": d,
        "layers": layers,
        "params": n_params(d, layers, len(tok)),
        "n_entities": n_entities,
        "n_facts": n_facts,
        "seconds_total": round(total, 2),
        "stages": stages,
    }


def fit(points: list[dict]) -> dict:
    """Per stage: ``log s = log c + a log N + b log F`` by least squares (``b`` fixed at 1 when the
    target size does not vary)."""
    out = {}
    names = sorted({k for p in points for k in p["stages"]})
    for name in names:
        rows = [
            (math.log(p["params"]), math.log(p["n_facts"]), math.log(max(p["stages"][name]["seconds"], 1e-3)))
            for p in points
            if name in p["stages"]
        ]
        if len(rows) < 2:
            continue
        X = torch.tensor([[1.0, a, b] for a, b, _ in rows], dtype=torch.float64)
        y = torch.tensor([s for _, _, s in rows], dtype=torch.float64)
        vary_f = len({round(b, 6) for _, b, _ in rows}) > 1
        if not vary_f:
            X, y = X[:, :2], y - X[:, 2]
        coef = torch.linalg.lstsq(X, y[:, None]).solution[:, 0].tolist()
        c, a, b = coef[0], coef[1], coef[2] if vary_f else 1.0
        pred = lambda N, F, c=c, a=a, b=b: math.exp(c + a * math.log(N) + b * math.log(F))
        big = max((p for p in points if name in p["stages"]), key=lambda p: (p["params"], p["n_facts"]))
        linear = lambda N, big=big, name=name: (
            big["stages"][name]["seconds"] * N / big["params"] * TARGET_FACTS / big["n_facts"]
        )
        sizes = {k: n_params(s["d_model"], s["layers"], s["vocab"], s["d_mlp"], gated=True) for k, s in SHAPES.items()}
        out[name] = {
            "log_c": round(c, 3),
            "a_params": round(a, 3),
            "b_facts": round(b, 3),
            "b_fixed": not vary_f,
            "extrapolated_seconds": {k: round(pred(N, TARGET_FACTS), 1) for k, N in sizes.items()},
            "compute_bound_seconds": {k: round(linear(N), 1) for k, N in sizes.items()},
        }
    return out


def memory_plan(shape: dict, dtype_bytes: int = 2) -> dict:
    """Resident bytes of the audit's models on the device for an LLM shape: the weights of ORIG plus
    one audited model (the plan: the rest waits on CPU or disk), and AdamW state when relearning
    trains everything vs a rank-8 LoRA."""
    N = n_params(shape["d_model"], shape["layers"], shape["vocab"], shape["d_mlp"], gated=True)
    lora = (
        shape["layers"] * 7 * 2 * 8 * shape["d_model"]
    )  # rank 8 on q, k, v, o, gate, up, down (d_model-wide approximation)
    gib = lambda b: round(b / 2**30, 1)
    return {
        "params": N,
        "two_copies_gib": gib(2 * N * dtype_bytes),
        "full_finetune_state_gib": gib(N * (dtype_bytes + 4 + 4 + 4)),
        "lora8_params": lora,
        "lora8_state_gib": gib(lora * 16),
    }


def markdown(res: dict) -> str:
    lines = [
        f"# Audit cost ({res['device']}, {res['dtype']}, {res['threads']} threads)",
        "",
        res["setup"],
        "",
        "| d_model | params | entities | facts | total s | " + " | ".join(res["stage_names"]) + " |",
        "|" + "---|" * (5 + len(res["stage_names"])),
    ]
    for p in res["points"]:
        lines.append(
            f"| {p['d_model']} | {p['params']:,} | {p['n_entities']} | {p['n_facts']} | {p['seconds_total']} | "
            + " | ".join(f"{p['stages'].get(n, {}).get('seconds', 0):.1f}" for n in res["stage_names"])
            + " |"
        )
    lines += [
        "",
        "Cost model per stage: seconds = c · N^a · F^b (N parameters, F forget facts), extrapolated to a 400-fact "
        "target at this machine's throughput; the compute-bound columns scale the largest point linearly in N and F "
        "(small models are overhead-bound, so a < 1 here understates large models):",
        "",
        "| stage | a (params) | b (facts) | 1B s (fit) | 8B s (fit) | 1B s (compute-bound) | 8B s (compute-bound) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, f in res["fit"].items():
        e, cb = f["extrapolated_seconds"], f["compute_bound_seconds"]
        lines.append(
            f"| {n} | {f['a_params']} | {f['b_facts']}{' (fixed)' if f['b_fixed'] else ''} | {e['1b']:,} | {e['8b']:,} "
            "| "
            f"{cb['1b']:,} | {cb['8b']:,} |"
        )
    lines += [
        "",
        "Memory plan (bf16 weights): "
        + "; ".join(
            f"{k}: two resident copies {m['two_copies_gib']} GiB, full fine-tuning state "
            f"{m['full_finetune_state_gib']} GiB vs LoRA-8 {m['lora8_state_gib']} GiB"
            for k, m in res["memory_plan"].items()
        ),
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--sizes", default="64,128,256")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--entities", default="10,20")  # the small facts organism has 20 forget entities
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.smoke:
        args.sizes, args.entities, args.layers = "32", "12", 2
    from unlearnscope.organisms import build

    org = build("facts", "small", 0, progress=False, log=lambda m: None)
    points = []
    for d in (int(x) for x in args.sizes.split(",")):
        for n in (int(x) for x in args.entities.split(",")):
            points.append(point(org, d, args.layers, n, args))
            print(f"d_model {d}, {n} entities: {points[-1]['seconds_total']} s", file=sys.stderr, flush=True)
    names = [n for n in dict.fromkeys(k for pt in points for k in pt["stages"])]
    res = {
        "bench": "audit",
        "device": device_name(args.device),
        "dtype": args.dtype,
        "threads": args.threads,
        "smoke": args.smoke,
        "setup": (
            f"audit --unlearned of a random-initialised GPT-2-shaped checkpoint ({args.layers} layers) against "
            "ORIG and REF, --quick protocol, quick attacks, the small facts organism's target cut to N entities per "
            "split"
        ),
        "points": points,
        "stage_names": names,
        "fit": fit(points) if len(points) > 1 else {},
        "memory_plan": {k: memory_plan(s) for k, s in SHAPES.items()},
    }
    out = Path(args.out) if args.out else HERE / "results"
    d = out / res["device"]
    d.mkdir(parents=True, exist_ok=True)
    stem = "audit_smoke" if args.smoke else "audit"
    (d / f"{stem}.json").write_text(json.dumps(res, indent=1))
    (d / f"{stem}.md").write_text(markdown(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
