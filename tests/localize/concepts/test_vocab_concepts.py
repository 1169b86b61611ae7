"""Vocabulary projection and the concept-vector scan on tiny models with a planted concept vector."""

import pytest
import torch

from tests.conftest import make_subject
from unlearnscope.errors import UnlearnscopeError
from unlearnscope.localize.concepts import Lexicon, iter_value_vectors, scan_concept, top_tokens, value_groups
from unlearnscope.localize.concepts.text_metrics import bleu, rouge_l
from unlearnscope.model.unembed import project


def test_projection_raw_and_logit_lens():
    s = make_subject("gpt2")
    v = torch.randn(3, s.anatomy.d_model)
    W_U = s.anatomy.unembed
    torch.testing.assert_close(project(s, v), v @ W_U.T)
    with torch.no_grad():
        torch.testing.assert_close(project(s, v, lens=True), s.anatomy.final_norm(v) @ W_U.T)
    ids, vals, strings = top_tokens(s, v[0], k=5)
    assert ids.shape == (5,) and len(strings) == 5 and torch.all(vals[:-1] >= vals[1:])
    with pytest.raises(UnlearnscopeError, match="d_model"):
        project(s, torch.randn(3, s.anatomy.d_model + 1))


@pytest.mark.parametrize("model_type", ["gpt2", "llama", "mixtral", "qwen2_moe"])
def test_value_vector_stream_covers_every_vector_in_bounded_chunks(model_type):
    s = make_subject(model_type)
    a = s.anatomy
    seen = {}
    for ch in iter_value_vectors(s, chunk=7):
        assert ch.vectors.shape[0] <= 7 and ch.vectors.shape[1] == a.d_model
        seen.setdefault((ch.layer, ch.expert), set()).update(range(ch.start, ch.start + ch.vectors.shape[0]))
        torch.testing.assert_close(ch.vectors, a.values(ch.layer, ch.expert)[ch.start : ch.start + ch.vectors.shape[0]])
    for (l, e), rows in seen.items():
        assert rows == set(range(a.values(l, e).shape[0]))
    n_groups = sum(
        a.n_experts + (1 if a.family.moe and a.family.moe.shared else 0) if l in a.moe_layers else 1
        for l in range(a.n_layers)
    )
    assert len(seen) == n_groups


@pytest.mark.parametrize("model_type,expert", [("gpt2", None), ("llama", None), ("mixtral", 2)])
def test_scan_finds_a_planted_concept_vector(model_type, expert):
    s = make_subject(model_type)
    a = s.anatomy
    lex = Lexicon.from_tokens(s, [101, 202, 303])
    layer, neuron = a.n_layers - 1, 5
    direction = a.unembed[lex.token_ids].detach().sum(0)
    with torch.no_grad():
        V = a.values(layer, expert)
        V[neuron] = direction / direction.norm() * V.norm(dim=1).mean()
    scan = scan_concept(s, lex, top=5, hits_k=len(lex))
    best = scan.top[0]
    assert (best["layer"], best["expert"], best["neuron"]) == (layer, expert, neuron)
    assert best["hits"] == len(lex)  # every lexicon token is among its top-|lexicon| tokens
    assert best["score"] > scan.score_mean + 5 * scan.score_std
    assert scan.n_vectors == sum(a.values(l, e).shape[0] for l, e in value_groups(s))
    comps = scan.components(1, subject=s)
    assert comps.n_params == a.d_model
    assert len(scan.plot().data) == 2


@pytest.mark.parametrize("model_type,lens", [("gpt2", False), ("gpt2", True), ("llama", True), ("qwen2_moe", False)])
def test_concept_scores_equal_the_definition_on_every_vector(model_type, lens):
    """Scores without projecting = the module doc's definition computed from the full logits."""
    from unlearnscope.localize.concepts import concept_scores, value_groups

    s = make_subject(model_type)
    lex = Lexicon.from_tokens(s, [7, 19, 40])
    vs = concept_scores(s, lex, lens=lens, max_chunk_bytes=4 * 8 * s.anatomy.d_model)  # tiny chunks: 4 rows
    assert vs.groups == value_groups(s)
    expected = []
    for layer, expert in vs.groups:
        z = project(s, s.anatomy.values(layer, expert), lens).double()
        expected.append(((z[:, lex.token_ids] - z.mean(-1, keepdim=True)) / z.std(-1, keepdim=True)).mean(-1))
    torch.testing.assert_close(vs.scores.double(), torch.cat(expected), rtol=1e-4, atol=1e-4)
    layer, expert, neuron = vs.locate(vs.offsets[-2] + 3)
    assert (layer, expert, neuron) == (*vs.groups[-1], 3)


def test_lexicon_errors_and_text_lexicons():
    s = make_subject("gpt2")
    with pytest.raises(UnlearnscopeError, match="empty"):
        Lexicon.from_text(s, "the of and , .")
    lex = Lexicon.from_text(s, "Paris is the capital of France")
    assert not {"the", "of", "is"} & {t.lstrip("Ġ").lower() for t in lex.tokens}
    with pytest.raises(UnlearnscopeError, match="outside the vocabulary"):
        Lexicon.from_tokens(s, [10**9])
    s.tokenizer = None  # a model loaded without its tokenizer: ids still make a lexicon, words do not
    assert Lexicon.from_tokens(s, [5, 9, 5]).token_ids == [5, 9]
    with pytest.raises(UnlearnscopeError, match="needs a tokenizer"):
        Lexicon.from_tokens(s, ["paris"])


def test_generation_similarity_metrics():
    assert bleu("a b c d", "a b c d") == pytest.approx(1.0)
    assert rouge_l("a b c d", "a b c d") == pytest.approx(1.0)
    assert rouge_l("a b c d", "x y z") == 0.0
    assert rouge_l("a b c d", "a c") == pytest.approx(2 * (1 * 0.5) / 1.5)
    assert bleu("a b c d e", "x y z w v") < 0.1
    assert rouge_l("", "a") == 0.0
    # rouge-score's tokenisation (what the field reports): case and punctuation are not words
    assert rouge_l("The cat, sat.", "the cat sat") == pytest.approx(1.0)
    # LCS "a c" of 2 words: precision 2/2, recall 2/4
    assert rouge_l("a b c d", "a c", part="recall") == pytest.approx(0.5)
    assert rouge_l("a b c d", "a c", part="precision") == pytest.approx(1.0)
    # Porter stemming only when asked (TOFU's Q_A_ROUGE stems; ConceptVectors' F-measure does not)
    assert rouge_l("running dogs", "run dog", part="recall", stem=True) == pytest.approx(1.0)
    assert rouge_l("running dogs", "run dog", part="recall") == 0.0
    with pytest.raises(UnlearnscopeError, match="choose from"):
        rouge_l("a", "a", part="f1")
