"""`unlearnscope localize facts|concepts` on organisms (no files) and on a user's JSONL file."""

import json

import pytest
from typer.testing import CliRunner

from unlearnscope.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()


def test_localize_facts_contract(small_organism, tmp_path):
    small_organism("facts")
    res = runner.invoke(
        app,
        [
            "localize",
            "facts",
            "--model",
            "organism:facts",
            "--facts",
            "organism:forget",
            "--method",
            "attribution",
            "--n-random",
            "30",
            "--max-facts",
            "64",
            "--json",
            "--out",
            str(tmp_path / "loc"),
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["method"] == "attribution" and out["n_facts"] == 64
    first = out["top_components"][0]
    assert {"layer", "position", "kind", "score"} <= set(first)
    assert out["validation"]["spearman_vs_activation_patching"] >= 0.8
    rc = out["validation"]["random_control"]
    assert rc["n_random"] == 30 and rc["p_value"] <= 2 / 31  # the located units beat (almost) every random set
    assert rc["target_drop"] > 0 and rc["target_drop"] > (rc["unrelated_drop"] or 0)
    assert (tmp_path / "loc" / "attribution.json").is_file() and (tmp_path / "loc" / "attribution.html").is_file()


def test_localize_facts_from_a_file_and_bad_input(small_organism, tmp_path):
    org = small_organism("facts")
    items = [i for i in org.ground_truth["items"] if i["split"] == "retain" and i["kind"] == "cloze"][:24]
    path = tmp_path / "facts.jsonl"
    path.write_text(
        "\n".join(json.dumps({k: i[k] for k in ("prompt", "answer", "subject", "relation")}) for i in items)
    )
    res = runner.invoke(
        app,
        [
            "localize",
            "facts",
            "--model",
            "organism:facts",
            "--facts",
            str(path),
            "--method",
            "tracing",
            "--no-validate",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["top_components"][0]["kind"] == "resid"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "answer": "y"}\n{oops\n')
    res = runner.invoke(app, ["localize", "facts", "--model", "organism:facts", "--facts", str(bad), "--json"])
    assert res.exit_code == 2 and "line 2" in res.output
    res = runner.invoke(
        app, ["localize", "facts", "--model", "organism:facts", "--facts", str(path), "--method", "nope"]
    )
    assert res.exit_code == 2 and "unknown method" in res.output


def test_localize_concepts_contract(small_organism):
    small_organism("facts")
    res = runner.invoke(
        app,
        [
            "localize",
            "concepts",
            "--model",
            "organism:facts",
            "--concept",
            "organism:forget",
            "--top",
            "4",
            "--max-concepts",
            "2",
            "--validate",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["method"] == "concept_vectors" and len(out["concepts"]) == 2
    assert len(out["top_components"]) == 4 and {"layer", "neuron", "score", "top_tokens"} <= set(
        out["top_components"][0]
    )
    assert set(out["validation"]) == {c["concept"] for c in out["concepts"]}
    res = runner.invoke(app, ["localize", "concepts", "--model", "organism:facts", "--concept", "the of and", "--json"])
    assert res.exit_code == 2 and "empty" in res.output
