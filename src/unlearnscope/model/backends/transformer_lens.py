"""TransformerLens backend: a `TransformerBridge` booted around the subject's own HF model.

    bridge = to_bridge(subject)                       # wraps a copy of subject.model
    logits, cache = run_with_cache(subject, texts, ["blocks.1.hook_resid_post"])

The bridge gets its own copy of the model (see `to_bridge`).  Canonical names are the bridge's
legacy TransformerLens names except where noted in `BRIDGE_NAMES`.  Points the bridge does not
expose (per-expert outputs, top-k indices) raise `HookNameError`.

`to_hooked_transformer` builds the legacy ``HookedTransformer`` (TransformerLens 3 only; removed in
4.x) from the subject's config and weights, unprocessed (no LayerNorm folding or centring, so
numbers compare with HF), for the families TransformerLens converts (GPT-2, GPT-NeoX, Llama,
Mistral, Qwen2, Mixtral, OLMoE ...).  Pass ``kind="hooked"`` to `run_with_cache` to use it.
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
            name,
            hf_model=copy.deepcopy(subject.model),
            tokenizer=_tokenizer_with_path(subject.tokenizer),
            device=str(subject.device),
        )
        subject.__dict__["_tl_bridge"] = bridge
    return bridge


def to_hooked_transformer(subject):
    """Build (once per subject) an unprocessed ``HookedTransformer`` holding a converted copy of
    the subject's weights.  Raises ``NotImplementedError`` for architectures TL cannot convert."""
    ht = subject.__dict__.get("_tl_hooked")
    if ht is None:
        from transformer_lens import HookedTransformer
        from transformer_lens import loading_from_pretrained as loading

        cfg_dir = tempfile.mkdtemp(prefix="unlearnscope-cfg-")
        subject.model.config.save_pretrained(cfg_dir)  # config only: TL reads it from a directory
        cfg = loading.get_pretrained_model_config(cfg_dir, device=str(subject.device), fold_ln=False)
        state = loading.get_pretrained_state_dict(cfg_dir, cfg, hf_model=subject.model)
        ht = HookedTransformer(cfg, tokenizer=_tokenizer_with_path(subject.tokenizer), move_to_device=False)
        ht.load_and_process_state_dict(
            state,
            fold_ln=False,
            center_writing_weights=False,
            center_unembed=False,
            fold_value_biases=False,
            refactor_factored_attn_matrices=False,
        )
        subject.__dict__["_tl_hooked"] = ht.eval()
    return ht


def run_with_cache(subject, inputs, names, *, kind: str = "bridge"):
    """``(logits, {canonical name: tensor})`` through TransformerLens (``kind="bridge"`` or ``"hooked"``)."""
    bridge = to_bridge(subject) if kind == "bridge" else to_hooked_transformer(subject)
    points = subject.resolve(names)
    wanted = {bridge_name(p.name) if kind == "bridge" else p.name: p for p in points}
    missing = [n for n in wanted if n not in bridge.hook_dict]
    if missing:
        raise HookNameError(f"TransformerLens ({kind}) has no hook for {missing[:5]}; use the native backend for these")
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
