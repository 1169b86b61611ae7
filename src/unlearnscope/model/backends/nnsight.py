"""nnsight backend: the same canonical captures through an nnsight trace, locally or on NDIF.

    logits, cache = run_with_cache(subject, texts, ["blocks.1.hook_resid_post"])
    logits, cache = run_with_cache(subject, texts, names, remote="local")   # serialise + run here
    logits, cache = run_with_cache(remote_subject, texts, names, remote=True)  # on NDIF

The trace body only reads ``.inputs`` / ``.output`` of native modules and saves them, so it
serialises for remote execution; our codecs turn the saved values into canonical tensors
afterwards, on the caller's side.  Per-expert outputs are recomputed from the experts' weights,
so they need the weights locally (not with ``remote=True`` on a model you don't hold).

Pointing it at NDIF: build the subject from an nnsight model that NDIF serves, e.g.
``unlearnscope.load(nnsight.LanguageModel("meta-llama/Llama-3.1-70B"))`` (a meta-device model:
no weights are downloaded), set your key once with ``nnsight.CONFIG.set_default_api_key(KEY)``
(or ``NDIF_API_KEY``), then pass ``remote=True``.  ``remote="local"`` is nnsight's own offline
simulation of the remote path (serialise, hide local modules, deserialise, run).
"""

from __future__ import annotations

import torch

from ...errors import UnlearnscopeError


def to_nnsight(subject):
    """The nnsight model for ``subject`` (the one it was loaded from, or a wrapper of ``subject.model``;
    wrapping does not change the model's forward)."""
    wrapped = subject.wrapped
    if wrapped is not None and type(wrapped).__module__.startswith("nnsight"):
        return wrapped
    lm = subject.__dict__.get("_nnsight")
    if lm is None:
        from nnsight.modeling.transformers import TransformersModel

        tok = subject.tokenizer
        side = getattr(tok, "padding_side", None)
        lm = TransformersModel(subject.model, tokenizer=tok)
        if side is not None:
            tok.padding_side = side  # nnsight switches the (shared) tokenizer to left padding
        subject.__dict__["_nnsight"] = lm
    return lm


def execution_order(subject, sites, inputs) -> list[int]:
    """Order of ``sites`` (module path, phase) in a real forward: nnsight must be asked in that order."""
    events: dict[tuple[str, str], int] = {}
    handles = []
    for path, phase in set(sites):
        module = subject.model.get_submodule(path)

        def mark(*_, key=(path, phase), **__):
            events.setdefault(key, len(events))

        handles.append(module.register_forward_pre_hook(mark) if phase == "in" else module.register_forward_hook(mark))
    try:
        with torch.no_grad():
            subject.model(**inputs)
    finally:
        for h in handles:
            h.remove()
    return sorted(range(len(sites)), key=lambda i: events.get(sites[i], len(events)))


def run_with_cache(subject, inputs, names, *, remote: bool | str = False):
    """``(logits, {canonical name: tensor})`` through an nnsight trace."""
    lm = to_nnsight(subject)
    points = subject.resolve(names)
    model_inputs = subject.as_inputs(inputs)
    on_meta = any(p.is_meta for p in subject.model.parameters())
    if on_meta and any(p.codec.needs_inputs for p in points):
        raise UnlearnscopeError(
            "per-expert and dense-expert points are recomputed from expert weights, which a remote-only model does not "
            "hold here"
        )
    sites: list[tuple[str, str]] = []
    for p in points:  # computed expert points also need the experts' inputs
        for site in ([(p.module_path, "in")] if p.codec.needs_inputs else []) + [(p.module_path, p.phase)]:
            if site not in sites:
                sites.append(site)
    order = sites if on_meta else [sites[i] for i in execution_order(subject, sites, model_inputs)]
    unembed = subject.anatomy.family.unembed
    saved: list = []
    with lm.trace(dict(model_inputs), remote=remote):
        for path, phase in order:
            env = lm.get(path)
            saved.append((env.inputs if phase == "in" else env.output).save())
        logits = lm.get(unembed).output.save() if unembed else None
    values = dict(zip(order, saved, strict=True))
    out = {}
    for p in points:
        v = values[(p.module_path, p.phase)]
        module = subject.model.get_submodule(p.module_path)
        if p.phase == "in":
            args, kwargs = v
            out[p.name] = p.codec.read(module, tuple(args), dict(kwargs), None)
        else:
            args, kwargs = values[(p.module_path, "in")] if p.codec.needs_inputs else ((), {})
            out[p.name] = p.codec.read(module, tuple(args), dict(kwargs), v)
    return logits, out


def run_with_interventions(subject, inputs, interventions, *, remote: bool | str = False):
    """Logits of a forward with ``{name_or_pattern: op}`` applied inside an nnsight trace.

    Same operations as `unlearnscope.model.interventions` (``zero``, ``scale``, ``add``,
    ``replace``, or any ``(act, hook_point) -> act`` callable); they run inside the trace, so with
    ``remote=True`` they run on NDIF (nnsight ships their code by value).  Per-expert outputs are
    not available here (they are recomputed from weights); use the native backend for those."""
    lm = to_nnsight(subject)
    model_inputs = subject.as_inputs(inputs)
    batch_shape = tuple(model_inputs["input_ids"].shape)
    pairs = [(p, op) for spec, op in dict(interventions).items() for p in subject.resolve(spec)]
    if any(p.codec.needs_inputs for p, _ in pairs):
        raise UnlearnscopeError(
            "per-expert and dense-expert points cannot be intervened on through nnsight (they are recomputed from "
            "weights); use unlearnscope.model.intervene"
        )
    sites = list(dict.fromkeys((p.module_path, p.phase) for p, _ in pairs))
    on_meta = any(p.is_meta for p in subject.model.parameters())
    rank = {
        s: i
        for i, s in enumerate(sites if on_meta else [sites[i] for i in execution_order(subject, sites, model_inputs)])
    }
    pairs.sort(key=lambda po: rank[(po[0].module_path, po[0].phase)])
    unembed = subject.anatomy.family.unembed
    with lm.trace(dict(model_inputs), remote=remote):
        for point, op in pairs:
            env = lm.get(point.module_path)
            if point.phase == "out":
                out = env.output
                env.output = point.codec.write(
                    None, (), {}, out, _apply(op, point.codec.read(None, (), {}, out), point, batch_shape)
                )
            else:
                args, kwargs = env.inputs
                new = _apply(op, point.codec.read(None, args, kwargs, None), point, batch_shape)
                env.inputs = point.codec.write(None, args, kwargs, None, new)
        logits = lm.get(unembed).output.save()
    return logits


def _apply(op, act, point, batch_shape):
    """Our `Op`s take the forward's batch shape (for token-flat points); plain callables don't."""
    from ..interventions import Op

    return op(act, point, batch_shape=batch_shape) if isinstance(op, Op) else op(act, point)
