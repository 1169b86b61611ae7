"""The memory plan: with a `Residency`, at most two full model copies are resident at once (ORIG
and the model being measured), and every readout gives exactly the numbers it gives without one.
On CPU the plan is simulated: a parked model is cast to float64, so any measurement that mixed a
parked model with a resident one would fail (where on a GPU it would mix devices)."""

from dataclasses import replace

import torch

from unlearnscope.evaluate import ModelSet, VerifyConfig, VerifyData, verify
from unlearnscope.evaluate.sweep import SweepConfig
from unlearnscope.model.residency import Residency
from unlearnscope.organisms import world_facts


def test_two_resident_copies_and_identical_numbers(small_organism):
    from unlearnscope.model import load

    org = small_organism("facts")
    forget, retain = world_facts(org, "forget", ("cloze",)), world_facts(org, "retain", ("cloze",))
    cfg = (
        replace(
            VerifyConfig(),
            attacks=("relearn", "incontext", "direction_ablation", "quant", "component_revert", "relearn:sweep"),
        )
        .configure("probe", seeds=(0,), random_init_control=True)
        .configure("relearn", lrs=(3e-4,), seeds=(0,), steps=3)
        .configure("incontext", k=(1,))
        .configure("component_revert", components=("blocks.3.mlp",))
    )
    cfg = replace(
        cfg,
        settings={
            **cfg.settings,
            "relearn:sweep": SweepConfig(lrs=(1e-3,), params=("lora:2",), steps=(2,), seeds=(0,)),
        },
    )

    def run(residency):
        models = {
            "orig": org.load("orig"),
            "refs": [org.load("ref"), org.load("ref1")],
            "u": [load(org.variant_path("ref2")), org.load("ref")],
            "noise": org.load("ref1"),
        }
        ms = ModelSet.of(models["u"], models["orig"], models["refs"], models["noise"], residency=residency)
        v = verify(ms, VerifyData.of(forget, retain, vectors=[(3, 0)]), cfg)
        return v, models

    plain, _ = run(None)
    plan = Residency("cpu", simulate_dtype=torch.float64)
    planned, models = run(plan)
    assert plan.peak <= 2  # ORIG pinned + the one being measured
    assert next(models["orig"].model.parameters()).dtype == torch.float32
    assert all(next(m.model.parameters()).dtype == torch.float64 for m in models["refs"] + models["u"])  # parked
    a = {m["name"]: m["agg_value"] for m in plain.metrics}
    b = {m["name"]: m["agg_value"] for m in planned.metrics}
    assert (
        set(a)
        == set(b)
        >= {
            "recall",
            "probe_transfer",
            "logit_lens",
            "causal_depth",
            "relearn",
            "direction_ablation",
            "quant8",
            "relearn:sweep",
        }
    )
    assert a == b
    assert plain.verdict["verdict"] == planned.verdict["verdict"]
