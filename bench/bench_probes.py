"""Batched probes vs a loop of scikit-learn LogisticRegression fits (bar: one batched solve
over all depths × targets ≥ 10× faster, accuracy within 1 point).

    python bench/bench_probes.py      # 9 depths × 4 targets, 2000 rows (80% train), d=256, 20 classes, 1 thread
    python bench/bench_probes.py --d-model 768 --layers 12
    python bench/bench_probes.py --smoke

Data: synthetic class-conditional features whose signal grows with depth (depth 0 carries none),
so accuracies span chance to high like real per-layer probes.  Every arm sees the same
standardised training rows and predicts the same test rows.  Arms:
* ``sklearn_loop``: ``LogisticRegression(C=1, max_iter=100)`` per (depth, target), standardised
  features (scikit-learn's defaults; its BLAS limited to the same thread count);
* ``ridge_batched``: `fit_probes(method="ridge")`, every problem in one solve;
* ``logistic_batched``: `fit_probes(method="logistic")` (mean CE + l2/2‖W‖², l2 = 1/(C·n)), all
  problems in one L-BFGS run.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
warnings.filterwarnings("ignore")

from harness import device_name, measure, parse_args, result_name, write  # noqa: E402


def _extra(p):
    p.add_argument("--targets", type=int, default=4)
    p.add_argument("--classes", type=int, default=20)
    p.add_argument("--rows", type=int, default=2000)


def synthetic(depths: int, targets: int, rows: int, d: int, classes: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(classes, (targets, rows), generator=g)
    signal = torch.linspace(0, 2.0, depths)
    centres = torch.randn(depths, targets, classes, d, generator=g) * 6 / d**0.5
    X = torch.randn(depths, rows, d, generator=g)
    for t in range(targets):
        X = X + signal[:, None, None] * centres[:, t][:, y[t]]
    return X, y


def main(argv=None):
    args = parse_args(argv, batch=1, seq=1, rounds=5, smoke_batch=1, extra=_extra)
    if args.smoke:
        args.rows, args.targets, args.classes = 120, 2, 4
    if not args.d_model_given and not args.smoke:
        args.d_model = 256
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    from unlearnscope.probes.solvers import fit_probes

    depths = args.layers + 1
    X, y = synthetic(depths, args.targets, args.rows, args.d_model, args.classes)
    X = X.to(args.device)
    n_tr = int(0.8 * args.rows)
    train = torch.zeros(1, args.rows, dtype=torch.bool, device=args.device)
    train[0, :n_tr] = True
    mu, sd = X[:, :n_tr].mean(1, keepdim=True), X[:, :n_tr].std(1, unbiased=False, keepdim=True)
    Z = ((X - mu) / sd).cpu().numpy()
    acc = {}

    def sklearn_loop():
        hits = []
        with threadpool_limits(args.threads):
            for g in range(depths):
                for t in range(args.targets):
                    m = LogisticRegression(C=1.0, max_iter=100).fit(Z[g, :n_tr], y[t, :n_tr].numpy())
                    hits.append(float((m.predict(Z[g, n_tr:]) == y[t, n_tr:].numpy()).mean()))
        acc["sklearn_loop"] = sum(hits) / len(hits)

    def batched(method):
        def run():
            p = fit_probes(
                X,
                y.to(args.device),
                train,
                args.classes,
                method=method,
                l2=1e-2 if method == "ridge" else 1.0 / n_tr,
                max_iter=100,
            )
            acc[f"{method}_batched"] = float(
                (p.predict(X)[:, :, 0, n_tr:] == y[None, :, n_tr:].to(args.device)).float().mean()
            )

        return run

    arms = {"sklearn_loop": sklearn_loop, "ridge_batched": batched("ridge"), "logistic_batched": batched("logistic")}
    res = measure(arms, warmup=1, rounds=args.rounds, device=args.device)
    base = res["sklearn_loop"]["median_ms"]
    speedup = {k: base / v["median_ms"] for k, v in res.items()}
    results = {
        "setup": f"{depths} depths x {args.targets} targets, {args.rows} rows ({n_tr} train), d={args.d_model}, "
        f"{args.classes} classes, "
        f"{args.device} ({device_name(args.device)}), {args.threads} thread(s), rounds={args.rounds}",
        "arms": res,
        "speedup_vs_sklearn": speedup,
        "accuracy": acc,
        "accuracy_delta_vs_sklearn_points": {k: 100 * (v - acc["sklearn_loop"]) for k, v in acc.items()},
    }
    rows = [(k, f"{v['median_ms']:.1f}", f"{speedup[k]:.2f}x", f"{acc[k]:.4f}") for k, v in res.items()]
    out = write(
        results,
        result_name("probes", args),
        args.device,
        rows,
        ("arm", "median ms", "speed-up vs sklearn", "test accuracy"),
        Path(args.out) if args.out else None,
    )
    print(open(out / (result_name("probes", args) + ".md")).read())
    return results


if __name__ == "__main__":
    main()
