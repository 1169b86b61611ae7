"""Cache behaviour on a seconds-long recipe: reuse, corruption, partial and interrupted builds,
bit-for-bit reproducibility, and clear errors for bad input."""

import json
import os
from contextlib import contextmanager
from pathlib import Path

import pytest

from unlearnscope.errors import UnlearnscopeError
from unlearnscope.organisms import build, find
from unlearnscope.organisms.cache import check_entry
from unlearnscope.organisms.facts import FactsConfig
from unlearnscope.organisms.recipes import Recipe
from unlearnscope.organisms.registry import ORGANISMS, OrganismSpec
from unlearnscope.organisms.train import TrainConfig

TINY = Recipe(
    "tiny-test",
    "small",
    "facts",
    FactsConfig(n_entities=6, n_never_seen=2),
    "llama",
    dict(d_model=32, n_layers=1, n_heads=4, d_mlp=64),
    TrainConfig(steps=4, batch_size=8, warmup=1),
    threads=1,
)


@contextmanager
def registered(recipe: Recipe):
    """An organism registered for one test (and removed again)."""
    ORGANISMS.register(OrganismSpec(recipe.name, "a test organism", {recipe.size: recipe}))
    try:
        yield recipe
    finally:
        ORGANISMS.unregister(recipe.name)


@pytest.fixture
def tiny_recipe():
    with registered(TINY):
        yield TINY


def quiet(**kw):
    return dict(progress=False, log=lambda m: None, **kw)


def test_reuse_and_reproducibility(tiny_recipe, tmp_path, monkeypatch):
    a = build("tiny-test", "small", 0, root=tmp_path / "a", **quiet())
    assert check_entry(a.path) is None
    assert (a.path / "orig" / "model.safetensors").is_file() and (a.path / "ref" / "tokenizer.json").is_file()
    b = build("tiny-test", "small", 0, root=tmp_path / "b", **quiet())
    files_a, files_b = a.manifest["files"], b.manifest["files"]
    for rel in ("orig/model.safetensors", "ref/model.safetensors", "ground_truth.json"):
        assert files_a[rel]["sha256"] == files_b[rel]["sha256"], rel  # same machine, same seed: same bits
    import unlearnscope.organisms.builder as build_module

    def no_training(*a, **k):
        raise AssertionError("a valid cache entry must not be rebuilt")

    monkeypatch.setattr(build_module, "train_lm", no_training)
    again = build("tiny-test", "small", 0, root=tmp_path / "a", **quiet())
    assert again.path == a.path
    assert find("tiny-test", "small", 0, root=tmp_path / "a").path == a.path


def test_corrupt_entry_is_detected_and_rebuilt(tiny_recipe, tmp_path):
    org = build("tiny-test", "small", 0, root=tmp_path, **quiet())
    weights = org.path / "orig" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-5] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert "does not match" in check_entry(org.path)
    assert find("tiny-test", "small", 0, root=tmp_path) is None
    messages = []
    fixed = build("tiny-test", "small", 0, root=tmp_path, progress=False, log=messages.append)
    assert check_entry(fixed.path) is None and any("unusable" in m for m in messages)


def test_partial_entry_without_manifest_is_rebuilt(tiny_recipe, tmp_path):
    org = build("tiny-test", "small", 0, root=tmp_path, **quiet())
    (org.path / "manifest.json").unlink()
    assert "manifest" in check_entry(org.path)
    assert check_entry(build("tiny-test", "small", 0, root=tmp_path, **quiet()).path) is None


def test_interrupted_build_leaves_nothing_that_looks_complete(tiny_recipe, tmp_path, monkeypatch):
    import unlearnscope.organisms.builder as build_module

    real = build_module.train_lm
    calls = []

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 2:  # while training REF
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(build_module, "train_lm", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build("tiny-test", "small", 0, root=tmp_path, **quiet())
    organisms = tmp_path / "organisms"
    assert list(organisms.iterdir()) == []  # no entry, no temp directory
    assert find("tiny-test", "small", 0, root=tmp_path) is None


def test_bad_input(tmp_path, monkeypatch):
    with pytest.raises(UnlearnscopeError, match="unknown organism"):
        build("dragons", root=tmp_path, **quiet())
    with pytest.raises(UnlearnscopeError, match="unknown size"):
        build("facts", "huge", root=tmp_path, **quiet())
    with pytest.raises(UnlearnscopeError, match="seed"):
        build("facts", "small", -1, root=tmp_path, **quiet())
    bad = Recipe(
        "bad-test",
        "small",
        "facts",
        FactsConfig(n_entities=6),
        "gpt2",
        dict(d_model=32, n_layers=1, n_heads=4),
        TrainConfig(steps=0),
    )
    with registered(bad), pytest.raises(UnlearnscopeError, match="invalid training config"):
        build("bad-test", "small", root=tmp_path, **quiet())
    assert not (tmp_path / "organisms").exists() or not any((tmp_path / "organisms").iterdir())


def test_ground_truth_manifest_contents(tiny_recipe, tmp_path):
    org = build("tiny-test", "small", 0, root=tmp_path, **quiet())
    gt = json.loads((org.path / "ground_truth.json").read_text())
    assert {"entities", "relations", "templates", "splits", "items"} <= set(gt)
    q = org.manifest["quality"]
    assert {"orig", "ref", "chance_forget", "bars_met"} <= set(q)
    d = org.describe()
    assert Path(d["paths"]["orig"]).is_dir() and Path(d["paths"]["ref"]).is_dir()
    assert os.path.isabs(d["paths"]["ref"])


def test_multidomain_pipeline_on_a_tiny_moe(tmp_path, monkeypatch):
    from unlearnscope.organisms.multidomain import MultiDomainConfig

    tiny_moe = Recipe(
        "tiny-moe",
        "small",
        "multidomain",
        MultiDomainConfig(n_fact_entities=4),
        "mixtral",
        dict(d_model=32, n_layers=1, n_heads=4, d_mlp=32, n_experts=4, top_k=2),
        TrainConfig(steps=3, batch_size=10, warmup=1, balance_domains=True),
        threads=1,
    )
    with registered(tiny_moe):
        org = build("tiny-moe", "small", 0, root=tmp_path, **quiet())
    q = org.manifest["quality"]
    assert set(q["bars_met"]) >= {"orig_refusal_marked", "orig_refusal_benign"}
    for v in ("orig", "ref", "untrained_control"):
        freq = q["specialisation"][v]["selection_frequency"]
        assert len(freq) == 1 and len(freq[0]) == 5 and len(freq[0][0]) == 4
        assert all(abs(sum(row) - 2.0) < 1e-2 for row in freq[0])  # top-2: each token picks two experts
    s = org.load("ref")
    assert s.anatomy.n_experts == 4 and s.anatomy.top_k == 2


def test_the_build_lock_excludes_a_second_builder_and_leaves_no_file(tmp_path):
    """Two holders of one entry's lock never overlap, and the lock file goes with the last one."""
    import threading
    import time

    from unlearnscope.organisms.cache import building

    entry = tmp_path / "organisms" / "x-small-s0"
    inside, overlaps = [], []

    def hold(name):
        with building(entry):
            if inside:
                overlaps.append((name, list(inside)))
            inside.append(name)
            time.sleep(0.2)
            inside.remove(name)

    threads = [threading.Thread(target=hold, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not overlaps and not any(t.is_alive() for t in threads)
    assert list((tmp_path / "organisms").iterdir()) == []
    with pytest.raises(RuntimeError), building(entry):  # released and removed after an error too
        raise RuntimeError
    assert list((tmp_path / "organisms").iterdir()) == []
