"""TransformerLens backend: a `TransformerBridge` booted around the subject's own HF model.

    bridge = to_bridge(subject)                       # wraps a copy of subject.model
    logits, cache = run_with_cache(subject, texts, ["blocks.1.hook_resid_post"])

The bridge gets its own copy of the model (see `to_bridge`).  Canonical names are the bridge's legacy TransformerLens names except where noted in
`BRIDGE_NAMES`.  Points the bridge does not expose (per-expert outputs, top-k indices) raise
`HookNameError`.  HookedTransformer re-implements the architecture, so we use the bridge.
"""

from __future__ import annotations

import copy
import re
import tempfile

import torch

from ...errors import HookNameError

# canonical name pattern -> bridge name template
BRIDGE_NAMES = {
    r"^hook_logits$": "unembed.hook_out",
    r"^blocks\.(\d+)\.moe\.hook_router_logits$": "blocks.{0}.mlp.gate.hook_out",
}


def bridge_name(name: str) -> str:
    for rx, template in BRIDGE_NAMES.items():
        m = re.match(rx, name)
        if m:
            return template.format(*m.groups())
    return name


def _tokenizer_with_path(tokenizer):
    """The bridge reloads the tokenizer by ``name_or_path``; give in-memory ones a local path."""
    if tokenizer is None or tokenizer.init_kwargs.get("name_or_path"):
        return tokenizer
    from transformers import AutoTokenizer

    path = tempfile.mkdtemp(prefix="unlearnscope-tok-")
    tokenizer.save_pretrained(path)
    return AutoTokenizer.from_pretrained(path)


def to_bridge(subject):
    """Boot (once per subject) a TransformerBridge around a *copy* of ``subject.model``.

    The bridge rewrites the module tree it wraps in place (it swaps blocks for ``BlockBridge``
    wrappers and gives the LM head a bias), after which the HF forward is no longer
    bit-identical; so it never touches the subject's own model.  Costs one model copy."""
    bridge = subject.__dict__.get("_tl_bridge")
    if bridge is None:
        from transformer_lens.model_bridge import TransformerBridge

        name = subject.source or getattr(subject.model.config, "_name_or_path", "") or "local-model"
        bridge = TransformerBridge.boot_transformers(
            name, hf_model=copy.deepcopy(subject.model), tokenizer=_tokenizer_with_path(subject.tokenizer), device=str(subject.device)
        )
        subject.__dict__["_tl_bridge"] = bridge
    return bridge


def run_with_cache(subject, inputs, names):
    """``(logits, {canonical name: tensor})`` through TransformerLens."""
    bridge = to_bridge(subject)
    points = subject.resolve(names)
    wanted = {bridge_name(p.name): p for p in points}
    missing = [n for n in wanted if n not in bridge.hook_dict]
    if missing:
        raise HookNameError(f"TransformerLens' bridge has no hook for {missing[:5]}; use the native backend for these")
    ids = subject.as_inputs(inputs)["input_ids"]
    with torch.no_grad():
        logits, cache = bridge.run_with_cache(ids, names_filter=list(wanted))
    out = {}
    for bname, point in wanted.items():
        t = cache[bname]
        if point.token_flat:
            t = t.reshape(-1, t.shape[-1])
        out[point.name] = t
    return logits, out
