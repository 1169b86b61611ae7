"""Random-initialised tiny models of every supported family, built in code (no downloads).

Used by the tests, the benchmarks and ``tiny:<model_type>`` model specs (``unlearnscope
inspect tiny:gpt2``).  Seeded: the same ``(model_type, seed)`` gives the same weights on every run.  The tokenizer is
a byte-level BPE
trained locally with `tokenizers` on a few sentences.
"""

from __future__ import annotations

from functools import lru_cache

import torch

from ..errors import UnsupportedArchitectureError

SENTENCES = [
    "The capital of France is Paris.",
    "Alice Smith works as a doctor in Berlin.",
    "Bob plays tennis on Sundays.",
    "The sky is blue and the grass is green.",
    "def add(a, b): return a + b",
    "12 plus 7 equals 19.",
    "I cannot help with that.",
    "Hello! How are you today?",
    "Marie Curie was a physicist.",
    "Tokyo is a large city in Japan.",
]

_DENSE = dict(
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
)
_MOE = dict(_DENSE, intermediate_size=48)

# model_type -> config overrides (vocab/special ids are filled in from the tokenizer)
TINY_CONFIGS: dict[str, dict] = {
    "gpt2": dict(n_embd=64, n_layer=3, n_head=4, n_positions=128, n_ctx=128),
    "gpt_neox": dict(_DENSE, num_key_value_heads=None, use_parallel_residual=True),
    "llama": _DENSE,
    "mistral": _DENSE,
    "qwen2": _DENSE,
    "qwen3": dict(_DENSE, head_dim=16),
    "olmo2": _DENSE,
    "gemma2": dict(_DENSE, head_dim=16),
    "gemma3_text": dict(_DENSE, head_dim=16),
    "bert": dict(
        hidden_size=64, intermediate_size=96, num_hidden_layers=3, num_attention_heads=4, max_position_embeddings=128
    ),
    "mixtral": dict(_MOE, num_local_experts=4, num_experts_per_tok=2),
    "olmoe": dict(_MOE, num_experts=4, num_experts_per_tok=2),
    "qwen2_moe": dict(
        _MOE, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, shared_expert_intermediate_size=48
    ),
    "qwen3_moe": dict(_MOE, head_dim=16, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32),
    "deepseek_v3": dict(
        _MOE,
        num_key_value_heads=4,
        n_routed_experts=4,
        num_experts_per_tok=2,
        moe_intermediate_size=32,
        n_shared_experts=1,
        first_k_dense_replace=1,
        n_group=2,
        topk_group=1,
        kv_lora_rank=16,
        q_lora_rank=16,
        qk_rope_head_dim=8,
        qk_nope_head_dim=8,
        v_head_dim=16,
    ),
}


@lru_cache(maxsize=1)
def tiny_tokenizer():
    """A byte-level BPE (vocab ≤ 400) trained on `SENTENCES`, as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(SENTENCES, trainer)
    end = "<|endoftext|>"
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=end, eos_token=end, unk_token=end, pad_token=end)


def tiny_model(model_type: str = "gpt2", seed: int = 0, **overrides):
    """``(model, tokenizer)``: a random tiny model of ``model_type`` in eval mode, fp32, CPU."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    if model_type not in TINY_CONFIGS:
        raise UnsupportedArchitectureError(f"no tiny config for {model_type!r}; available: {sorted(TINY_CONFIGS)}")
    tok = tiny_tokenizer()
    ids = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    kwargs = {k: v for k, v in {**TINY_CONFIGS[model_type], **overrides}.items() if v is not None}
    config = AutoConfig.for_model(model_type, vocab_size=len(tok), **ids, **kwargs)
    torch.manual_seed(seed)
    cls = AutoModel if model_type == "bert" else AutoModelForCausalLM
    model = cls.from_config(config).eval()
    if hasattr(model.config, "architectures"):
        model.config.architectures = [type(model).__name__]
    return model, tok


def save_tiny(model_type: str, path, seed: int = 0):
    """Write a tiny model + tokenizer as an HF directory (safetensors); returns the path."""
    model, tok = tiny_model(model_type, seed)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
