"""BERT-family encoders (BERT, RoBERTa): post-LN blocks ``encoder.layer``; no unembedding in the
bare encoder (probes and key-space statistics only)."""

from .base import Family, Site, register_family

BERT = register_family(
    Family(
        name="bert",
        model_types=("bert", "roberta"),
        layers="encoder.layer",
        embed="embeddings.word_embeddings",
        final_norm=None,
        unembed=None,
        attn="attention",
        attn_o="attention.output.dense",
        attn_out=Site("attention.output.dense"),
        resid_mid=Site("attention"),
        mlp="intermediate",
        mlp_in="intermediate.dense",
        mlp_up=None,
        mlp_down="output.dense",
        mlp_out=Site("output.dense"),
        post_ln=True,
    )
)
