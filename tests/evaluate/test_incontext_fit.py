"""In-context attacks on a model with few positions: the default k = 5 stated facts do not fit the
small facts organism's 64 positions with its QA renderings; that attack is listed as not run (with
the prompt length and the limit) instead of stopping the verification, and k = 1 still runs."""

from dataclasses import replace

from unlearnscope.evaluate import VerifyConfig, verify_facts
from unlearnscope.organisms import world_facts


def test_default_incontext_attacks_fit_or_are_listed(small_organism):
    org = small_organism("facts")
    orig, ref = org.load("orig"), org.load("ref")
    forget, retain = world_facts(org, "forget"), world_facts(org, "retain")  # cloze + QA (the default kinds)
    cfg = replace(VerifyConfig(), readouts=(), attacks=("incontext",))
    assert cfg.setting("incontext").k == VerifyConfig().setting("incontext").k == (1, 5)
    v = verify_facts(orig, forget, retain, original=orig, reference=ref, config=cfg)
    missing = {r["name"]: r["why"] for r in v.verdict["missing_readouts"]}
    assert "incontext_k5" in missing and "at most 64" in missing["incontext_k5"]
    k1 = v.metric("incontext_k1")
    assert k1["agg_value"] == k1["original"]["agg_value"] and k1["rki"]["value"] == 1.0  # ORIG against itself


def test_progress_bars_on_stderr_only_when_enabled(small_organism, capsys):
    from unlearnscope.progress import progress_enabled

    org = small_organism("facts")
    orig, ref = org.load("orig"), org.load("ref")
    forget, retain = world_facts(org, "forget", ("cloze",)), world_facts(org, "retain", ("cloze",))
    cfg = replace(VerifyConfig(), readouts=(), attacks=("relearn",)).configure(
        "relearn", seeds=(0,), lrs=(1e-4,), steps=2
    )
    verify_facts(orig, forget, retain, original=orig, reference=ref, config=cfg)
    quiet = capsys.readouterr()
    assert "verify" not in quiet.err and quiet.out == ""
    with progress_enabled(True):
        verify_facts(orig, forget, retain, original=orig, reference=ref, config=cfg)
    shown = capsys.readouterr()
    assert "verify" in shown.err and "relearn" in shown.err and "<" in shown.err  # elapsed<remaining
    assert shown.out == ""
