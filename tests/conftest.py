"""Shared test set-up: one torch thread, offline hub, tiny models built once per session."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import warnings

import pytest
import torch

torch.set_num_threads(1)
warnings.filterwarnings("ignore", category=UserWarning)

from unlearnscope.model.tiny import TINY_CONFIGS, save_tiny, tiny_model  # noqa: E402

ALL_TYPES = list(TINY_CONFIGS)
DECODER_TYPES = [t for t in ALL_TYPES if t != "bert"]
MOE_TYPES = ["mixtral", "olmoe", "qwen2_moe", "qwen3_moe", "deepseek_v3"]
TEXTS = ["The capital of France is Paris.", "Bob plays tennis", "12 plus 7 equals 19."]


def make_subject(model_type: str, seed: int = 0):
    import unlearnscope as us

    model, tok = tiny_model(model_type, seed)
    return us.load(model, tok)


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    """``model_type -> local HF directory`` (written once per session, on demand)."""
    root = tmp_path_factory.mktemp("tiny")
    cache = {}

    def get(model_type: str):
        if model_type not in cache:
            cache[model_type] = save_tiny(model_type, root / model_type)
        return cache[model_type]

    return get


def final_output(out):
    return out.logits if hasattr(out, "logits") else out.last_hidden_state
