"""Loading from local directories, wrapping in-memory / TransformerLens / nnsight models, bad input."""

import json

import pytest
import torch

import unlearnscope as us
from unlearnscope.errors import NotAModelDirectoryError, UnsupportedArchitectureError

from ..conftest import TEXTS, make_subject

LOCAL = ["gpt2", "gpt_neox", "llama", "gemma2", "olmo2", "bert", "mixtral", "qwen2_moe", "deepseek_v3"]


@pytest.mark.parametrize("model_type", LOCAL)
def test_local_directory_matches_the_in_memory_model(model_type, tiny_dirs):
    s = us.load(tiny_dirs(model_type))
    ref = make_subject(model_type)
    assert s.anatomy.to_dict() == ref.anatomy.to_dict()
    assert s.hook_names() == ref.hook_names()
    assert s.source == str(tiny_dirs(model_type))
    enc = s.tokenize(TEXTS)
    with torch.no_grad():
        a, b = s.model(**enc), ref.model(**enc)
    key = "last_hidden_state" if model_type == "bert" else "logits"
    torch.testing.assert_close(a[key], b[key])
    assert s.fingerprint() == ref.fingerprint()


def test_dtype_device_and_device_map(tiny_dirs):
    s = us.load(tiny_dirs("llama"), dtype="bfloat16", device="cpu")
    assert s.anatomy.values(0).dtype == torch.bfloat16
    _, c = us.run_with_cache(s, TEXTS, "blocks.1.hook_resid_post")
    assert c["blocks.1.hook_resid_post"].dtype == torch.bfloat16
    m = us.load(tiny_dirs("mixtral"), device_map={"": "cpu"})  # the accelerate path
    _, c = us.run_with_cache(m, TEXTS, "blocks.1.moe.experts.0.hook_out")
    assert c["blocks.1.moe.experts.0.hook_out"].shape[-1] == m.anatomy.d_model


def test_bad_paths(tmp_path, tiny_dirs):
    with pytest.raises(NotAModelDirectoryError, match="does not exist"):
        us.load(str(tmp_path / "nope" / "deeper" / "model"))
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(NotAModelDirectoryError, match="file"):
        us.load(tmp_path / "file.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotAModelDirectoryError, match="config.json"):
        us.load(tmp_path / "empty")
    bins = tmp_path / "bins"
    bins.mkdir()
    (bins / "config.json").write_text((tiny_dirs("gpt2") / "config.json").read_text())
    (bins / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(NotAModelDirectoryError, match="safetensors"):
        us.load(bins)


def test_unknown_architecture_directory_fails_before_loading_weights(tmp_path, tiny_dirs):
    d = tmp_path / "alien"
    d.mkdir()
    cfg = json.loads((tiny_dirs("gpt2") / "config.json").read_text())
    cfg["model_type"] = "gptj"
    (d / "config.json").write_text(json.dumps(cfg))
    (d / "model.safetensors").write_bytes(b"not read")
    with pytest.raises(UnsupportedArchitectureError, match="Supported families"):
        us.load(d)


def test_wraps_nnsight_and_transformer_lens_models(tiny_dirs):
    from nnsight import LanguageModel

    path = tiny_dirs("llama")
    base = us.load(path)
    lm = LanguageModel(base.model, tokenizer=base.tokenizer)  # the deprecated name users still have
    s = us.load(lm)
    assert s.model is base.model and s.wrapped is lm and s.tokenizer is base.tokenizer

    from transformer_lens.model_bridge import TransformerBridge

    bridge = TransformerBridge.boot_transformers(str(path), device="cpu")
    sb = us.load(bridge)
    assert sb.model is bridge.original_model and sb.anatomy.n_layers == 3


def test_hooked_transformer_is_refused_with_a_way_forward():
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    ht = HookedTransformer(
        HookedTransformerConfig(n_layers=1, d_model=16, n_ctx=8, d_head=4, act_fn="relu", d_vocab=20)
    )
    with pytest.raises(UnsupportedArchitectureError, match="TransformerBridge"):
        us.load(ht)


def test_hub_id_offline_gives_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(NotAModelDirectoryError, match="hub id"):
        us.load("unlearnscope-tests/no-such-model")
