"""Unlearned checkpoints made elsewhere (an open-unlearning run, an RMU model, a user's own method)
and the never-knew models, checked against ORIG before any work.

    cks = parse_checkpoints("npo=runs/npo,rmu=runs/rmu")       # [Checkpoint("npo", "runs/npo"), ...]
    check_against(original, cks[0].path, facts, role="checkpoint 'npo'")

A checkpoint is audited as it is: no unlearning run, no NOISE control (what made it is unknown).
It must share ORIG's architecture (the config's shape-defining entries) and tokenizer (vocabulary,
special tokens, and how the target's prompts split), or the comparison with ORIG and REF would read
the tokenizer or the architecture, not the unlearning.  What differs is named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import UnlearnscopeError
from ..model.subject import LOAD_CONFIG_KEYS

# config entries that say how a model runs or was saved, not what it computes
RUNTIME_KEYS = LOAD_CONFIG_KEYS | {
    "use_cache",
    "output_attentions",
    "output_hidden_states",
    "return_dict",
    "torchscript",
    "pad_token_id",
    "bos_token_id",
    "eos_token_id",
    "id2label",
    "label2id",
    "problem_type",
    "task_specific_params",
    "tokenizer_class",
    "_attn_implementation",
    "attn_implementation",
    "chunk_size_feed_forward",
    "finetuning_task",
    "prefix",
    "output_router_logits",
    "use_return_dict",
}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class Checkpoint:
    """An unlearned model to audit as it is: its name in the report and where it is."""

    name: str
    path: str

    def origin(self) -> dict:
        """Where it came from, for the provenance: the path as given and resolved, and what its
        config says about its making (base model, library version)."""
        import json

        p = Path(self.path).expanduser()
        cfg = {}
        if (p / "config.json").is_file():
            try:
                cfg = json.loads((p / "config.json").read_text())
            except json.JSONDecodeError:
                cfg = {}
        return {
            "path": self.path,
            "resolved": str(p.resolve()) if p.exists() else None,
            "name_or_path": cfg.get("_name_or_path"),
            "transformers_version": cfg.get("transformers_version"),
            "architectures": cfg.get("architectures"),
        }


def parse_checkpoints(spec, taken=()) -> list[Checkpoint]:
    """``"NAME=PATH[,NAME=PATH…]"`` (or a list of such strings) → checkpoints; names are unique and
    differ from the audit's own methods (``taken``)."""
    if not spec:
        return []
    parts = [spec] if isinstance(spec, str) else list(spec)
    out = []
    for raw in (x.strip() for p in parts for x in str(p).split(",")):
        if not raw:
            continue
        name, sep, path = raw.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise UnlearnscopeError(f"--unlearned takes NAME=PATH (comma-separated for several), got {raw!r}")
        if not NAME.match(name):
            raise UnlearnscopeError(
                f"checkpoint name {name!r}: use letters, digits and _ . + - (it names the report's row)"
            )
        out.append(Checkpoint(name, path))
    names = [c.name for c in out]
    dup = sorted({n for n in names if names.count(n) > 1} | (set(names) & set(taken)))
    if dup:
        raise UnlearnscopeError(f"checkpoint names must be unique and differ from the audit's methods: {dup}")
    return out


def _config_dict(path: str) -> dict:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(path).to_dict()
    except (OSError, ValueError) as err:
        raise UnlearnscopeError(
            f"{path!r}: cannot read a model config ({err}); give a model directory with config.json"
        ) from err


def architecture_difference(a: dict, b: dict) -> list[str]:
    """The shape-defining config entries where ``a`` and ``b`` differ, as ``key: a vs b``."""
    keys = sorted((set(a) | set(b)) - RUNTIME_KEYS)
    return [f"{k}: {a.get(k)!r} vs {b.get(k)!r}" for k in keys if a.get(k) != b.get(k)]


def tokenizer_difference(a, b, prompts=()) -> list[str]:
    """How tokenizers ``a`` (ORIG's) and ``b`` differ: vocabulary, special tokens, and the first
    prompts they split differently."""
    if b is None:
        return []
    out = []
    va, vb = a.get_vocab(), b.get_vocab()
    if va != vb:
        moved = sum(1 for t, i in va.items() if vb.get(t) != i)
        out.append(f"vocabulary: {len(va)} vs {len(vb)} tokens, {moved} of ORIG's map to another id or are missing")
    for attr in ("bos_token", "eos_token", "pad_token", "unk_token"):
        x, y = getattr(a, attr, None), getattr(b, attr, None)
        if x != y and not (attr == "pad_token" and (x is None or y is None)):
            out.append(f"{attr}: {x!r} vs {y!r}")
    from ..data.tokens import encode_text

    split = [p for p in prompts if encode_text(a, p) != encode_text(b, p)]
    if split:
        out.append(f"{len(split)} target prompts split into other tokens, e.g. {split[0]!r}")
    return out


def _tokenizer_of(path: str):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError, TypeError):
        return None  # a weights-only directory: ORIG's tokenizer is used


def check_against(original, path: str, prompts, role: str) -> None:
    """Raise (naming what differs) unless the model at ``path`` has ORIG's architecture and tokenizer.
    Reads config and tokenizer files only: no weights are loaded."""
    from ..model.loading import check_model_dir

    p = Path(path).expanduser()
    if p.exists():
        check_model_dir(p)
    orig_cfg = original.model.config.to_dict()
    diff = architecture_difference(orig_cfg, _config_dict(str(p) if p.exists() else path))
    if diff:
        raise UnlearnscopeError(
            f"{role} ({path}) has another architecture than ORIG: "
            + "; ".join(diff[:6])
            + (f" (+{len(diff) - 6} more)" if len(diff) > 6 else "")
        )
    diff = tokenizer_difference(original.tokenizer, _tokenizer_of(str(p) if p.exists() else path), prompts)
    if diff:
        raise UnlearnscopeError(f"{role} ({path}) has another tokenizer than ORIG: " + "; ".join(diff))


def check_parameters(original, subject, role: str) -> None:
    """After loading: the same parameter names and shapes as ORIG (a last check the config cannot make)."""
    a = {n: tuple(p.shape) for n, p in original.model.named_parameters()}
    b = {n: tuple(p.shape) for n, p in subject.model.named_parameters()}
    if a != b:
        diff = sorted(set(a) ^ set(b))[:3] or [n for n in a if a[n] != b.get(n)][:3]
        raise UnlearnscopeError(
            f"{role} has other parameters than ORIG (e.g. {diff}): it is not an unlearned copy of this model"
        )


def target_prompts(target) -> list[str]:
    return [f.prompt for f in [*target.forget, *target.retain]]


def checked_inputs(cfg, original, target, log) -> list[Checkpoint]:
    """The config's checkpoints, each checked against ORIG (architecture, tokenizer, the target's
    token splits) before any work; a bad one stops the audit with what differs."""
    cks = cfg.checkpoints
    prompts = target_prompts(target)
    for c in cks:
        check_against(original, c.path, prompts, f"checkpoint {c.name!r}")
    if cks:
        log(
            f"[audit]   {len(cks)} checkpoint{'s' if len(cks) > 1 else ''} match ORIG's architecture and tokenizer: "
            f"{', '.join(c.name for c in cks)}"
        )
    return cks
