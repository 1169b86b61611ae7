"""Llama-family decoders (pre-norm, gated MLP) and their sandwich/post-norm relatives.

* ``llama``: Llama, Mistral, Qwen2, Qwen3, OLMo (1) — ``input_layernorm`` → attn → add →
  ``post_attention_layernorm`` → MLP → add.
* ``gemma2``: Gemma 2/3 text — sandwich norms; the contribution added to the residual is the
  output of ``post_attention_layernorm`` / ``post_feedforward_layernorm``.  ``hook_logits`` is the LM
  head's output; Gemma soft-caps the logits after it (``final_logit_softcapping``), outside any module.
* ``olmo2``: OLMo 2 — post-norm on each sub-block output, no pre-MLP norm.
"""

from dataclasses import replace

from .base import Family, Site, register_family

LLAMA = register_family(
    Family(
        name="llama",
        model_types=("llama", "mistral", "qwen2", "qwen3", "olmo"),
        layers="model.layers",
        embed="model.embed_tokens",
        final_norm="model.norm",
        unembed="lm_head",
        attn="self_attn",
        attn_o="self_attn.o_proj",
        attn_out=Site("self_attn"),
        resid_mid=Site("post_attention_layernorm", "in"),
        mlp="mlp",
        mlp_in="mlp.gate_proj",
        mlp_up="mlp.up_proj",
        mlp_down="mlp.down_proj",
        mlp_out=Site("mlp"),
    )
)

GEMMA2 = register_family(
    replace(
        LLAMA,
        name="gemma2",
        model_types=("gemma2", "gemma3_text"),
        attn_out=Site("post_attention_layernorm"),
        resid_mid=Site("pre_feedforward_layernorm", "in"),
        mlp_out=Site("post_feedforward_layernorm"),
    )
)

OLMO2 = register_family(
    replace(
        LLAMA,
        name="olmo2",
        model_types=("olmo2",),
        attn_out=Site("post_attention_layernorm"),
        resid_mid=Site("mlp", "in"),
        mlp_out=Site("post_feedforward_layernorm"),
    )
)
