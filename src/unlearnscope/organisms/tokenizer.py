"""A word-level tokenizer built locally with `tokenizers` from a world's vocabulary."""

from __future__ import annotations

SPECIALS = ["<pad>", "<unk>", "<bos>", "<eos>"]


def word_tokenizer(words: list[str]):
    """Whitespace-split word-level `PreTrainedTokenizerFast`; ids: specials first, then ``words``
    in the given (deterministic) order.  No BOS is added automatically: worlds write ``<bos>``."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIALS + [w for w in words if w not in SPECIALS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", bos_token="<bos>", eos_token="<eos>"
    )
