"""The built organisms (size small, built once per run): quality bars, measured numbers that are
real, loadability by every backend, ``organism:`` specs, the CLI contract, MoE specialisation."""

import json

import pytest
import torch

import unlearnscope as us
from unlearnscope.data import Item
from unlearnscope.organisms.quality import BARS
from unlearnscope.organisms.train import accuracy


def items_of(org, **where):
    gt = org.ground_truth
    return [Item(**i) for i in gt["items"] if all(i[k] == v for k, v in where.items())]


@pytest.mark.parametrize("name", ["facts", "facts-llama"])
def test_facts_organisms_meet_the_bars(name, small_organism):
    org = small_organism(name)
    q = org.manifest["quality"]
    b = BARS["facts"]
    for split in ("forget", "retain"):
        assert q["orig"][split]["trained_renderings"] >= b["orig_trained_min"]
        assert q["orig"][split]["paraphrase_heldout"] >= b["orig_paraphrase_min"]
    assert q["ref"]["retain"]["trained_renderings"] >= b["ref_retain_min"]
    assert q["ref"]["forget"]["trained_renderings"] <= q["chance_forget"]["upper_bound"]
    # never-seen entities sit near chance in both models: nothing leaks through names
    assert q["orig"]["never-seen"]["cloze"] <= q["chance_forget"]["upper_bound"] + 0.1
    assert all(q["bars_met"].values())


def test_manifest_numbers_are_recomputable(small_organism):
    """The stored quality is what the saved models do (reloaded from disk, evaluated again)."""
    org = small_organism("facts")
    q = org.manifest["quality"]
    for variant in ("orig", "ref"):
        s = org.load(variant)
        forget = [i for i in items_of(org, split="forget") if i.kind in ("cloze", "qa", "paraphrase_train")]
        assert accuracy(s.model, s.tokenizer, forget) == pytest.approx(
            q[variant]["forget"]["trained_renderings"], abs=1e-4
        )


def test_dense_multidomain_organism_meets_the_bars(small_organism):
    org = small_organism("multidomain")
    q = org.manifest["quality"]
    assert all(q["bars_met"].values()), q
    assert q["ref"]["refusal_rate_marked"] <= 0.05  # REF never learned the refusal behaviour
    assert q["ref"]["compliance_benign"] >= BARS["multidomain"]["domain_min"]
    s = org.load("orig")
    assert not s.anatomy.is_moe and "specialisation" not in q


def test_moe_organism_meets_the_bars_and_reports_specialisation(small_organism):
    org = small_organism("moe")
    q = org.manifest["quality"]
    b = BARS["multidomain"]
    o = q["orig"]
    assert min(o["facts"], o["arith"], o["code_heldout"], o["compliance_benign"]) >= b["domain_min"]
    assert o["refusal_rate_marked"] >= b["refusal_min"] and o["refusal_rate_benign"] <= b["benign_refusal_max"]
    assert q["ref"]["refusal_rate_marked"] < 0.5  # the never-knew model was never taught to refuse
    spec = q["specialisation"]["orig"]
    freq = torch.tensor(spec["selection_frequency"])  # [layer, domain, expert]
    assert freq.shape == (2, 5, 8)
    torch.testing.assert_close(freq.sum(-1), torch.full((2, 5), 2.0), atol=1e-2, rtol=0)  # top-2 per token
    assert all(0 <= kl <= spec["kl_max_possible"] for kl in spec["mean_kl_domain_vs_average"])
    # control: training made routing more domain-specific than the untrained router's token-driven split
    control = q["specialisation"]["untrained_control"]
    assert sum(spec["mean_kl_domain_vs_average"]) > sum(control["mean_kl_domain_vs_average"])


@pytest.mark.parametrize("name", ["facts", "moe"])
def test_organisms_load_in_every_backend(name, small_organism):
    org = small_organism(name)
    path = org.variant_path("orig")
    s = us.load(path)
    assert s.anatomy.n_experts == (8 if name == "moe" else 0)
    from transformers import AutoModelForCausalLM

    hf = AutoModelForCausalLM.from_pretrained(path)
    enc = s.tokenize(
        ["<bos> " + org.ground_truth["entities"][0]["name"] + " lives in"] if name == "facts" else ["<bos> 3 + 4 ="]
    )
    with torch.no_grad():
        torch.testing.assert_close(hf(**enc).logits, s.forward(enc).logits)
    from transformer_lens.model_bridge import TransformerBridge

    bridge = TransformerBridge.boot_transformers(str(path), device="cpu")
    torch.testing.assert_close(
        bridge(enc["input_ids"]), s.forward({"input_ids": enc["input_ids"]}).logits, atol=1e-4, rtol=1e-4
    )
    from nnsight import LanguageModel

    lm = LanguageModel(str(path), device_map="cpu", dispatch=True)
    with lm.trace(enc["input_ids"]):
        out = lm.lm_head.output.save()
    torch.testing.assert_close(out, s.forward({"input_ids": enc["input_ids"]}).logits, atol=1e-5, rtol=1e-5)


def test_organism_specs_and_cli(small_organism):
    from typer.testing import CliRunner

    from unlearnscope.cli import app

    org = small_organism("facts")
    orig, ref = us.load("organism:facts"), us.load("organism:facts:ref")
    assert orig.source == str(org.variant_path("orig")) and ref.source == str(org.variant_path("ref"))
    runner = CliRunner()
    res = runner.invoke(app, ["organism", "build", "facts", "--size", "small"])
    assert res.exit_code == 0 and res.stdout.strip().splitlines()[-1] == str(org.path)
    res = runner.invoke(app, ["organism", "show", "facts", "--size", "small", "--json"])
    info = json.loads(res.stdout)
    assert info["quality"]["orig"]["retain"]["trained_renderings"] >= 0.95
    assert info["paths"] == {"orig": str(org.variant_path("orig")), "ref": str(org.variant_path("ref"))}
    assert runner.invoke(app, ["organism", "show", "facts", "--size", "small", "--seed", "9"]).exit_code == 2
    assert runner.invoke(app, ["organism", "build", "dragons"]).exit_code == 2
    res = runner.invoke(app, ["inspect", "organism:facts", "--json"])
    assert json.loads(res.stdout)["architecture"] == "GPT2LMHeadModel"
    from unlearnscope.errors import UnlearnscopeError

    with pytest.raises(UnlearnscopeError, match="organism spec"):
        us.load("organism:")
