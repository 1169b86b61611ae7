"""GPT-NeoX / Pythia.  With ``use_parallel_residual`` (Pythia's default) attention and MLP both
read ``resid_pre``, so there is no ``resid_mid``: it is dropped from the hook table."""

from .base import Family, Site, register_family

NEOX = register_family(
    Family(
        name="gpt_neox",
        model_types=("gpt_neox",),
        layers="gpt_neox.layers",
        embed="gpt_neox.embed_in",
        final_norm="gpt_neox.final_layer_norm",
        unembed="lm_head",  # "embed_out" before transformers 5
        attn="attention",
        attn_o="attention.dense",
        attn_out=Site("attention"),
        resid_mid=Site("post_attention_layernorm", "in"),
        mlp="mlp",
        mlp_in="mlp.dense_h_to_4h",
        mlp_up=None,
        mlp_down="mlp.dense_4h_to_h",
        mlp_out=Site("mlp"),
        parallel_residual_attr="use_parallel_residual",
    )
)
