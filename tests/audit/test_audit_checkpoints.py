"""Auditing checkpoints made elsewhere (`--unlearned NAME=PATH`): verified as they are, beside
the audit's own methods, against ground truth at both ends — a copy of ORIG is "not unlearned", a
model that never knew reads erased — and mismatched checkpoints stop before any work."""

import json
import shutil

import pytest
from typer.testing import CliRunner

from unlearnscope.cli import app
from unlearnscope.report import load_report

RUN = CliRunner()


@pytest.fixture(scope="module")
def audited(small_organism, tmp_path_factory):
    org = small_organism("facts")
    base = tmp_path_factory.mktemp("ckpt")
    copy = base / "orig-copy"
    shutil.copytree(org.variant_path("orig"), copy)
    never = org.variant_path("ref2")  # a never-knew model of another weight seed, not among the references
    out = base / "report"
    res = RUN.invoke(
        app,
        [
            "audit",
            "--size",
            "small",
            "--quick",
            "--attacks",
            "off",
            "--methods",
            "ablate",
            "--unlearned",
            f"orig-copy={copy},never-knew={never}",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    return org, json.loads(res.stdout), load_report(out)


def test_checkpoints_beside_a_method_json_contract(audited):
    _, summary, report = audited
    rows = {v["method"]: v for v in summary["verdicts"]}
    assert list(rows) == ["ablate", "orig-copy", "never-knew"]
    assert rows["ablate"]["source"] == "method"
    assert rows["orig-copy"]["source"] == rows["never-knew"]["source"] == "checkpoint"
    assert all(
        r["source"] == s for r, s in zip(report["verdict_table"], ["method", "checkpoint", "checkpoint"], strict=True)
    )


def test_checkpoint_verdicts_against_ground_truth(audited):
    _, _, report = audited
    rows = {r["method"]: r for r in report["verdict_table"]}
    # a copy of ORIG knows everything ORIG knows
    assert rows["orig-copy"]["verdict"] == "not unlearned"
    assert rows["orig-copy"]["behavioural_rki"]["value"] > 0.9
    # a model that never saw the forget facts has nothing to recover
    assert rows["never-knew"]["knowledge_verdict"] == "erased", rows["never-knew"]["reason"]
    assert abs(rows["never-knew"]["behavioural_rki"]["value"]) < 0.2
    # no NOISE control for a checkpoint (what made it is unknown); the method keeps its own
    assert set(report["sections"]["noise"]) == {"ablate"} and report["sections"]["noise"]["ablate"] is not None


def test_provenance_names_each_checkpoint_and_times_every_stage(audited):
    org, _, report = audited
    prov = report["provenance"]
    cks = prov["checkpoints"]
    assert cks["orig-copy"]["fingerprint"] == prov["original_fingerprint"]  # the same weights
    assert cks["never-knew"]["fingerprint"] not in (prov["original_fingerprint"], *prov["reference_fingerprints"])
    assert cks["never-knew"]["origin"]["resolved"] == str(org.variant_path("ref2").resolve())
    stages = {s["stage"]: s for s in prov["stage_timings"]["stages"]}
    assert any(k.startswith("localize") for k in stages) and "verify: never-knew (checkpoint)" in stages
    assert all(s["seconds"] >= 0 for s in stages.values()) and prov["stage_timings"]["total_seconds"] > 10
    assert all(s["peak_rss_mib"] is None or s["peak_rss_mib"] > 50 for s in stages.values())


@pytest.fixture(scope="module")
def mismatched(small_organism, tiny_dirs, tmp_path_factory):
    """Checkpoints that cannot be compared with the organism's ORIG: another architecture (a tiny
    GPT-2), and ORIG's weights with another tokenizer."""
    from unlearnscope.model.tiny import tiny_tokenizer

    org = small_organism("facts")
    base = tmp_path_factory.mktemp("bad")
    other_tok = base / "other-tok"
    shutil.copytree(org.variant_path("orig"), other_tok)
    for f in other_tok.glob("*token*"):
        f.unlink()
    tiny_tokenizer().save_pretrained(other_tok)
    return org, {"arch": tiny_dirs("gpt2"), "tok": other_tok}, base


def test_mismatched_checkpoints_stop_before_any_work(mismatched, monkeypatch):
    import unlearnscope.audit.facts as facts

    org, bad, base = mismatched

    def never(*a, **k):
        raise AssertionError("localization ran before the checkpoints were checked")

    monkeypatch.setattr(facts, "localize_target", never)
    out = base / "r"
    cases = {
        f"x={bad['arch']}": "checkpoint 'x' .* has another architecture than ORIG: .*n_embd",
        f"y={bad['tok']}": "checkpoint 'y' .* has another tokenizer than ORIG: vocabulary",
        "npo": "NAME=PATH",
        f"a={bad['tok']},a={bad['tok']}": "unique",
        f"ablate={bad['tok']}": "differ from the audit's methods",
    }
    for spec, msg in cases.items():
        args = ["audit", "--size", "small", "--quick", "--unlearned", spec, "--out", str(out)]
        res = RUN.invoke(app, args + (["--methods", "ablate"] if spec.startswith("ablate=") else []))
        assert res.exit_code == 2, (spec, res.output)
        import re

        assert re.search(msg, res.output), (spec, res.output)
        assert not out.exists()


def test_a_reference_that_does_not_match_is_named(mismatched, small_organism, tmp_path):
    org, bad, _ = mismatched
    from unlearnscope.audit import organism_target

    target = tmp_path / "facts.jsonl"
    target.write_text("\n".join(json.dumps(r) for r in organism_target(org).to_records()))
    res = RUN.invoke(
        app,
        [
            "audit",
            "--original",
            str(org.variant_path("orig")),
            "--reference",
            str(bad["arch"]),
            "--target",
            str(target),
            "--unlearned",
            f"copy={org.variant_path('orig')}",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert res.exit_code == 2 and "reference" in res.output and "another architecture" in res.output, res.output
    assert not (tmp_path / "r").exists()


def test_checkpoints_from_python_and_nothing_to_audit(small_organism):
    from unlearnscope.audit import load_config
    from unlearnscope.errors import UnlearnscopeError

    cfg = load_config(unlearned="npo=/some/where,rmu=/else")
    assert cfg.method_names == () and [(c.name, c.path) for c in cfg.checkpoints] == [
        ("npo", "/some/where"),
        ("rmu", "/else"),
    ]
    assert load_config(unlearned="npo=/x", methods=("ga",)).method_names == ("ga",)
    with pytest.raises(UnlearnscopeError, match="nothing to audit"):
        load_config(methods=())


def test_output_metrics_per_model_with_open_unlearning_names(audited):
    _, _, report = audited
    om = report["output_metrics"]
    assert list(om) == ["original", "reference", "ablate", "orig-copy", "never-knew"]
    v = lambda m, k: om[m][k]["agg_value"]
    # the copy of ORIG is ORIG (the same numbers); the never-knew model reads like REF
    assert v("orig-copy", "forget_truth_ratio") == pytest.approx(v("original", "forget_truth_ratio"))
    assert v("orig-copy", "forget_quality") < 1e-6 and v("orig-copy", "privleak") < -80
    assert v("never-knew", "forget_quality") > 0.05 and abs(v("never-knew", "mia_min_k") - 0.5) < 0.15
    assert report["sections"]["output_metrics"]["computed"] and report["sections"]["output_metrics"]["n_holdout"] > 0
