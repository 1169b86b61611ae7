"""Sparse MoE decoders in the transformers-5 fused layout (Llama-style blocks around them).

Layers whose ``mlp`` has no experts (DeepSeek's ``first_k_dense_replace``, Qwen's
``mlp_only_layers``) are dense and use the Llama MLP paths.
"""

from dataclasses import replace

from .base import MoETable, register_family
from .llama import LLAMA

MIXTRAL = register_family(replace(LLAMA, name="mixtral", model_types=("mixtral",), moe=MoETable()))
OLMOE = register_family(replace(LLAMA, name="olmoe", model_types=("olmoe",), moe=MoETable()))
QWEN3_MOE = register_family(replace(LLAMA, name="qwen3_moe", model_types=("qwen3_moe",), moe=MoETable()))
QWEN2_MOE = register_family(
    replace(
        LLAMA,
        name="qwen2_moe",
        model_types=("qwen2_moe",),
        moe=MoETable(shared="mlp.shared_expert", shared_gate="mlp.shared_expert_gate"),
    )
)
DEEPSEEK_V3 = register_family(
    replace(
        LLAMA,
        name="deepseek_v3",
        model_types=("deepseek_v3",),
        moe=MoETable(shared="mlp.shared_experts", routing="sigmoid_group_topk"),
    )
)
