"""`unlearnscope localize experts` and `unlearnscope ablate experts`: the JSON contract, organism
prompt sets, user files, and bad input (dense model, expert out of range, missing class)."""

import json

import pytest
from typer.testing import CliRunner

from unlearnscope.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_localize_experts_on_the_moe_organism(small_organism, tmp_path):
    small_organism("moe")
    res = runner.invoke(
        app,
        [
            "localize",
            "experts",
            "--model",
            "organism:moe",
            "--prompts",
            "organism:refusal",
            "--contrast",
            "organism:benign",
            "--method",
            "ftri",
            "--top",
            "4",
            "--validate",
            "--n-random",
            "20",
            "--json",
            "--out",
            str(tmp_path),
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["method"] == "ftri" and out["classes"] == {"answered": 36, "refused": 36}
    assert len(out["ranked_experts"]) == 4 and {"layer", "expert", "score"} == set(out["ranked_experts"][0])
    scores = [r["score"] for r in out["ranked_experts"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    v = out["validation"]["metrics"]["refusal_rate"]
    assert v["baseline"] == 1.0 and len(out["validation"]["experts"]) == 2
    assert (tmp_path / "experts_ftri.json").is_file() and (tmp_path / "experts_ftri.html").is_file()
    res = runner.invoke(
        app,
        [
            "localize",
            "experts",
            "--model",
            "organism:moe",
            "--prompts",
            "organism:refusal",
            "--method",
            "affinity",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    aff = json.loads(res.stdout)["ranked_experts"]
    from unlearnscope import load
    from unlearnscope.localize.experts import routing_stats
    from unlearnscope.sources import load_prompts

    stats = routing_stats(load("organism:moe"), load_prompts("organism:refusal", "organism:moe", full_text=True))
    top = stats.affinity.flatten().topk(2)
    assert [r["score"] for r in aff[:2]] == pytest.approx(top.values.tolist(), abs=1e-5)  # the UOE affinity, recomputed
    assert [(r["layer"], r["expert"]) for r in aff[:2]] == [
        divmod(int(i), stats.affinity.shape[1]) for i in top.indices
    ]
    res = runner.invoke(
        app,
        [
            "localize",
            "experts",
            "--model",
            "organism:moe",
            "--prompts",
            "organism:benign",
            "--method",
            "ftri",
            "--json",
        ],
    )
    assert res.exit_code == 2 and "has no prompts" in res.output  # no benign prompt is refused


@pytest.mark.slow
def test_ablate_experts_on_the_moe_organism(small_organism, tmp_path):
    small_organism("moe")
    res = runner.invoke(
        app,
        [
            "ablate",
            "experts",
            "--model",
            "organism:moe",
            "--experts",
            "0:[0,1,2,3,4,5,6,7]",
            "--mode",
            "drop",
            "--no-renormalize",
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    org = out["effect"]["organism"]
    assert org["refusal_rate"]["before"] == 1.0 and org["arith"]["after"] < 0.5  # the whole layer-0 MoE output removed
    saved = json.loads((tmp_path / "routing_override.json").read_text())
    assert saved["drop"][0] == [0, 0] and saved["renormalize"] is False


def test_cli_experts_on_tiny_models_and_bad_input(tmp_path):
    prompts = tmp_path / "p.json"
    prompts.write_text(json.dumps(["hello there", {"prompt": "The sky is blue"}, "def add"]))
    res = runner.invoke(app, ["localize", "experts", "--model", "tiny:qwen2_moe", "--prompts", str(prompts), "--json"])
    assert res.exit_code == 0, res.output
    assert len(json.loads(res.stdout)["ranked_experts"]) == 10
    res = runner.invoke(
        app,
        [
            "ablate",
            "experts",
            "--model",
            "tiny:deepseek_v3",
            "--experts",
            "1:2",
            "--mode",
            "off",
            "--prompts",
            str(prompts),
            "--out",
            str(tmp_path / "o"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    eff = json.loads(res.stdout)["effect"]["prompts"]
    assert eff["n"] == 3 and eff["next_token_kl"] >= 0
    for args, msg in [
        (["localize", "experts", "--model", "tiny:gpt2", "--prompts", str(prompts)], "EMoE"),
        (["localize", "experts", "--model", "tiny:mixtral", "--prompts", str(tmp_path / "none.txt")], "not found"),
        (
            ["localize", "experts", "--model", "tiny:mixtral", "--prompts", str(prompts), "--method", "magic"],
            "unknown method",
        ),
        (
            ["ablate", "experts", "--model", "tiny:mixtral", "--experts", "0:9", "--out", str(tmp_path / "x")],
            "out of range",
        ),
        (
            ["ablate", "experts", "--model", "tiny:mixtral", "--experts", "zero", "--out", str(tmp_path / "x")],
            "LAYER:EXPERT",
        ),
        (["ablate", "experts", "--model", "tiny:gpt2", "--experts", "0:1", "--out", str(tmp_path / "x")], "EMoE"),
    ]:
        res = runner.invoke(app, args)
        assert res.exit_code == 2 and msg in res.output, (args, res.output)
    assert not (tmp_path / "x").exists(), "nothing is written on bad input"
