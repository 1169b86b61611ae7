"""ComponentSet: names → exact parameter slices, counts, set algebra (checked against masks), JSON."""

import pytest
import torch

from unlearnscope.ablate import ComponentSet
from unlearnscope.errors import OutOfRangeError, UnlearnscopeError

from ..conftest import make_subject


def mask_count(masks):
    return int(sum(m.sum() for m in masks.values()))


@pytest.fixture(scope="module")
def llama():
    return make_subject("llama")


@pytest.fixture(scope="module")
def moe():
    return make_subject("qwen2_moe")


def test_whole_modules_count_every_parameter(llama, moe):
    mlp = llama.model.model.layers[1].mlp
    assert ComponentSet.parse(llama, "blocks.1.mlp").n_params == sum(p.numel() for p in mlp.parameters())
    attn = llama.model.model.layers[0].self_attn
    assert ComponentSet.parse(llama, "blocks.0.attn").n_params == sum(p.numel() for p in attn.parameters())
    block = moe.model.model.layers[2].mlp
    assert ComponentSet.parse(moe, "blocks.2.mlp").n_params == sum(p.numel() for p in block.parameters())
    assert ComponentSet.parse(llama, r"model\.layers\.2\.mlp").n_params == sum(
        p.numel() for p in llama.model.model.layers[2].mlp.parameters()
    )


def test_unit_components_select_the_right_entries(llama, moe):
    a = llama.anatomy
    cs = ComponentSet.parse(llama, "blocks.2.mlp.value:[3,9]")
    m = cs.masks(llama)["model.layers.2.mlp.down_proj.weight"]
    assert cs.n_params == 2 * a.d_model and m[:, 3].all() and m[:, 9].all() and m.sum() == 2 * a.d_model
    neuron = ComponentSet.parse(llama, "blocks.2.mlp.neuron:5")
    assert neuron.n_params == 3 * a.d_model  # gate row, up row, value column
    head = ComponentSet.parse(llama, "blocks.0.attn.head:1")
    d_head = a.d_model // a.n_heads
    hm = head.masks(llama)["model.layers.0.self_attn.o_proj.weight"]
    assert hm[:, d_head : 2 * d_head].all() and hm.sum() == a.d_model * d_head
    b = moe.anatomy
    ex = ComponentSet.parse(moe, "blocks.1.moe.expert:2")
    masks = ex.masks(moe)
    assert (
        masks["model.layers.1.mlp.experts.down_proj"][2].all()
        and masks["model.layers.1.mlp.experts.down_proj"].sum() == b.d_model * b.d_expert
    )
    assert ComponentSet.parse(moe, "blocks.1.moe.router:[0,3]").n_params == 2 * b.d_model
    assert ComponentSet.parse(moe, "blocks.0.moe.expert:1.value:0-3").n_params == 4 * b.d_model
    shared = moe.model.model.layers[0].mlp.shared_expert
    assert ComponentSet.parse(moe, "blocks.0.moe.shared").n_params == sum(p.numel() for p in shared.parameters())


def test_gpt2_conv1d_layout():
    s = make_subject("gpt2")
    cs = ComponentSet.parse(s, "blocks.1.mlp.value:4 blocks.1.attn.head:3")
    masks = cs.masks(s)
    assert (
        masks["transformer.h.1.mlp.c_proj.weight"][4].all()
        and masks["transformer.h.1.mlp.c_proj.weight"].sum() == s.anatomy.d_model
    )
    assert masks["transformer.h.1.attn.c_proj.weight"][48:64].all()  # Conv1D: heads are input rows


def test_set_algebra_is_exact(llama):
    a = ComponentSet.parse(llama, "blocks.1.mlp")
    b = ComponentSet.parse(llama, "blocks.1.mlp.value:0-9, blocks.2.mlp.value:[1,2]")
    ma, mb = a.masks(llama), b.masks(llama)

    def combined(op):
        keys = set(ma) | set(mb)
        out = {}
        for k in keys:
            x = ma.get(k, torch.zeros_like(mb.get(k, next(iter(ma.values())))))
            y = mb.get(k, torch.zeros_like(x))
            out[k] = op(x, y)
        return out

    assert (a | b).n_params == mask_count(combined(torch.logical_or))
    assert (a & b).n_params == mask_count(combined(torch.logical_and)) == 10 * llama.anatomy.d_model
    assert (a - b).n_params == mask_count(combined(lambda x, y: x & ~y)) == a.n_params - 10 * llama.anatomy.d_model
    assert (b - a).n_params == 2 * llama.anatomy.d_model
    assert (a | a).n_params == a.n_params  # no double counting
    diff = (a - b).masks(llama)["model.layers.1.mlp.down_proj.weight"]
    assert not diff[:, :10].any() and diff[:, 10:].all()


def test_json_round_trip(llama, tmp_path):
    cs = ComponentSet.parse(llama, "blocks.1.mlp.value:[3,9] blocks.0.attn.head:2")
    path = cs.save(tmp_path / "cs.json")
    again = ComponentSet.parse(llama, str(path))
    assert again.n_params == cs.n_params and again.names == cs.names
    m1, m2 = cs.masks(llama), again.masks(llama)
    assert m1.keys() == m2.keys() and all(torch.equal(m1[k], m2[k]) for k in m1)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(UnlearnscopeError, match="component-set JSON"):
        ComponentSet.parse(llama, str(tmp_path / "bad.json"))


@pytest.mark.parametrize(
    "spec,err,match",
    [
        ("", UnlearnscopeError, "empty"),
        ("blocks.9.mlp", OutOfRangeError, "3 layers"),
        ("blocks.1.mlp.value:5000", OutOfRangeError, "d_mlp"),
        ("blocks.1.attn.head:4", OutOfRangeError, "4 heads"),
        ("blocks.1.mlp.values:3", UnlearnscopeError, "unknown component kind"),
        ("mlp.1", UnlearnscopeError, "bad component name"),
        ("re:does_not_exist", UnlearnscopeError, "matches no parameter"),
        ("blocks.1.mlp.value:x", UnlearnscopeError, "bad index"),
    ],
)
def test_bad_specs(llama, spec, err, match):
    with pytest.raises(err, match=match):
        ComponentSet.parse(llama, spec)


def test_moe_specific_errors(moe):
    with pytest.raises(OutOfRangeError, match="expert:0.value"):
        ComponentSet.parse(moe, "blocks.1.mlp.value:3")
    with pytest.raises(OutOfRangeError, match="expert 7"):
        ComponentSet.parse(moe, "blocks.1.moe.expert:7")
    with pytest.raises(OutOfRangeError, match="no router"):
        ComponentSet.parse(make_subject("llama"), "blocks.1.moe.router")
