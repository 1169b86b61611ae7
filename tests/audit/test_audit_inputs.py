"""Bad input to the audit fails early with a clear message, the line it is on, and exit code 2;
an interrupted run leaves nothing behind."""

import json

import pytest
from typer.testing import CliRunner

from unlearnscope.audit import load_config, load_target, organism_target
from unlearnscope.cli import app
from unlearnscope.errors import UnlearnscopeError

RUN = CliRunner()


@pytest.fixture(scope="module")
def facts(small_organism):
    org = small_organism("facts")
    return org, org.load("orig")


def _write(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_target_file_round_trips_the_organism_target(facts, tmp_path):
    org, orig = facts
    t = organism_target(org)
    path = _write(tmp_path / "facts.jsonl", t.to_records())
    back = load_target(path, orig)
    assert back.manifest()["forget_sha256"] == t.manifest()["forget_sha256"]
    assert back.manifest()["retain_sha256"] == t.manifest()["retain_sha256"]
    assert back.manifest()["entity_disjoint"] and back.bos == "<bos>"
    assert {k: len(v) for k, v in back.formats.items()} == {k: len(v) for k, v in t.formats.items()}
    assert len(back.forget_items) == len(t.forget_items) and back.forget_items[0].prompt == t.forget_items[0].prompt


def test_noise_records_train_noise_and_without_them_half_the_retain_entities_do(facts, tmp_path):
    """NOISE data is disjoint from every evaluated set: the target's ``noise`` records, or else a
    seeded half of its retain entities, which then leave the evaluated retain set."""
    org, orig = facts
    t = organism_target(org)
    rows = t.to_records()
    assert {i.subject for i in t.noise_items} == set(org.ground_truth["splits"]["never-seen"])
    with_noise = load_target(_write(tmp_path / "n.jsonl", rows), orig)
    assert len(with_noise.noise_items) == len(t.noise_items) and with_noise.noise_source == "the target's noise records"
    plain = [r for r in rows if r["split"] != "noise"]
    a, b = (load_target(_write(tmp_path / f"p{s}.jsonl", plain), orig, seed=s) for s in (0, 1))
    retain_entities = {f.subject for f in t.retain}
    for x in (a, b):
        held, kept = {i.subject for i in x.noise_items}, {f.subject for f in x.retain}
        assert held | kept == retain_entities and not held & kept and len(held) == len(retain_entities) // 2
        assert not held & {f.subject for f in x.incontext_pool} and x.manifest()["entity_disjoint"]
    assert {i.subject for i in a.noise_items} != {i.subject for i in b.noise_items}  # seeded
    overlap = [*plain, {**next(r for r in rows if r["split"] == "retain"), "split": "noise"}]
    with pytest.raises(UnlearnscopeError, match="retain and noise must be entity-disjoint"):
        load_target(_write(tmp_path / "o.jsonl", overlap), orig)


def test_malformed_target_lines_are_named(facts, tmp_path):
    org, orig = facts
    good = organism_target(org).to_records()[:2]
    cases = {
        "line 3 is not a JSON record": [json.dumps(good[0]), json.dumps(good[1]), '{"prompt": "<bos> x lives in", '],
        "line 2 lacks subject": [good[0], {k: v for k, v in good[1].items() if k != "subject"}],
        "line 1 has split 'forgotten'": [{**good[0], "split": "forgotten"}],
        "cannot represent subject 'qqzzx vizumu'": [
            {**good[0], "subject": "qqzzx vizumu", "prompt": "<bos> qqzzx vizumu lives in"}
        ],
        "line 2: subject 'oslo' not found in the prompt": [
            good[0],
            {**good[1], "subject": "oslo"},
        ],  # checked in one batch, then located
        "needs forget and retain facts": [good[0]],
    }
    for i, (msg, rows) in enumerate(cases.items()):
        with pytest.raises(UnlearnscopeError, match=msg.replace("(", r"\(")):
            load_target(_write(tmp_path / f"t{i}.jsonl", rows), orig)
    with pytest.raises(UnlearnscopeError, match="does not exist"):
        load_target(tmp_path / "missing.jsonl", orig)


def test_retain_records_of_unused_kinds_are_named_not_dropped_silently(facts, tmp_path):
    org, orig = facts
    rows = organism_target(org).to_records()
    retain = next(r for r in rows if r["split"] == "retain")
    with pytest.warns(UserWarning, match=r"retain records of kind \['paraphrase'\] are not used"):
        t = load_target(_write(tmp_path / "t.jsonl", rows + [{**retain, "kind": "paraphrase"}]), orig)
    assert len(t.retain) == len(organism_target(org).retain)


def test_cli_bad_input_exit_codes(facts, tmp_path):
    org, _ = facts
    bad = _write(tmp_path / "bad.jsonl", ['{"prompt": 1}', "not json"])
    model = str(org.variant_path("orig"))
    res = RUN.invoke(app, ["audit", "--model", model, "--target", str(bad), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "line 2 is not a JSON record" in res.output
    res = RUN.invoke(app, ["audit", "--model", model])
    assert res.exit_code == 2 and "needs --target" in res.output
    res = RUN.invoke(app, ["audit", "--methods", "ga,teleport", "--size", "small", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "teleport" in res.output and "localized" in res.output
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    good = _write(tmp_path / "good.jsonl", organism_target(org).to_records())
    res = RUN.invoke(app, ["audit", "--model", model, "--target", str(good), "--out", str(blocker / "report")])
    assert res.exit_code == 2 and "cannot write the report" in res.output
    assert not (tmp_path / "r").exists()


def test_config_file_and_flags(tmp_path):
    cfg_path = tmp_path / "audit.toml"
    cfg_path.write_text(
        '[audit]\nmethods = ["ga", "ablate"]\nstop_at = 0.2\n[audit.verify.rules]\nmargin = '
        "0.15\n[audit.verify.relearn]\nsteps = 7\n"
    )
    cfg = load_config(cfg_path, stop_at=0.05)
    assert cfg.method_names == ("ga", "ablate") and cfg.stop_at == 0.05
    assert cfg.verify.rules.margin == 0.15 and cfg.verify.setting("relearn").steps == 7
    assert load_config(quick=True).verify.setting("relearn").steps == 15
    assert load_config().unlearning_seeds == (0, 1, 2) and load_config(quick=True).unlearning_seeds == (0, 1)
    assert load_config(seeds=(0, 1, 2, 3)).unlearning_seeds == (0, 1, 2, 3)
    with pytest.raises(UnlearnscopeError, match="seeds must be distinct and at least one"):
        load_config(seeds=())
    (tmp_path / "bad.toml").write_text("[audit]\nmethodz = ['ga']\n")
    with pytest.raises(UnlearnscopeError, match="unknown keys \\['methodz'\\]"):
        load_config(tmp_path / "bad.toml")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(UnlearnscopeError, match="not valid JSON"):
        load_config(tmp_path / "broken.json")
    with pytest.raises(UnlearnscopeError, match="unknown organism"):
        load_config(organism="dragons")


def test_attack_budgets(tmp_path):
    from unlearnscope.audit.config import with_attack_budget, worst_case_attacks
    from unlearnscope.evaluate.sweep import FULL_SWEEP, QUICK_SWEEP

    cfg = load_config()
    assert cfg.attacks == "quick"
    quick, full, off = (with_attack_budget(cfg.verify, b) for b in ("quick", "full", "off"))
    worst = set(worst_case_attacks())
    assert worst == {"direction_ablation", "quant", "component_revert", "router_restore", "relearn:sweep"}
    assert worst <= set(quick.attacks) and quick.setting("relearn:sweep") == QUICK_SWEEP
    assert full.setting("relearn:sweep") == FULL_SWEEP
    assert len(FULL_SWEEP.configs()) * len(FULL_SWEEP.steps) > 10 * len(QUICK_SWEEP.configs()) * len(QUICK_SWEEP.steps)
    assert not worst & set(off.attacks) and {"relearn", "incontext"} <= set(off.attacks)
    for table in ("sweep", '"relearn:sweep"'):  # the old name of the sweep's table still reads
        (tmp_path / "s.toml").write_text(
            f'[audit]\nattacks = "full"\n[audit.verify.{table}]\nparams = ["lora:2"]\nlrs = [0.01]\n'
        )
        mine = with_attack_budget(load_config(tmp_path / "s.toml").verify, "full").setting("relearn:sweep")
        assert mine.params == ("lora:2",) and mine.lrs == (0.01,)  # a sweep set in the file is kept
    with pytest.raises(UnlearnscopeError, match="attacks must be one of"):
        load_config(attacks="everything")


def test_interrupted_audit_writes_nothing(facts, tmp_path, monkeypatch):
    org, _ = facts
    import unlearnscope.audit.facts as loc

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(loc, "localize_target", interrupt)
    good = _write(tmp_path / "good.jsonl", organism_target(org).to_records())
    out = tmp_path / "reports" / "mine"
    res = RUN.invoke(app, ["audit", "--model", str(org.variant_path("orig")), "--target", str(good), "--out", str(out)])
    assert res.exit_code == 130 and "no report was written" in res.output
    assert not out.exists() and [p.name for p in out.parent.iterdir()] == []


def test_report_write_interrupted_midway_leaves_no_partial_directory(tmp_path, monkeypatch):
    from pathlib import Path

    from unlearnscope.report import write_report

    report = {"kind": "intrinsic_evaluation_report", "name": "x", "created": "now", "verdict_table": [], "runs": {}}
    monkeypatch.delenv("UNLEARNSCOPE_VALIDATE_REPORTS")  # a stub report: this test is about the write, not the schema
    monkeypatch.setattr("unlearnscope.report.html.render_html", lambda r: "<html></html>")
    real = Path.write_text

    def boom(self, text, *a, **k):
        if self.name == "report.html":
            raise KeyboardInterrupt
        return real(self, text, *a, **k)

    monkeypatch.setattr(Path, "write_text", boom)
    with pytest.raises(KeyboardInterrupt):
        write_report(report, tmp_path / "r")
    assert list(tmp_path.iterdir()) == []


def test_old_method_names_and_config_keys_still_read(tmp_path):
    """A 0.1 config: MoE's ``full`` is ``ga`` now, ``probe_seeds`` and ``[verify.verdict]`` moved."""
    from unlearnscope.audit.methods import check_methods

    old = tmp_path / "old.toml"
    old.write_text(
        '[audit]\norganism = "moe"\nmethods = ["experts-off", "full"]\n'
        "[audit.verify]\nprobe_seeds = [0, 1]\n[audit.verify.verdict]\nmargin = 0.25\n"
    )
    cfg = load_config(old)
    assert cfg.method_names == ("experts-off", "ga")
    assert cfg.verify.setting("probe").seeds == (0, 1) and cfg.verify.rules.margin == 0.25
    assert [m.name for m in check_methods(["full"], "refusal")] == ["ga"]
    with pytest.raises(UnlearnscopeError, match=r"\['localized'\] do not apply to the refusal target; its methods: "):
        check_methods(["localized"], "refusal")
    with pytest.raises(UnlearnscopeError, match=r"unknown audit methods \['fulll'\]; choose from"):
        check_methods(["fulll"], "facts")
