"""SAE features with sae-lens on the small facts organism."""

import pytest
import torch

from unlearnscope.errors import HookNameError, UnlearnscopeError
from unlearnscope.localize.concepts import ablate_latents, load_sae, rank_latents, sae_features, train_sae

pytestmark = pytest.mark.slow
HOOK = "blocks.2.hook_resid_post"


@pytest.fixture(scope="module")
def trained(small_organism, tmp_path_factory):
    org = small_organism("facts")
    s = org.load("orig")
    items = org.ground_truth["items"]
    texts = [i["prompt"] + " " + i["answer"] + i["continuation"] for i in items if i["train"]]
    out = tmp_path_factory.mktemp("sae") / "l2"
    sae = train_sae(s, texts, HOOK, d_sae=256, training_tokens=40_000, out=out)
    return org, s, items, sae, out


def test_sae_reconstructs_and_round_trips(trained):
    org, s, items, sae, out = trained
    prompts = [i["prompt"] for i in items if i["kind"] == "qa"][:64]
    enc = s.tokenize(prompts)
    with s.capture(HOOK) as c:
        s.model(**enc)
    x = c[HOOK][enc["attention_mask"].bool()]
    recon = sae.decode(sae.encode(x))
    fvu = ((x - recon) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
    assert fvu < 0.5, float(fvu)  # explains most of the variance
    back = load_sae(out)
    assert back.unlearnscope_hook == HOOK
    torch.testing.assert_close(back.W_dec, sae.W_dec)


def test_latents_ranked_for_a_relation_generalise_to_held_out_prompts(trained):
    org, s, items, sae, out = trained
    city = [i["prompt"] for i in items if i["relation"] == "city" and i["kind"] == "cloze"]
    sport = [i["prompt"] for i in items if i["relation"] == "sport" and i["kind"] == "cloze"]
    half_c, half_s = len(city) // 2, len(sport) // 2
    ranking = rank_latents(s, sae, city[:half_c], sport[:half_s])
    best = ranking.top(3)
    held_c = sae_features(s, sae, city[half_c:])[:, best].float().mean(0)
    held_s = sae_features(s, sae, sport[half_s:])[:, best].float().mean(0)
    assert torch.all(held_c > held_s), (held_c, held_s)
    same = rank_latents(s, sae, city[:half_c], city[:half_c])
    assert same.scores.abs().max() < 1e-5
    assert ranking.plot().data


def test_latent_ablation_removes_exactly_the_decoded_directions(trained):
    org, s, items, sae, out = trained
    enc = s.tokenize([i["prompt"] for i in items[:8]])
    with s.capture(HOOK) as c:
        s.model(**enc)
    x = c[HOOK]
    latents = [0, 5, 17]
    with ablate_latents(s, sae, latents), s.capture(HOOK) as c2:
        s.model(**enc)
    f = sae.encode(x)[..., latents]
    torch.testing.assert_close(c2[HOOK], x - f @ sae.W_dec[latents])
    with s.capture(HOOK) as c3:
        s.model(**enc)
    torch.testing.assert_close(c3[HOOK], x)  # unhooked afterwards


def test_sae_bad_input(trained, tmp_path):
    org, s, items, sae, out = trained
    with pytest.raises(UnlearnscopeError, match="module-output point"):
        train_sae(s, ["a"], "blocks.1.mlp.hook_post")
    with pytest.raises(HookNameError):
        train_sae(s, ["a"], "blocks.9.hook_nothing")
    with pytest.raises(UnlearnscopeError, match="empty text set"):
        train_sae(s, [], HOOK)
    with pytest.raises(UnlearnscopeError, match="out of range"):
        with ablate_latents(s, sae, [10**6]):
            pass
    with pytest.raises(UnlearnscopeError, match="no SAE directory"):
        load_sae(tmp_path / "missing")


def test_probes_on_sae_latents(trained):
    """Linear probes read the facts from the SAE's latents about as well as from the residual
    stream they encode, and beat their shuffled-label and majority controls."""
    from unlearnscope.localize.concepts import sae_probe_features
    from unlearnscope.organisms import world_facts
    from unlearnscope.probes import ProbeConfig, probe_model

    org, s, items, sae, out = trained
    F, R = world_facts(org, "forget"), world_facts(org, "retain")
    lat = probe_model(s, F, R, mode="transfer", features=sae_probe_features(sae))
    res = probe_model(s, F, R, mode="transfer", config=ProbeConfig(layers=(3,)))  # depth 3 = blocks.2.hook_resid_post
    assert lat.groups == [(-1, f"sae:{HOOK}")]
    a_lat, a_res = float(lat.accuracy()[0]), float(res.accuracy()[0])
    assert a_lat > float(lat.accuracy("shuffled")[0]) + 0.15 and a_lat > float(lat.accuracy("majority")[0]) + 0.15
    assert abs(a_lat - a_res) < 0.25, (a_lat, a_res)
