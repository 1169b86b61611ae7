"""docs/extending.md, executed: its plugin — one readout, one attack, one unlearning objective, one
audit method and one benchmark converter — written into a file outside the package and loaded as a
plugin, shows up where the guide says, with numbers checked against ORIG and a never-knew model."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "extending.md"
TOY = {
    "readouts": ("final_rank", "distractor"),
    "objectives": ("capped-ga",),
    "methods": ("last-mlp",),
    "benchmarks": ("csv-facts",),
}


def plugin_source() -> str:
    """The guide's ``# file: toy_plugin.py`` blocks, in order: the plugin as the guide writes it."""
    blocks = re.findall(r"```python\n# file: toy_plugin.py\n(.*?)```", GUIDE.read_text(), re.S)
    assert len(blocks) >= 4, "docs/extending.md lost its plugin blocks"
    return "\n".join(blocks)


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    """The plugin loaded in this process (its entries removed again afterwards)."""
    from unlearnscope.ablate.methods import UNLEARNING_METHODS
    from unlearnscope.audit.methods import AUDIT_METHODS
    from unlearnscope.data.benchmarks import BENCHMARKS
    from unlearnscope.evaluate.registry import builtin
    from unlearnscope.registry import load_plugins

    path = tmp_path_factory.mktemp("plugin") / "toy_plugin.py"
    path.write_text(plugin_source())
    registries = {
        "readouts": builtin(),
        "objectives": UNLEARNING_METHODS,
        "methods": AUDIT_METHODS,
        "benchmarks": BENCHMARKS,
    }
    before = {k: r.names() for k, r in registries.items()}
    load_plugins(str(path))
    yield path
    for k, names in TOY.items():
        for n in names:
            if n in registries[k]:
                registries[k].unregister(n)
    assert {k: r.names() for k, r in registries.items()} == before


def test_the_plugin_registers_one_of_each(plugin):
    from unlearnscope.cli.catalog import rows

    for registry, names in TOY.items():
        listed = [r["name"] for r in rows(registry)] + (
            [r["name"] for r in rows("attacks")] if registry == "readouts" else []
        )
        assert set(names) <= set(listed), (registry, listed)
    from unlearnscope.evaluate.registry import READOUTS
    from unlearnscope.registry import load_plugins

    assert READOUTS["distractor"].is_attack and READOUTS["final_rank"].kind == "intrinsic"
    load_plugins(str(plugin))  # loading it again registers nothing twice
    with pytest.raises(Exception, match="already registered"):
        from unlearnscope.evaluate.registry import readout

        readout("final_rank", "intrinsic")(lambda m: [])  # another module may not take the name


def test_the_readout_and_the_attack_in_a_verification(plugin, small_organism):
    """ORIG audited as unlearned reads RKI 1 on both (the attack's positive control: ORIG keeps its
    recall under the distractor); a third never-knew model reads about 0."""
    from unlearnscope.evaluate import ModelSet, VerdictConfig, VerifyConfig, VerifyData, verify
    from unlearnscope.model.loading import load
    from unlearnscope.organisms import world_facts

    org = small_organism("facts")
    orig, refs = org.load("orig"), [load(org.variant_path(v)) for v in ("ref", "ref1")]
    data = VerifyData.of(world_facts(org, "forget"), world_facts(org, "retain"))
    cfg = VerifyConfig(bos="<bos>", readouts=("final_rank",), attacks=("distractor",), rules=VerdictConfig(n_boot=300))
    as_orig = verify(ModelSet.of(org.load("orig"), orig, refs), data, cfg)
    for name in ("final_rank", "distractor"):
        m = as_orig.metric(name)
        assert m.rki.value == pytest.approx(1.0) and m.original.agg_value > m.reference.agg_value + 0.3, name
    assert as_orig.metric("distractor").original.agg_value > 0.8  # the positive control: ORIG's knowledge is found
    never = verify(ModelSet.of(load(org.variant_path("ref2")), orig, refs), data, cfg)
    for name in ("final_rank", "distractor"):
        assert abs(never.metric(name).rki.value) < 0.2, (name, never.metric(name).rki)
    assert as_orig.config["settings"]["distractor"] == {"text": "the weather was calm ."}
    assert [f.name for f in as_orig.findings] == ["recall", "final_rank", "distractor"]


def test_the_method_runs_in_an_audit_with_the_objective(plugin, organism_home, tmp_path):
    from dataclasses import replace

    from unlearnscope.audit import load_config, run_audit

    cfg = load_config(size="small", methods=("last-mlp",), quick=True, attacks="off", seeds=(0,), output_metrics=False)
    cfg = replace(
        cfg, verify=cfg.verify.with_readouts(readouts=("final_rank",), attacks=("relearn", "distractor"))
    ).validate()
    report = run_audit(cfg, out=tmp_path / "r", progress=False, log=lambda m: None).report
    row = report["verdict_table"][0]
    assert row["method"] == "last-mlp" and row["verdict"] is not None
    run = report["sections"]["interventions"]["last-mlp"]
    assert run["unlearning"]["method"] == "capped-ga" and run["region"] == ["blocks.3.mlp"]
    names = [m["name"] for m in report["runs"]["last-mlp"]["metrics"]]
    assert {"recall", "final_rank", "relearn", "distractor"} <= set(names)
    assert report["sections"]["noise"]["last-mlp"]["components"] == ["blocks.3.mlp"]  # its NOISE trains the same MLP


def test_the_benchmark_converts(plugin, tmp_path):
    from unlearnscope.data.benchmarks import convert

    src = tmp_path / "facts.csv"
    src.write_text("prompt,answer,subject,split\nAda lives in,Paris,Ada,forget\nBo lives in,Rome,Bo,retain\n")
    c = convert("csv-facts", src).counts()
    assert c["n_forget"] == 1 and c["n_retain"] == 1 and c["kinds"] == ["cloze"]


def test_the_cli_help_lists_them(plugin):
    env = {**os.environ, "UNLEARNSCOPE_PLUGINS": str(plugin)}
    exe = [sys.executable, "-m", "unlearnscope.cli"]
    helps = {
        cmd: subprocess.run([*exe, cmd, "--help"], env=env, capture_output=True, text=True, check=True).stdout.replace(
            "\n", " "
        )
        for cmd in ("verify", "audit", "unlearn", "target")
    }
    squash = {k: re.sub(r"[\s│]+", " ", v) for k, v in helps.items()}
    assert "final_rank" in squash["verify"] and "distractor" in squash["verify"]
    assert "last-mlp" in squash["audit"] and "capped-ga" in squash["unlearn"] and "csv-facts" in squash["target"]
    listed = json.loads(
        subprocess.run([*exe, "list", "--json"], env=env, capture_output=True, text=True, check=True).stdout
    )
    assert "last-mlp" in [r["name"] for r in listed["methods"]]
    plain = subprocess.run(
        [*exe, "audit", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "UNLEARNSCOPE_PLUGINS"},
    ).stdout
    assert "last-mlp" not in re.sub(r"[\s│]+", " ", plain)  # without the plugin, nothing of it
