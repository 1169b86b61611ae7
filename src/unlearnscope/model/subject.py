"""`Subject`: a loaded model with its tokenizer, anatomy and hook table — what every analysis takes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import torch
from torch import nn

from ..data.tokens import encode_batch
from ..errors import UnlearnscopeError
from .anatomy import Anatomy
from .hook_points import HookPoint, build_hook_table
from .names import NameSpec, resolve

# config entries that say where/how a model was loaded, not what it computes
LOAD_CONFIG_KEYS = {
    "_name_or_path",
    "dtype",
    "torch_dtype",
    "transformers_version",
    "_commit_hash",
    "architectures",
}


def config_json(model) -> str:
    """The model's architecture config as canonical JSON, without keys that name where or how it
    was saved (path, dtype, library version); ``""`` for a model without an HF config."""
    cfg = getattr(model, "config", None)
    if cfg is None or not hasattr(cfg, "to_dict"):
        return ""
    return json.dumps(
        {k: v for k, v in cfg.to_dict().items() if k not in LOAD_CONFIG_KEYS}, sort_keys=True, default=str
    )


ModelInputs = str | Sequence[str] | torch.Tensor | Mapping[str, Any]
"""What `Subject.as_inputs` reads: text, a list of texts, token ids ``[batch, pos]`` (or
``[pos]``) or a tokenizer's dict of tensors."""


@dataclass
class Subject:
    """A model under study.  ``model`` is the native module (never a copy); ``source`` is the
    directory or hub id it came from (never written to)."""

    model: nn.Module
    tokenizer: Any
    anatomy: Anatomy
    source: str | None = None
    wrapped: Any = field(default=None, repr=False)  # the TL / nnsight object we were given, if any

    # ------------------------------------------------------------------ hook table
    @cached_property
    def hook_table(self) -> dict[str, HookPoint]:
        return build_hook_table(self.anatomy)

    def hook_names(self) -> list[str]:
        return list(self.hook_table)

    def resolve(
        self, names: NameSpec | Iterable[NameSpec] | None = None, layers: Iterable[int] | None = None
    ) -> list[HookPoint]:
        return resolve(self.hook_table, names, root=self.model, layers=layers, n_layers=self.anatomy.n_layers)

    # ------------------------------------------------------------------ inputs
    @property
    def device(self) -> torch.device:
        return self.anatomy.embed.device

    def tokenize(self, texts: str | list[str], padding_side: str = "right", **kwargs) -> dict[str, torch.Tensor]:
        """Tokenize with padding (right unless asked; never the tokenizer's mutable default)
        and move to the embedding's device."""
        if self.tokenizer is None:
            raise UnlearnscopeError(
                "this subject has no tokenizer: pass tokenizer= to unlearnscope.load, or give token ids"
            )
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts:
            raise UnlearnscopeError("empty prompt set: give at least one text")
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        if kwargs:  # the caller's own tokenizer arguments (add_special_tokens=..., truncation=...)
            enc = self.tokenizer(texts, return_tensors="pt", padding=True, padding_side=padding_side, **kwargs)
        else:
            enc = encode_batch(self.tokenizer, texts, padding_side)
        return {k: v.to(self.device) for k, v in enc.items()}

    def as_inputs(self, inputs) -> dict[str, torch.Tensor]:
        """Text, token ids ``[batch, pos]`` or a tokenizer dict → model keyword inputs."""
        if isinstance(inputs, str) or (isinstance(inputs, (list, tuple)) and all(isinstance(t, str) for t in inputs)):
            return self.tokenize(list([inputs] if isinstance(inputs, str) else inputs))
        if isinstance(inputs, torch.Tensor):
            ids = inputs if inputs.ndim == 2 else inputs[None]
            return {"input_ids": ids.to(self.device)}
        if isinstance(inputs, dict) or hasattr(inputs, "keys"):
            return {k: (v.to(self.device) if isinstance(v, torch.Tensor) else v) for k, v in dict(inputs).items()}
        raise UnlearnscopeError(
            f"cannot use {type(inputs).__name__} as model inputs: give text, token ids or a tokenizer dict"
        )

    def forward(self, inputs, **kwargs):
        """Run the native model on ``inputs`` (see `as_inputs`) and return its native output."""
        return self.model(**self.as_inputs(inputs), **kwargs)

    # ------------------------------------------------------------------ provenance
    def fingerprint(self) -> str:
        """A short content hash of the model: config, parameter names/shapes/dtypes and a strided
        sample of every parameter's values.  Changes when any sampled weight changes."""
        h = hashlib.sha256()
        h.update(config_json(self.model).encode())
        for name, p in self.model.named_parameters():
            h.update(f"{name}:{tuple(p.shape)}:{p.dtype}".encode())
            flat = p.detach().reshape(-1)
            step = max(1, flat.numel() // 256)
            h.update(flat[::step].float().cpu().numpy().tobytes())
        return h.hexdigest()[:16]

    # ------------------------------------------------------------------ conveniences
    def hooks(self, fwd_hooks, **kwargs):
        from .forward_hooks import hooks

        return hooks(self, fwd_hooks, **kwargs)

    def capture(self, names=None, **kwargs):
        from .activations import capture

        return capture(self, names, **kwargs)

    def run_with_cache(self, inputs, names=None, **kwargs):
        from .activations import run_with_cache

        return run_with_cache(self, inputs, names, **kwargs)

    def edit(self, **kwargs):
        from .edits import Edits

        return Edits(self, **kwargs)

    def describe(self) -> dict:
        """Anatomy plus the hook-name table (what `unlearnscope inspect --json` prints)."""
        p = next(self.model.parameters(), None)
        where = {"device": str(p.device), "dtype": str(p.dtype).replace("torch.", "")} if p is not None else {}
        return {**self.anatomy.to_dict(), "source": self.source, **where, "hook_names": self.hook_names()}
