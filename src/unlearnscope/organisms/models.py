"""Model configs for organisms: GPT-2-style, Llama-style and Mixtral-style, built from transformers
configs (no custom code), sized by a recipe.  Tiny RoPE models use ``rope_theta=1e4``: with the
default 1e6 positions are nearly invisible over a few dozen tokens."""

from __future__ import annotations

import torch

from ..errors import UnlearnscopeError

ARCHS = ("gpt2", "llama", "mixtral")


def make_model(arch: str, cfg: dict, tokenizer, seed: int):
    """A freshly initialised (seeded) model of ``arch`` sized by ``cfg`` for ``tokenizer``'s vocabulary.

    (long because each architecture's transformers config is written out)"""
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        MixtralConfig,
        MixtralForCausalLM,
    )

    if arch not in ARCHS:
        raise UnlearnscopeError(f"unknown organism architecture {arch!r}; choose from {ARCHS}")
    bad = {k: v for k, v in cfg.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and v <= 0}
    if bad:
        raise UnlearnscopeError(f"invalid model config values {bad}: sizes must be positive")
    d, layers, heads = cfg["d_model"], cfg["n_layers"], cfg["n_heads"]
    if d % heads:
        raise UnlearnscopeError(f"d_model={d} must be divisible by n_heads={heads}")
    ids = dict(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    ctx = cfg.get("n_ctx", 64)
    torch.manual_seed(seed)
    if arch == "gpt2":
        config = GPT2Config(
            n_embd=d,
            n_layer=layers,
            n_head=heads,
            n_inner=cfg.get("d_mlp", 4 * d),
            n_positions=ctx,
            n_ctx=ctx,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            **ids,
        )
        model = GPT2LMHeadModel(config)
    else:
        common = dict(
            hidden_size=d,
            num_hidden_layers=layers,
            num_attention_heads=heads,
            num_key_value_heads=heads,
            intermediate_size=cfg["d_mlp"],
            max_position_embeddings=ctx,
            rope_parameters={"rope_theta": 1e4, "rope_type": "default"},
            **ids,
        )
        if arch == "llama":
            model = LlamaForCausalLM(LlamaConfig(**common))
        else:
            config = MixtralConfig(
                num_local_experts=cfg["n_experts"],
                num_experts_per_tok=cfg["top_k"],
                router_aux_loss_coef=cfg.get("aux_loss_coef", 0.01),
                output_router_logits=True,
                **common,
            )
            model = MixtralForCausalLM(config)
    model.config.architectures = [type(model).__name__]
    return model
