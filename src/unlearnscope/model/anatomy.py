"""`Anatomy`: a model's dimensions and weight views, resolved from its family table.

Shape vocabulary (TransformerLens): ``d_model``, ``d_mlp``, ``d_vocab``, ``layer``, ``expert``.
Every MLP is read as key vectors ``K[d_mlp, d_model]`` (row *i* is the input direction whose
dot product with the normalised residual gives neuron *i*'s pre-activation) and value vectors
``V[d_mlp, d_model]`` (row *i* is what neuron *i* writes into the residual stream, scaled by
its coefficient ``blocks.{l}.mlp.hook_post[..., i]``).  Views share storage with the model:
writing into them edits the weights, whatever the storage layout (GPT-2's Conv1D is
transposed, fused MoE experts are 3-D).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import torch
from torch import nn

from ..errors import OutOfRangeError, UnsupportedArchitectureError
from .families import Family, family_for, supported_model_types


def get_module(root: nn.Module, path: str) -> nn.Module:
    """Resolve a dotted module path (``""`` is the root)."""
    return root.get_submodule(path) if path else root


def supported_families_message() -> str:
    by_family: dict[str, list[str]] = {}
    for mt, fam in supported_model_types().items():
        by_family.setdefault(fam, []).append(mt)
    lines = [f"  {fam}: {', '.join(mts)}" for fam, mts in sorted(by_family.items())]
    return (
        "Supported families (model_type values):\n" + "\n".join(lines) + "\n"
        "To add one, describe its module paths in a `Family` record and call "
        "`unlearnscope.model.families.register_family(...)` (see families/llama.py for an example)."
    )


@dataclass(frozen=True)
class ParamSlice:
    """A slice of one parameter: ``index`` maps a dim to the indices kept along it (others whole).

    Several dims index as an outer product (``np.ix_``), so ``{0: [5], 2: [3, 7]}`` of a
    ``[E, H, I]`` tensor is the ``[1, H, 2]`` block of expert 5, columns 3 and 7.
    """

    param: str
    index: tuple[tuple[int, tuple[int, ...]], ...] = ()

    @classmethod
    def of(cls, param: str, index: dict[int, list[int] | tuple[int, ...] | int] | None = None) -> ParamSlice:
        items = []
        for dim, idx in sorted((index or {}).items()):
            idx = (idx,) if isinstance(idx, int) else tuple(int(i) for i in idx)
            items.append((int(dim), idx))
        return cls(param, tuple(items))

    def indexer(self, shape: torch.Size, device: torch.device | str = "cpu") -> tuple:
        """Index tuple selecting the block: ``p[ix]`` reads it, ``p[ix] = v`` writes it.

        Indexed dims become broadcasting index tensors (outer product); whole dims are aranges,
        so the block keeps the parameter's dim order.
        """
        if not self.index:
            return (slice(None),) * len(shape)
        dims = dict(self.index)
        for dim, idx in dims.items():
            if dim >= len(shape) or any(not -shape[dim] <= i < shape[dim] for i in idx):
                raise OutOfRangeError(
                    f"slice {dict(self.index)} is out of range for parameter {self.param!r} of shape {tuple(shape)}"
                )
        out = []
        for d, size in enumerate(shape):
            view = [1] * len(shape)
            view[d] = -1
            idx = torch.tensor(dims[d], device=device) if d in dims else torch.arange(size, device=device)
            out.append(idx.view(*view))
        return tuple(out)

    def numel(self, shape: torch.Size) -> int:
        n = 1
        dims = dict(self.index)
        for d, s in enumerate(shape):
            n *= len(dims[d]) if d in dims else s
        return n

    def to_dict(self) -> dict:
        return {"param": self.param, "index": {str(d): list(i) for d, i in self.index}}

    @classmethod
    def from_dict(cls, d: dict) -> ParamSlice:
        return cls.of(d["param"], {int(k): v for k, v in d.get("index", {}).items()})


@dataclass
class Anatomy:
    """Dimensions and weight views of one loaded model.  Built by `Anatomy.of(model)`.

    ``d_mlp`` is the width of the dense MLPs, or of one routed expert when every layer is MoE;
    ``d_expert`` is a routed expert's width (0 for dense models)."""

    model: nn.Module = field(repr=False)
    family: Family
    architecture: str
    n_layers: int
    d_model: int
    d_mlp: int
    n_heads: int
    d_vocab: int
    n_experts: int
    top_k: int
    d_expert: int  # width of one routed expert (0 for dense models); d_mlp is the dense MLPs' width
    moe_layers: tuple[int, ...]
    parallel_residual: bool

    # ------------------------------------------------------------------ construction
    @classmethod
    def of(cls, model: nn.Module, family: Family | None = None) -> Anatomy:
        config = getattr(model, "config", None)
        model_type = getattr(config, "model_type", None)
        family = family or (family_for(model_type) if model_type else None)
        if family is None:
            raise UnsupportedArchitectureError(
                f"No anatomy adapter for model_type={model_type!r} "
                f"({type(model).__name__}).\n" + supported_families_message()
            )
        layers = get_module(model, family.layers)
        n_layers = len(layers)
        moe_layers = tuple(i for i in range(n_layers) if family.moe is not None and _has(layers[i], family.moe.experts))
        first_dense = next((i for i in range(n_layers) if i not in moe_layers), None)
        d_mlp = 0
        if first_dense is not None:
            down = get_module(
                layers[first_dense], family.mlp_down
            ).weight  # [d_model, d_mlp] (linear) or [d_mlp, d_model]
            d_mlp = down.shape[1] if family.layout == "linear" else down.shape[0]
        n_experts = top_k = d_expert = 0
        if moe_layers:
            experts = get_module(layers[moe_layers[0]], family.moe.experts)
            down = getattr(experts, family.moe.down)
            n_experts, d_expert = down.shape[0], down.shape[2]
            d_mlp = d_mlp or d_expert
            top_k = int(
                getattr(config, family.moe.top_k_attr, 0)
                or getattr(get_module(layers[moe_layers[0]], family.moe.router), "top_k", 0)
            )
        emb = get_module(model, family.embed).weight
        unembed = get_module(model, family.unembed).weight if family.unembed and _has(model, family.unembed) else None
        parallel = bool(family.parallel_residual_attr and getattr(config, family.parallel_residual_attr, False))
        return cls(
            model=model,
            family=family,
            architecture=(getattr(config, "architectures", None) or [type(model).__name__])[0],
            n_layers=n_layers,
            d_model=emb.shape[1],
            d_mlp=int(d_mlp),
            n_heads=int(getattr(config, family.n_heads_attr, 0) or 0),
            d_vocab=(unembed.shape[0] if unembed is not None else emb.shape[0]),
            n_experts=int(n_experts),
            top_k=int(top_k),
            d_expert=int(d_expert),
            moe_layers=moe_layers,
            parallel_residual=parallel,
        )

    # ------------------------------------------------------------------ checks
    def check_layer(self, layer: int) -> int:
        if not -self.n_layers <= layer < self.n_layers:
            raise OutOfRangeError(
                f"layer {layer} is out of range: the model has {self.n_layers} layers (0..{self.n_layers - 1})"
            )
        return layer % self.n_layers

    def check_expert(self, layer: int, expert: int) -> int:
        layer = self.check_layer(layer)
        if layer not in self.moe_layers:
            raise OutOfRangeError(f"layer {layer} is dense; MoE layers are {list(self.moe_layers)}")
        if not 0 <= expert < self.n_experts:
            raise OutOfRangeError(
                f"expert {expert} is out of range: layer {layer} has {self.n_experts} experts (0..{self.n_experts - 1})"
            )
        return expert

    # ------------------------------------------------------------------ modules and paths
    def layer_path(self, layer: int) -> str:
        return f"{self.family.layers}.{self.check_layer(layer)}"

    def path(self, layer: int, rel: str) -> str:
        return f"{self.layer_path(layer)}.{rel}" if rel else self.layer_path(layer)

    def module(self, path: str) -> nn.Module:
        return get_module(self.model, path)

    @property
    def is_moe(self) -> bool:
        return bool(self.moe_layers)

    @cached_property
    def final_norm(self) -> nn.Module | None:
        f = self.family.final_norm
        return self.module(f) if f and _has(self.model, f) else None

    @cached_property
    def unembed(self) -> torch.Tensor | None:
        """``W_U`` as ``[d_vocab, d_model]`` (a view of the LM head's weight)."""
        f = self.family.unembed
        return self.module(f).weight if f and _has(self.model, f) else None

    @property
    def embed(self) -> torch.Tensor:
        """``W_E`` as ``[d_vocab, d_model]``."""
        return self.module(self.family.embed).weight

    # ------------------------------------------------------------------ MLP weights
    def _mlp_param(
        self, layer: int, which: str, expert: int | str | None
    ) -> tuple[str, torch.Tensor, tuple[int, int] | None]:
        """(param name, parameter, (expert dim, expert index) or None) for key/up/value weights.

        ``expert="shared"`` addresses the shared expert of Qwen2-MoE / DeepSeek layers."""
        layer = self.check_layer(layer)
        fam = self.family
        if expert == "shared":
            if layer not in self.moe_layers or not fam.moe.shared:
                raise OutOfRangeError(f"layer {layer} has no shared expert")
            proj = {"key": "gate_proj", "up": "up_proj", "value": "down_proj"}[which]
            name = f"{self.path(layer, fam.moe.shared)}.{proj}.weight"
            return name, self.model.get_parameter(name), None
        if layer in self.moe_layers:
            if expert is None:
                raise OutOfRangeError(f"layer {layer} is a MoE layer: pass expert= (0..{self.n_experts - 1})")
            self.check_expert(layer, expert)
            attr = fam.moe.down if which == "value" else fam.moe.gate_up
            name = f"{self.path(layer, fam.moe.experts)}.{attr}"
            return name, self.module(self.path(layer, fam.moe.experts)).get_parameter(attr), (0, expert)
        if expert is not None:
            raise OutOfRangeError(f"layer {layer} is dense: it has no experts")
        rel = {"key": fam.mlp_in, "up": fam.mlp_up, "value": fam.mlp_down}[which]
        if rel is None:
            raise OutOfRangeError(f"the {fam.name} family has no separate up projection")
        name = f"{self.path(layer, rel)}.weight"
        return name, self.model.get_parameter(name), None

    def keys(self, layer: int, expert: int | None = None) -> torch.Tensor:
        """Key (gate / first-matrix) vectors ``[d_mlp, d_model]`` as a view of the weights."""
        return self._kv_view(layer, "key", expert)

    def up_keys(self, layer: int, expert: int | None = None) -> torch.Tensor:
        """Up-projection vectors ``[d_mlp, d_model]`` of gated MLPs (view)."""
        return self._kv_view(layer, "up", expert)

    def values(self, layer: int, expert: int | str | None = None) -> torch.Tensor:
        """Value vectors ``[d_mlp, d_model]`` (rows = what each neuron writes; view)."""
        return self._kv_view(layer, "value", expert)

    def _kv_view(self, layer: int, which: str, expert: int | str | None) -> torch.Tensor:
        name, p, exp = self._mlp_param(layer, which, expert)
        if exp is not None:
            w = p[exp[1]]  # gate_up [2I, H] or down [H, I]
            if which == "value":
                return w.T
            half = w.shape[0] // 2
            return w[:half] if which == "key" else w[half:]
        linear = self.family.layout == "linear" or expert == "shared"
        return p.T if linear == (which == "value") else p

    def value_slice(self, layer: int, neurons: list[int] | int, expert: int | None = None) -> ParamSlice:
        """The parameter slice holding value vectors ``neurons`` (for edits and gradient masks)."""
        return self._neuron_slice(layer, "value", neurons, expert)

    def key_slice(self, layer: int, neurons: list[int] | int, expert: int | None = None) -> ParamSlice:
        """The parameter slice holding key (gate / first-matrix) rows ``neurons``."""
        return self._neuron_slice(layer, "key", neurons, expert)

    def up_slice(self, layer: int, neurons: list[int] | int, expert: int | None = None) -> ParamSlice:
        """The parameter slice holding up-projection rows ``neurons`` (gated MLPs only)."""
        return self._neuron_slice(layer, "up", neurons, expert)

    def neuron_slices(self, layer: int, neurons: list[int] | int) -> list[ParamSlice]:
        """Every slice that belongs to dense MLP neurons: key row, up row (gated MLPs), value
        vector and the first matrix's bias entries."""
        neurons = [neurons] if isinstance(neurons, int) else list(neurons)
        out = [self.key_slice(layer, neurons), self.value_slice(layer, neurons)]
        if self.family.mlp_up:
            out.append(self.up_slice(layer, neurons))
        mlp_in = self.path(layer, self.family.mlp_in)
        if getattr(self.module(mlp_in), "bias", None) is not None:
            out.append(ParamSlice.of(f"{mlp_in}.bias", {0: neurons}))
        return out

    def head_slices(self, layer: int, heads: list[int] | int) -> list[ParamSlice]:
        """Heads' slices of the attention output projection: what each head writes (Q/K/V are
        not included: shared under GQA, interleaved in NeoX).  Conv1D stores the projection
        transposed, so a head is a row block there and a column block of ``nn.Linear``."""
        heads = [heads] if isinstance(heads, int) else list(heads)
        o_path = self.path(layer, self.family.attn_o)
        w = self.model.get_parameter(f"{o_path}.weight")
        conv1d = self.family.layout == "conv1d"
        d_head = (w.shape[0] if conv1d else w.shape[1]) // self.n_heads
        bad = [h for h in heads if not 0 <= h < self.n_heads]
        if bad:
            raise OutOfRangeError(f"heads {bad} out of range: layer {layer} has {self.n_heads} heads")
        cols = [h * d_head + i for h in heads for i in range(d_head)]
        return [ParamSlice.of(f"{o_path}.weight", {0 if conv1d else 1: cols})]

    def _neuron_slice(self, layer: int, which: str, neurons, expert) -> ParamSlice:
        name, p, exp = self._mlp_param(layer, which, expert)
        neurons = [neurons] if isinstance(neurons, int) else list(neurons)
        d_mlp = self._kv_view(layer, which, expert).shape[0]
        bad = [n for n in neurons if not 0 <= n < d_mlp]
        if bad:
            raise OutOfRangeError(f"neurons {bad} out of range: layer {layer} has d_mlp={d_mlp}")
        if exp is not None:
            if which == "value":  # down [E, H, I]: neurons on dim 2
                return ParamSlice.of(name, {0: [exp[1]], 2: neurons})
            return ParamSlice.of(name, {0: [exp[1]], 1: neurons})
        linear = self.family.layout == "linear" or expert == "shared"
        dim = (1 if linear else 0) if which == "value" else (0 if linear else 1)
        return ParamSlice.of(name, {dim: neurons})

    def expert_slices(self, layer: int, expert: int) -> list[ParamSlice]:
        """Every parameter slice that belongs to one routed expert (fused tensors' dim 0)."""
        self.check_expert(layer, expert)
        base = self.path(layer, self.family.moe.experts)
        return [ParamSlice.of(f"{base}.{a}", {0: [expert]}) for a in (self.family.moe.gate_up, self.family.moe.down)]

    def router_weight(self, layer: int) -> torch.Tensor:
        """Router weight ``[n_experts, d_model]``."""
        layer = self.check_layer(layer)
        if layer not in self.moe_layers:
            raise OutOfRangeError(f"layer {layer} is dense; MoE layers are {list(self.moe_layers)}")
        return self.module(self.path(layer, self.family.moe.router)).weight

    def to_dict(self) -> dict:
        return {
            "architecture": self.architecture,
            "family": self.family.name,
            "n_layers": self.n_layers,
            "d_model": self.d_model,
            "d_mlp": self.d_mlp,
            "n_heads": self.n_heads,
            "d_vocab": self.d_vocab,
            "n_experts": self.n_experts,
            "top_k": self.top_k,
            "d_expert": self.d_expert,
            "moe_layers": list(self.moe_layers),
            "parallel_residual": self.parallel_residual,
        }


def _has(root: nn.Module, path: str) -> bool:
    try:
        get_module(root, path)
        return True
    except AttributeError:
        return False
