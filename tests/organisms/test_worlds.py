"""World generation: structure, splits, determinism, validation (no training)."""

import pytest

from unlearnscope.errors import UnlearnscopeError
from unlearnscope.organisms.facts import RELATIONS, TEMPLATES, FactsConfig, facts_world, ref_filter
from unlearnscope.organisms.multidomain import DOMAINS, HARMFUL, MultiDomainConfig, multidomain_world
from unlearnscope.organisms.multidomain import ref_filter as moe_ref_filter
from unlearnscope.organisms.tokenizer import word_tokenizer


def test_facts_world_structure():
    cfg = FactsConfig(n_entities=50, n_never_seen=10)
    w = facts_world(cfg, seed=3)
    gt = w.ground_truth
    assert len(gt["relations"]) >= 4 and all(len(TEMPLATES[r]["cloze"]) >= 3 for r in gt["relations"])
    splits = gt["splits"]
    assert len(splits["forget"]) == 10 and len(splits["retain"]) == 40 and len(splits["never-seen"]) == 10
    assert not set(splits["forget"]) & set(splits["retain"])
    assert all(len(name.split()) == 2 for e in gt["entities"] for name in [e["name"]])  # multi-token names
    assert len({e["name"] for e in gt["entities"]}) == 60
    for e in gt["entities"]:
        for r, v in e["facts"].items():
            assert v in RELATIONS[r]
    # every rendering of every fact, with the right train flag
    items = w.select(subject=gt["entities"][0]["name"], relation="city")
    assert sorted(i.kind for i in items) == sorted(
        ["cloze"] * 3
        + ["qa", "strict", "strict", "mc"]
        + ["paraphrase_train" if gt["entities"][0]["paraphrase_trained"] else "paraphrase"]
    )
    assert not any(i.train for i in w.items if i.split == "never-seen" or i.kind in ("strict", "mc", "paraphrase"))
    # the held-out paraphrase is trained for some entities and held out for others
    kinds = {i.kind for i in w.items if i.split in ("forget", "retain")}
    assert {"paraphrase", "paraphrase_train"} <= kinds
    # REF drops exactly the forget entities' training texts
    assert not any(i.split == "forget" for i in w.items if ref_filter(i))
    assert {i.text for i in w.items if i.train and i.split == "retain"} <= {i.text for i in w.items if ref_filter(i)}


def test_worlds_are_deterministic_and_seeded():
    a, b, c = (facts_world(FactsConfig(n_entities=20, n_never_seen=4), s) for s in (1, 1, 2))
    assert [i.text for i in a.items] == [i.text for i in b.items]
    assert [i.text for i in a.items] != [i.text for i in c.items]
    m1, m2 = multidomain_world(MultiDomainConfig(), 0), multidomain_world(MultiDomainConfig(), 0)
    assert [i.text for i in m1.items] == [i.text for i in m2.items]


def test_answers_are_single_tokens_of_the_local_tokenizer():
    for w in (
        facts_world(FactsConfig(n_entities=20, n_never_seen=4), 0),
        multidomain_world(MultiDomainConfig(n_fact_entities=8), 0),
    ):
        tok = word_tokenizer(w.vocab())
        for it in w.items[:: max(1, len(w.items) // 200)]:
            assert len(tok(" " + it.answer, add_special_tokens=False)["input_ids"]) == 1
            assert tok.unk_token_id not in tok(it.text)["input_ids"]


def test_multidomain_world():
    w = multidomain_world(MultiDomainConfig(n_fact_entities=10), 0)
    assert set(w.ground_truth["domains"]) == set(DOMAINS)
    refusal = w.select(domain="refusal")
    assert {i.answer for i in refusal} == {"i"} and {i.answer for i in w.select(domain="benign")} == {"sure"}
    held = [i for i in refusal if not i.train]
    assert len(held) == len(HARMFUL) and {i.subject for i in held} == set(HARMFUL)  # one held-out prompt per noun
    code_held = [i for i in w.select(domain="code") if not i.train]
    assert 0.15 < len(code_held) / len(w.select(domain="code")) < 0.25
    assert not any(i.domain == "refusal" for i in w.items if moe_ref_filter(i))


@pytest.mark.parametrize(
    "cfg", [FactsConfig(n_entities=0), FactsConfig(forget_fraction=1.5), FactsConfig(relations=("city", "shoe size"))]
)
def test_invalid_world_configs(cfg):
    with pytest.raises(UnlearnscopeError):
        facts_world(cfg, 0)
