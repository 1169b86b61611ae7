"""GPT-2: Conv1D weights stored ``[in, out]``; pre-LN blocks ``transformer.h``."""

from .base import Family, Site, register_family

GPT2 = register_family(
    Family(
        name="gpt2",
        model_types=("gpt2",),
        layers="transformer.h",
        embed="transformer.wte",
        final_norm="transformer.ln_f",
        unembed="lm_head",
        attn="attn",
        attn_o="attn.c_proj",
        attn_out=Site("attn"),
        resid_mid=Site("ln_2", "in"),
        mlp="mlp",
        mlp_in="mlp.c_fc",
        mlp_up=None,
        mlp_down="mlp.c_proj",
        mlp_out=Site("mlp"),
        layout="conv1d",
        n_heads_attr="n_head",
    )
)
