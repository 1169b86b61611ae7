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


@pytest.fixture(scope="session")
def organism_home(tmp_path_factory):
    """One organism cache for the whole run (small sizes; built on first use).  Developers can
    reuse a persistent cache across runs with ``UNLEARNSCOPE_TEST_HOME=/some/dir`` (CI does not)."""
    from pathlib import Path

    keep = os.environ.get("UNLEARNSCOPE_TEST_HOME")
    root = Path(keep) if keep else tmp_path_factory.mktemp("unlearnscope_home")
    old = {k: os.environ.get(k) for k in ("UNLEARNSCOPE_HOME", "UNLEARNSCOPE_ORGANISM_SIZE")}
    os.environ["UNLEARNSCOPE_HOME"] = str(root)
    os.environ["UNLEARNSCOPE_ORGANISM_SIZE"] = "small"
    yield root
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def small_organism(organism_home):
    """``name -> Organism`` (size small, seed 0), each built once per test run."""
    from unlearnscope.organisms import build

    built = {}

    def get(name: str):
        if name not in built:
            built[name] = build(name, "small", 0, root=organism_home, progress=False, log=lambda m: None)
        return built[name]

    return get
