"""The special-token policy on a Llama-style tokenizer (adds BOS itself) and on one that expects
a BOS in the text (the organisms'): one BOS, never two, never an EOS after a prompt, no empty rows."""

import warnings

import pytest
import torch

from unlearnscope.data import Fact, encode_facts
from unlearnscope.data.tokens import encode_batch, encode_text, expects_bos, prefix_ids
from unlearnscope.errors import UnlearnscopeError

WORDS = ["the", "capital", "of", "france", "is", "paris", "ada", "lives", "in", "rome", "a"]


def _word_tokenizer(template: str | None, bos="<s>", eos="</s>"):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<pad>", "<unk>", bos, eos] + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if template:
        tok.post_processor = processors.TemplateProcessing(
            single=template, special_tokens=[(bos, vocab[bos]), (eos, vocab[eos])]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token="<pad>", unk_token="<unk>"
    )


class _Subject:  # what encode_facts needs: tokenizer, device, model.config
    def __init__(self, tok, n_positions=64):
        self.tokenizer, self.device = tok, torch.device("cpu")
        self.model = type("M", (), {"config": type("C", (), {"n_positions": n_positions})()})()


@pytest.fixture(scope="module")
def llama_tok():
    return _word_tokenizer("<s> $A")  # what LlamaTokenizerFast's post-processor does (add_bos_token=True)


def test_llama_style_bos_added_once(llama_tok):
    bos = llama_tok.bos_token_id
    assert prefix_ids(llama_tok) == (bos,)
    ids = encode_text(llama_tok, "the capital of france is")
    assert ids[0] == bos and ids.count(bos) == 1 and len(ids) == 6
    assert encode_text(llama_tok, "<s> the capital of france is") == ids  # a BOS the prompt carries is not doubled
    assert llama_tok("<s> the capital of france is")["input_ids"].count(bos) == 2  # what the raw tokenizer would do


def test_facts_carry_bos_and_keep_subject_and_answer(llama_tok):
    facts = [Fact("the capital of france is", "paris", "france"), Fact("<s> ada lives in", "rome", "ada")]
    enc = encode_facts(_Subject(llama_tok), facts, need_subject=True)
    assert (enc.input_ids[:, 0] == llama_tok.bos_token_id).all()
    assert (enc.input_ids == llama_tok.bos_token_id).sum().item() == 2
    assert enc.last.tolist() == [5, 3]
    assert enc.answer.tolist() == llama_tok.convert_tokens_to_ids(["paris", "rome"])
    assert enc.subject_mask[0].nonzero().flatten().tolist() == [4]  # "france", after BOS + 3 words
    assert enc.subject_mask[1].nonzero().flatten().tolist() == [1]


def test_training_batches_have_bos_but_no_eos():
    tok = _word_tokenizer("<s> $A </s>")  # a tokenizer that wraps texts in BOS ... EOS
    enc = encode_batch(tok, ["ada lives in rome", "the capital of france is paris"])
    ids = enc["input_ids"]
    assert (ids[:, 0] == tok.bos_token_id).all() and not (ids == tok.eos_token_id).any()
    assert enc["attention_mask"].sum(1).tolist() == [5, 7]


def test_empty_text_is_a_clear_error(llama_tok):
    with pytest.raises(UnlearnscopeError, match="tokenizes to nothing"):
        encode_text(llama_tok, "")
    with pytest.raises(UnlearnscopeError, match="tokenizes to nothing"):
        encode_facts(_Subject(llama_tok), [Fact("   ", "paris", None)])
    with pytest.raises(UnlearnscopeError, match="empty"):
        encode_facts(_Subject(llama_tok), [])


def test_missing_bos_warns_once_when_the_tokenizer_expects_it():
    tok = _word_tokenizer(None, bos="<bos>", eos="<eos>")  # like the organisms': BOS written in the text
    assert expects_bos(tok) and not expects_bos(_word_tokenizer("<s> $A"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        encode_batch(tok, ["<bos> ada lives in rome"])
    assert not caught
    with pytest.warns(UserWarning, match="does not add it"):
        encode_batch(tok, ["ada lives in rome"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        encode_batch(tok, ["ada lives in rome"])
    assert not caught  # once per tokenizer


def test_subject_tokenize_and_recall_follow_the_policy(llama_tok):
    """A tiny Llama with this tokenizer: Subject.tokenize adds BOS, and a fact reads the same
    whether its prompt writes BOS or not (the same ids and answer logits reach the readouts)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from unlearnscope.evaluate.recall import entity_recall
    from unlearnscope.model import load

    torch.manual_seed(0)
    cfg = LlamaConfig(
        vocab_size=len(llama_tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32,
        bos_token_id=llama_tok.bos_token_id,
        pad_token_id=0,
    )
    s = load(LlamaForCausalLM(cfg).eval(), llama_tok)
    enc = s.tokenize(["ada lives in rome", "<s> ada lives in rome"])
    assert (
        enc["input_ids"][0].tolist() == enc["input_ids"][1].tolist()
        and enc["input_ids"][0, 0] == llama_tok.bos_token_id
    )
    plain = [Fact("ada lives in", "rome", "ada"), Fact("the capital of france is", "paris", "france")]
    written = [Fact("<s> " + f.prompt, f.answer, f.subject) for f in plain]
    a, b = encode_facts(s, plain), encode_facts(s, written)
    assert torch.equal(a.input_ids, b.input_ids)
    with torch.no_grad():
        la = s.model(**a.inputs()).logits[torch.arange(2), a.last]
    assert torch.isfinite(la).all()
    assert torch.equal(entity_recall(s, plain)[1], entity_recall(s, written)[1])
