"""Weight edits: slice-exact, undoable bit for bit, verified, saved and re-applied."""

import hashlib
from pathlib import Path

import pytest
import torch

import unlearnscope as us
from unlearnscope.errors import EditError
from unlearnscope.model import EditPatch, Edits, ParamSlice, export_model

from ..conftest import TEXTS, make_subject


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_undo_is_bit_exact_with_overlapping_slices():
    s = make_subject("llama")
    before = state(s.model)
    with Edits(s) as ed:
        sl = s.anatomy.value_slice(1, [2, 5])
        ed.noise(sl, sigma=0.5, seed=1)
        ed.scale(s.anatomy.value_slice(1, [5, 9]), 3.0)
        ed.zero(ParamSlice.of("model.layers.0.mlp.down_proj.weight"))
        assert not same(before, state(s.model))
        counts = ed.verify()
        assert counts["model.layers.1.mlp.down_proj.weight"] == 4 * s.anatomy.d_model
    assert same(before, state(s.model))


def test_verify_catches_changes_outside_the_slices():
    s = make_subject("gpt2")
    with Edits(s) as ed:
        ed.zero(s.anatomy.value_slice(0, [1]))
        with torch.no_grad():
            s.model.transformer.h[2].mlp.c_fc.weight[0, 0] += 1.0  # sneaky edit nobody recorded
        with pytest.raises(EditError, match="h.2.mlp.c_fc.weight"):
            ed.verify()
        with torch.no_grad():
            s.model.transformer.h[2].mlp.c_fc.weight[0, 0] -= 1.0


def test_noise_is_seeded():
    s = make_subject("gpt2")
    sl = s.anatomy.value_slice(2, [0, 1, 2])
    with Edits(s) as ed:
        a = ed.noise(sl, 0.1, seed=3).clone()
    with Edits(s) as ed:
        b = ed.noise(sl, 0.1, seed=3)
    assert torch.equal(a, b)


def test_error_inside_the_block_undoes_everything():
    s = make_subject("gpt2")
    before = state(s.model)
    with pytest.raises(ZeroDivisionError):
        with Edits(s) as ed:
            ed.zero(s.anatomy.value_slice(0, [1]))
            ed.keep()
            raise ZeroDivisionError("user code failed mid-edit")
    assert same(before, state(s.model))


def test_patch_round_trip_and_refusal(tmp_path):
    s = make_subject("mixtral")
    before = state(s.model)
    with Edits(s) as ed:
        ed.zero(s.anatomy.expert_slices(1, 2)[1])
        ed.noise(s.anatomy.value_slice(0, [4], expert=3), 0.2, seed=0)
        edited = state(s.model)
        ed.save(tmp_path / "patch")
    assert same(before, state(s.model))
    manifest = (tmp_path / "patch" / "manifest.json").read_text()
    assert "down_proj" in manifest and "model_fingerprint" in manifest
    applied = EditPatch.load(tmp_path / "patch").apply(s)
    assert same(edited, state(s.model))
    applied.undo()
    assert same(before, state(s.model))
    other = make_subject("mixtral", seed=1)
    other_before = state(other.model)
    with pytest.raises(EditError, match="does not match"):
        EditPatch.load(tmp_path / "patch").apply(other)
    assert same(other_before, state(other.model))
    (tmp_path / "broken").mkdir()
    with pytest.raises(EditError, match="not a readable edit patch"):
        EditPatch.load(tmp_path / "broken")


def dir_digest(path: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if f.is_file():
            h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


def test_export_writes_a_new_directory_and_never_the_source(tiny_dirs, tmp_path):
    src = Path(tiny_dirs("gpt2"))
    digest = dir_digest(src)
    s = us.load(src)
    with Edits(s) as ed:
        ed.zero(s.anatomy.value_slice(1, [7]))
        with pytest.raises(EditError, match="source"):
            export_model(s, src)
        with pytest.raises(EditError, match="source"):
            export_model(s, src / "sub")
        with pytest.raises(EditError, match="source"):
            ed.save(src / "patch")
        export_model(s, tmp_path / "edited")
    assert dir_digest(src) == digest
    reloaded = us.load(tmp_path / "edited")
    assert torch.count_nonzero(reloaded.anatomy.values(1)[7]) == 0
    enc = s.tokenize(TEXTS)
    assert not torch.equal(reloaded.forward(enc).logits, s.forward(enc).logits)
    with pytest.raises(EditError, match="exists"):
        export_model(s, tmp_path / "edited")
