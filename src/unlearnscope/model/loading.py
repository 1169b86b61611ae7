"""`load(...)` → `Subject`, from a local HF directory, a hub id, or an object already in memory.

    subject = unlearnscope.load("path/to/model", device="cuda", dtype="bfloat16")
    subject = unlearnscope.load("EleutherAI/pythia-70m")          # where a hub is reachable
    subject = unlearnscope.load(hf_model, tokenizer)               # an nn.Module you built
    subject = unlearnscope.load(bridge)                            # TransformerLens TransformerBridge
    subject = unlearnscope.load(nnsight_model)                     # nnsight LanguageModel / TransformersModel
    subject = unlearnscope.load("big/model", device_map="auto")    # spread over GPUs (accelerate)
    subject = unlearnscope.load("tiny:mixtral")                    # a seeded random tiny model

Organism specs (``organism:NAME[:ref]``) are resolved by `unlearnscope.load`, one level up.

Safetensors only; ``trust_remote_code`` is off unless asked for.  Nothing is ever written to the
source directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..data import ModelSpec
from ..errors import NotAModelDirectoryError, UnlearnscopeError, UnsupportedArchitectureError
from .anatomy import Anatomy, supported_families_message
from .families import Family, family_for
from .subject import Subject

ENCODER_FAMILIES = {"bert"}


def as_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    name = {"bf16": "bfloat16", "fp16": "float16", "half": "float16", "fp32": "float32", "float": "float32"}.get(
        dtype, dtype
    )
    value = getattr(torch, str(name), None)
    if not isinstance(value, torch.dtype):
        raise UnlearnscopeError(f"unknown dtype {dtype!r}: use float32, bfloat16 or float16")
    return value


def load(
    model: str | os.PathLike | nn.Module | Any,
    tokenizer: Any = None,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    device_map: str | dict | None = None,
    trust_remote_code: bool = False,
    revision: str | None = None,
    family: Family | None = None,
    **hf_kwargs,
) -> Subject:
    """Load or wrap a model as a `Subject` (model, tokenizer, anatomy, hook table)."""
    dtype = as_dtype(dtype)
    if isinstance(model, str):
        spec = ModelSpec.parse(model)
        if spec.is_organism:
            raise UnlearnscopeError(
                f"{model!r} names an organism: load it with unlearnscope.load (which builds it on first use), "
                "or pass its directory (unlearnscope.organisms.model_path)"
            )
        if spec.kind == "tiny":
            from .tiny import tiny_model

            m, tok = tiny_model(spec.name)
            return load(m, tokenizer or tok, device=device, dtype=dtype, family=family)
    if isinstance(model, (str, os.PathLike)):
        return _load_pretrained(
            str(model), tokenizer, device, dtype, device_map, trust_remote_code, revision, family, hf_kwargs
        )
    wrapped = None
    cls = type(model)
    module_name = cls.__module__
    if module_name.startswith("transformer_lens"):
        wrapped = model
        if hasattr(model, "original_model"):  # TransformerBridge wraps the native HF model
            model, tokenizer = model.original_model, tokenizer or getattr(wrapped, "tokenizer", None)
        else:
            raise UnsupportedArchitectureError(
                f"{cls.__name__} re-implements the architecture, so its weights are not the native "
                "model's. Wrap a TransformerBridge instead (TransformerBridge.boot_transformers(path)), or load the HF "
                "directory directly."
            )
    elif module_name.startswith("nnsight"):
        wrapped = model
        tokenizer = tokenizer or getattr(model, "tokenizer", None)
        model = model._module  # nnsight keeps the native module here (Envoy._module)
    if not isinstance(model, nn.Module):
        raise UnlearnscopeError(
            f"cannot load a {cls.__name__}: give a model directory, a hub id, an nn.Module, a "
            "TransformerLens TransformerBridge or an nnsight model"
        )
    if dtype is not None or device is not None:
        model.to(device=device, dtype=dtype)
    return Subject(model=model, tokenizer=tokenizer, anatomy=Anatomy.of(model, family), source=None, wrapped=wrapped)


def _load_pretrained(
    path, tokenizer, device, dtype, device_map, trust_remote_code, revision, family, hf_kwargs
) -> Subject:
    import transformers
    from transformers import AutoConfig, AutoTokenizer

    local = Path(path).expanduser()
    is_local = local.exists()
    if is_local:
        check_model_dir(local)
        path = str(local)
    elif path.startswith((".", "/", "~")) or path.count("/") > 1:
        raise NotAModelDirectoryError(
            f"{path!r} does not exist. Give a model directory (with config.json and *.safetensors) or a hub id like "
            "'org/name'."
        )
    try:
        config = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code, revision=revision)
    except OSError as err:
        raise NotAModelDirectoryError(
            f"could not read a model config for {path!r}: {err}\n"
            "If this is a hub id, check the name and that the hub is reachable (or set HF_HUB_OFFLINE=1 and use a "
            "local copy)."
        ) from err
    fam = family or family_for(config.model_type)
    if fam is None:
        raise UnsupportedArchitectureError(
            f"No anatomy adapter for model_type={config.model_type!r} ({path}).\n" + supported_families_message()
        )
    cls = _model_class(config, fam, transformers)
    kwargs = dict(use_safetensors=True, trust_remote_code=trust_remote_code, revision=revision, **hf_kwargs)
    if dtype is not None:
        kwargs["dtype"] = dtype
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = cls.from_pretrained(path, **kwargs)
    except OSError as err:
        raise NotAModelDirectoryError(
            f"could not load weights from {path!r}: {err}\nunlearnscope loads safetensors weights only."
        ) from err
    if device is not None and device_map is None:
        model.to(device)
    model.eval()
    if tokenizer is None:
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code, revision=revision)
        except (OSError, ValueError, TypeError):
            tokenizer = None  # a weights-only directory: the subject still works on token ids
    return Subject(model=model, tokenizer=tokenizer, anatomy=Anatomy.of(model, fam), source=path)


def check_model_dir(path: Path) -> None:
    if not path.is_dir():
        raise NotAModelDirectoryError(
            f"{str(path)!r} is a file, not a model directory: give the directory holding config.json and *.safetensors."
        )
    if not (path / "config.json").is_file():
        raise NotAModelDirectoryError(f"{str(path)!r} is not a Hugging Face model directory: it has no config.json.")
    if not any(path.glob("*.safetensors")):
        extra = " It has PyTorch .bin weights: convert them to safetensors first." if any(path.glob("*.bin")) else ""
        raise NotAModelDirectoryError(
            f"{str(path)!r} has no *.safetensors weights; unlearnscope loads safetensors only.{extra}"
        )


def _model_class(config, fam: Family, transformers):
    """The checkpoint's own head class when transformers has it, else a sensible Auto class."""
    for arch in getattr(config, "architectures", None) or []:
        cls = getattr(transformers, arch, None)
        if cls is not None:
            return cls
    return transformers.AutoModel if fam.name in ENCODER_FAMILIES else transformers.AutoModelForCausalLM
