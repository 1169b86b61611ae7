"""The meta-evaluation on the small facts organism (2 weight seeds per side, one unlearned model)
against ground truth: the knowing members know the forget facts and the never-knew members never
saw them, so a faithful readout separates them."""

import json
from dataclasses import replace

import pytest

from unlearnscope.evaluate import ModelSet, VerifyConfig, VerifyData, verify
from unlearnscope.evaluate.faithfulness import auc, table_path
from unlearnscope.metaeval import METAEVAL_VERIFY, MetaEvalConfig, run_metaeval
from unlearnscope.metaeval.population import cached_member, population_dir
from unlearnscope.model.loading import load
from unlearnscope.organisms import world_facts

CONFIG = MetaEvalConfig(size="small", seeds=2, methods=("ga",), n_boot=500)


@pytest.fixture(scope="module")
def meta(small_organism, tmp_path_factory):
    org = small_organism("facts")
    out = tmp_path_factory.mktemp("metaeval") / "report"
    return org, run_metaeval(CONFIG, out=out, progress=False, publish=False), out


def test_population_and_faithfulness_against_ground_truth(meta):
    org, m, out = meta
    groups = [p["group"] for p in m.population]
    assert groups.count("knows") == 3 and groups.count("never_knew") == 3 and groups.count("unlearned") == 1
    rows = {r["name"]: r for r in m.rows}
    assert {"recall", "probe_transfer", "probe_refit", "logit_lens", "causal_depth", "relearn", "incontext_k1"} <= set(
        rows
    )
    for r in m.rows:  # the AUC is the Mann-Whitney statistic of the members' values, recomputed by hand
        assert r["faithfulness_auc"] == pytest.approx(auc(r["knows_values"], r["never_knew_values"]))
        assert r["ci"][0] <= r["faithfulness_auc"] <= r["ci"][1]
        assert r["used_in_verdicts"] == (r["kind"] == "behavioural" or r["faithfulness_auc"] >= CONFIG.floor)
    # behaviour, probes, the lens and relearning separate knowing from never knowing perfectly
    for name in ("recall", "probe_refit", "logit_lens", "relearn"):
        assert rows[name]["faithfulness_auc"] == 1.0, (
            name,
            rows[name]["knows_values"],
            rows[name]["never_knew_values"],
        )
    # causal depth patches a model's states into ORIG: a knowing model of another weight seed has
    # another basis and reads as erased, so the readout cannot separate this population
    cd = rows["causal_depth"]
    assert cd["faithfulness_auc"] < CONFIG.floor and not cd["used_in_verdicts"]
    knows = dict(zip([p["name"] for p in m.population if p["group"] == "knows"], cd["knows_values"], strict=True))
    assert knows["orig+ft"] > 0.5 and knows["orig1"] < 0.3  # ORIG's own lineage reads as knowing, another seed does not
    # an 8-bit round trip moves nothing that separates the groups
    assert all(r["robustness"]["quant8"] > 0.9 for r in m.rows)
    assert (out / "metaeval.html").is_file() and json.loads((out / "metaeval.json").read_text())["kind"] == "metaeval"


def test_a_second_run_reads_the_cache_and_the_table_gates_verdicts(meta, small_organism):
    org, m, _ = meta
    again = run_metaeval(CONFIG, progress=False, publish=False)
    assert again.rows == m.rows and again.seconds < 60  # every member and value read back from the cache
    assert not table_path(org).exists()  # publish=False wrote nothing where audits look
    table = m.table()
    assert "causal_depth" in table.unfaithful() and "recall" not in table.unfaithful()
    ga = load(next(population_dir(org).glob("ga-*")) / "model")
    F, R = world_facts(org, "forget"), world_facts(org, "retain")
    cfg = VerifyConfig(readouts=("logit_lens", "causal_depth"), attacks=(), rules=METAEVAL_VERIFY.rules)
    models, data = ModelSet.of(ga, org.load("orig"), org.load("ref")), VerifyData.of(F, R)
    v = verify(models, data, cfg, faithfulness=table)
    missing = {x["name"]: x["why"] for x in v.verdict["missing_readouts"]}
    assert "below the floor" in missing["causal_depth"] and "causal_depth" not in v.verdict["rki"]
    assert (
        v.metric("causal_depth")["faithfulness"]["status"] == "below floor"
        and not v.metric("causal_depth")["used_in_verdict"]
    )
    assert v.metric("logit_lens")["used_in_verdict"] and v.metric("logit_lens")["faithfulness"]["auc"] == 1.0
    used = verify(models, data, replace(cfg, use_unfaithful=True), faithfulness=table)
    assert "causal_depth" in used.verdict["rki"] and used.metric("causal_depth")["used_in_verdict"]


def test_a_corrupt_member_is_rebuilt(small_organism, tmp_path):
    import shutil

    org = small_organism("facts")
    made = []
    spec = {"test": str(tmp_path)}  # a fresh member on every run

    def make():
        made.append(1)
        return org.load("ref")

    path = cached_member(org, "probe-member", spec, make, log=lambda m: None)
    assert cached_member(org, "probe-member", spec, make, log=lambda m: None) == path and len(made) == 1
    weights = next(path.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-8])  # truncated: no longer matches its manifest
    cached_member(org, "probe-member", spec, make, log=lambda m: None)
    assert len(made) == 2
    shutil.rmtree(path.parent)
