"""``unlearnscope verify``, ``unlearnscope probe`` and
``unlearnscope attack relearn|incontext|format|sweep|direction|quantize|router|revert``.

    unlearnscope verify --model runs/unlearned --original ORIG --reference REF --facts f.json --retain-facts r.json \
        --readouts probe,logit_lens --attacks relearn --set relearn.steps=15 --json   # any registered readouts
    unlearnscope probe --model organism:facts --facts organism:forget --layers 2,3,4 --json
    unlearnscope attack relearn --model runs/unlearned --original ORIG --reference REF --facts forget.json \\
        --retain-facts retain.json --json
    unlearnscope probe --model organism:facts --patch runs/ga --facts organism:forget --json  # an `unlearn --out` patch

``--model`` is the model under audit (``--patch`` applies an edit patch to it first).  With
``--model organism:NAME`` the original defaults to ``organism:NAME`` and the references to
``organism:NAME:ref`` and ``organism:NAME:ref1`` (two never-knew weight seeds); ``--reference``
takes several models, comma-separated.  ``--facts organism:forget`` / ``--retain-facts organism:retain`` take the
organism's splits (formats: its held-out paraphrases, strict paraphrases and multiple choice).
Fact files are JSON lists / JSON Lines of ``{"prompt", "answer", "subject", "relation"[, "kind"]}``;
``attack format`` groups ``--facts`` by ``kind``.  Every metric is printed as
``{"agg_value", "ci", "value_by_index", "original", "reference", "rki"}``, and every readout's
finding ("decodable" / "not linearly decodable at margin m", "recovers" / "does not recover at
margin m"); these commands run a subset of the readouts, so they never print a knowledge verdict
(that needs behaviour, an intrinsic readout and a relearning attack: ``unlearnscope audit``).
"""

from __future__ import annotations

import typer

from .common import emit, handle_errors, load_subject

attack_app = typer.Typer(no_args_is_help=True, help="Attacks on forgotten facts, each also run on the reference model.")

# The options these commands share (typer only reads an option's declaration, so one serves many).
MODEL = typer.Option(..., "--model", help="model under audit (path, hub id, organism:NAME)")
FACTS = typer.Option(..., "--facts", help="forget facts (file or organism:forget)")
RETAIN_FACTS = typer.Option(None, "--retain-facts", help="retain facts (default organism:retain for organisms)")
ORIGINAL = typer.Option(None, "--original", help="original model (ORIG)")
REFERENCE = typer.Option(None, "--reference", help="never-knew reference model(s) (REF), comma-separated")
PATCH = typer.Option(None, "--patch", help="edit patch to apply to --model first")
BOS = typer.Option(None, "--bos")
MARGIN = typer.Option(0.2, "--margin", help="pre-registered equivalence margin around RKI = 0")
DEVICE = typer.Option(None, "--device")
OUT = typer.Option(None, "--out", help="write verification.json here")
AS_JSON = typer.Option(False, "--json")


def _subjects(model: str, patch: str | None, original: str | None, reference: str | None, device: str | None):
    from ..data import ModelSpec
    from ..model.edits import EditPatch

    subject = load_subject(model, device)
    if patch:
        EditPatch.load(patch).apply(subject)
    spec = ModelSpec.parse(model)
    if spec.is_organism and spec.variant is None:
        original = original or str(spec)
        reference = reference or f"{spec.with_variant('ref')},{spec.with_variant('ref1')}"
    orig = load_subject(original, device) if original else None
    refs = [load_subject(r.strip(), device) for r in (reference or "").split(",") if r.strip()]
    return subject, orig, refs or None


def _organism_facts(model: str, forget_spec: str) -> dict:
    """For organism splits: the held-out formats, the in-context pool and the restatements."""
    from ..data import DataSpec
    from ..organisms import world_facts
    from ..sources import organism_for

    ds = DataSpec.parse(forget_spec)
    if not ds.is_organism:
        return {}
    org = organism_for(ds, model)
    return {
        "formats": {k: world_facts(org, "forget", (k,)) for k in ("paraphrase", "strict", "mc")},
        "incontext_pool": world_facts(org, "retain", ("cloze",)),
        "restatements": world_facts(org, "forget", ("cloze", "qa", "paraphrase_train")),
    }


def _run(model, patch, original, reference, facts, retain_facts, device, cfg, formats=None):
    from ..data import DataSpec
    from ..errors import UnlearnscopeError
    from ..evaluate import ModelSet, VerifyData, verify
    from ..sources import load_facts

    subject, orig, ref = _subjects(model, patch, original, reference, device)
    forget = load_facts(facts, model, default_organism=None)
    if retain_facts:
        retain = load_facts(retain_facts, model, default_organism=None)
    elif DataSpec.parse(facts).is_organism:
        retain = load_facts("organism:retain", model, default_organism=None)
    else:
        raise UnlearnscopeError(
            "give --retain-facts: probes train on retain entities and relearning needs them for locality"
        )
    import sys

    from ..progress import progress_enabled

    kw = {"formats": formats, "incontext_pool": None, "restatements": None}
    kw.update({k: v for k, v in _organism_facts(model, facts).items() if k != "formats" or formats is None})
    with progress_enabled(sys.stderr.isatty()):  # bars in a terminal; never on stdout
        return verify(ModelSet.of(subject, orig, ref), VerifyData.of(forget, retain, **kw), cfg)


def _payload(v, names=None) -> dict:
    """The metrics asked for and each readout's finding; no knowledge verdict (a subset of readouts)."""
    keep = lambda name: names is None or name in names or any(name.startswith(n) for n in names)
    d = v.to_dict()
    metrics = {
        m["name"]: {
            k: m.get(k) for k in ("agg_value", "ci", "value_by_index", "original", "reference", "rki", "n_entities")
        }
        for m in d["metrics"]
        if keep(m["name"])
    }
    found = {f["name"]: f["finding"] for f in d["findings"] if keep(f["name"])}
    not_run = {r["name"]: r["why"] for r in d["verdict"]["missing_readouts"] if r["why"].startswith("not run")}
    return {
        "metrics": metrics,
        "findings": found,
        "config": d["verdict"]["config"],
        "warnings": v.warnings,
        "not_run": not_run,
    }


def _config(readouts: tuple[str, ...], attacks: tuple[str, ...], bos: str | None, margin: float = 0.2, **settings):
    """The run's `VerifyConfig`; the verdict margin is pre-registered here and printed with the
    results; ``settings``: ``{readout: {field: value}}``."""
    from ..evaluate.config import VerifyConfig
    from ..evaluate.rki import VerdictConfig

    cfg = VerifyConfig(readouts=readouts, attacks=attacks, bos=bos, rules=VerdictConfig(margin=margin))
    for name, fields in settings.items():
        cfg = cfg.configure(name, **fields)
    return cfg


def readout_help(attacks: bool) -> str:
    """The registered readouts (or attacks) and what each reads, for ``verify --help``."""
    from ..evaluate.registry import builtin

    rows = [f"{r.name} ({r.kind}: {r.description})" for r in builtin() if r.is_attack == attacks and not r.always]
    return "comma-separated, from: " + "; ".join(rows)


def _settings(cfg, assignments: list[str]):
    """``cfg`` with ``NAME.FIELD=VALUE`` settings (lists comma-separated; values read as JSON where they parse)."""
    import json as _json
    from dataclasses import fields

    from ..errors import UnlearnscopeError

    def value(text: str, like):
        parse = lambda t: _json.loads(t) if t not in ("", "none", "None") else None
        try:
            if isinstance(like, tuple):
                return tuple(parse(x.strip()) for x in text.split(",") if x.strip())
            return parse(text)
        except _json.JSONDecodeError:
            return text  # a plain string

    for a in assignments:
        key, eq, text = a.partition("=")
        name, dot, field_name = key.rpartition(".")
        if not eq or not dot:
            raise UnlearnscopeError(f"--set {a!r}: write READOUT.FIELD=VALUE, e.g. relearn.steps=15")
        current = cfg.setting(name)
        known = {f.name for f in fields(current)} if current is not None else set()
        if field_name not in known:
            raise UnlearnscopeError(f"--set {a!r}: {name} has no setting {field_name!r}; its settings: {sorted(known)}")
        cfg = cfg.configure(name, **{field_name: value(text, getattr(current, field_name))})
    return cfg


@handle_errors
def verify(
    model: str = MODEL,
    facts: str = FACTS,
    retain_facts: str = RETAIN_FACTS,
    original: str = ORIGINAL,
    reference: str = REFERENCE,
    patch: str = PATCH,
    readouts: str = typer.Option(None, "--readouts", help=readout_help(attacks=False)),
    attacks: str = typer.Option(None, "--attacks", help=readout_help(attacks=True)),
    settings: list[str] = typer.Option(
        None, "--set", help="a readout's setting, READOUT.FIELD=VALUE (repeatable), e.g. relearn.steps=15"
    ),  # noqa: B008
    bos: str = BOS,
    margin: float = MARGIN,
    device: str = DEVICE,
    out: str = OUT,
    as_json: bool = AS_JSON,
) -> None:
    """Any registered readouts and attacks on a model against ORIG and never-knew references."""
    from ..data import is_organism_model
    from ..evaluate.config import VerifyConfig

    names = lambda text, default: default if text is None else tuple(x.strip() for x in text.split(",") if x.strip())
    default = VerifyConfig()
    b = bos if bos is not None else ("<bos>" if is_organism_model(model) else None)
    cfg = _settings(
        _config(names(readouts, default.readouts), names(attacks, default.attacks), b, margin), list(settings or [])
    )
    v = _run(model, patch, original, reference, facts, retain_facts, device, cfg)
    if out:
        v.save(out)
    emit(_payload(v), as_json)


@handle_errors
def probe(
    model: str = MODEL,
    facts: str = FACTS,
    retain_facts: str = RETAIN_FACTS,
    original: str = ORIGINAL,
    reference: str = REFERENCE,
    patch: str = PATCH,
    layers: str = typer.Option(None, "--layers", help="comma-separated depths (default all)"),
    method: str = typer.Option("ridge", "--method", help="ridge | logistic"),
    modes: str = typer.Option("transfer,refit", "--modes"),
    bos: str = BOS,
    margin: float = MARGIN,
    device: str = DEVICE,
    out: str = OUT,
    as_json: bool = AS_JSON,
) -> None:
    """Linear probes (transfer / refit) with controls, on the model and its references."""
    depths = tuple(int(x) for x in layers.split(",")) if layers else None
    cfg = _config(
        ("probe",), (), bos, margin, probe={"layers": depths, "method": method, "modes": tuple(modes.split(","))}
    )
    v = _run(model, patch, original, reference, facts, retain_facts, device, cfg)
    if out:
        v.save(out)
    payload = _payload(v, ["probe_"])
    payload["probes"] = v.probes
    emit(payload, as_json)


ATTACKS = {"relearn": ("relearn",), "incontext": ("incontext", "reintroduce"), "format": ("format",)}
ATTACK_METRICS = {"relearn": ["relearn"], "incontext": ["incontext_", "reintroduce"], "format": ["format:"]}
ATTACK_DOCS = {
    "relearn": "Relearning on disjoint forget entities (LR sweep, seeds), vs ORIG and REF.",
    "incontext": "In-context demos (k facts) and reintroduction of the fact, vs ORIG and REF.",
    "format": "Recall under held-out renderings (paraphrase, multiple choice), vs ORIG and REF.",
}


def _file_formats(facts: str) -> dict:
    """``attack format`` on a file: its facts grouped by their ``kind`` field."""
    from ..data import as_fact, read_records

    formats: dict = {}
    for r in read_records(facts, what="facts"):
        formats.setdefault(r.value.get("kind", "default") if isinstance(r.value, dict) else "default", []).append(
            as_fact(r.value, f"{facts}: {r.where}")
        )
    return formats


def _attack(kind: str):
    @handle_errors
    def cmd(
        model: str = MODEL,
        facts: str = FACTS,
        retain_facts: str = RETAIN_FACTS,
        original: str = ORIGINAL,
        reference: str = REFERENCE,
        patch: str = PATCH,
        seeds: int = typer.Option(3, "--seeds", help="relearning seeds (T/V splits)"),
        steps: int = typer.Option(30, "--steps", help="relearning steps"),
        lrs: str = typer.Option("1e-4,3e-4", "--lrs", help="relearning learning-rate sweep"),
        split: str = typer.Option(
            "disjoint", "--split", help="relearning: disjoint (train on half the entities, score the other half) | same"
        ),
        margin: float = MARGIN,
        ks: str = typer.Option("1,5", "--k", help="in-context facts per prompt (k >= 1)"),
        bos: str = BOS,
        device: str = DEVICE,
        out: str = typer.Option(None, "--out"),
        as_json: bool = AS_JSON,
    ) -> None:
        from dataclasses import replace

        from ..data import DataSpec, is_organism_model
        from ..evaluate.relearn import RelearnConfig

        rc = RelearnConfig(
            lrs=tuple(float(x) for x in lrs.split(",")), seeds=tuple(range(seeds)), steps=steps, split=split
        )
        b = bos if bos is not None else ("<bos>" if is_organism_model(model) else None)
        settings = {"incontext": {"k": tuple(int(k) for k in ks.split(","))}} if "incontext" in ATTACKS[kind] else {}
        cfg = _config((), ATTACKS[kind], b, margin, **settings)
        cfg = replace(cfg, settings={**cfg.settings, "relearn": rc}) if "relearn" in ATTACKS[kind] else cfg
        formats = _file_formats(facts) if kind == "format" and not DataSpec.parse(facts).is_organism else None
        v = _run(model, patch, original, reference, facts, retain_facts, device, cfg, formats=formats)
        if out:
            v.save(out)
        payload = _payload(v, ATTACK_METRICS[kind] + ["recall"])
        if kind == "relearn":
            payload["curves"] = v.relearn
        emit(payload, as_json)

    cmd.__doc__ = ATTACK_DOCS[kind]
    return cmd


for _kind in ATTACKS:
    attack_app.command(_kind)(_attack(_kind))


WHITEBOX_DOCS = {
    "direction": "Project the unlearning directions (model − ORIG, per layer) out of the residual stream; worst layer.",
    "quantize": "Recall after 8- and 4-bit per-channel weight round trips (the model and the reference).",
    "revert": "Give each component ORIG's weights back in turn: which component holds the suppression.",
    "router": "MoE: run the model with ORIG's routing decisions, and the routing stability (top-k overlap, JSD) "
    "against ORIG.",
}


def _whitebox_payload(results: list) -> dict:
    """``{"attack", "recovered", "rki", "ci"}`` plus the attack's own detail (``bits``: one row per width)."""
    first = results[0]
    out = {
        "attack": first.attack,
        "recovered": first.recovered,
        "before": first.before,
        "reference_floor": first.reference_floor,
        "rki": first.rki.value,
        "ci": list(first.rki.ci),
        **first.detail,
    }
    if len(results) > 1:
        out["attack"] = "quantize"
        out["bits"] = [
            {
                "bits": r.detail["bits"],
                "recovered": r.recovered,
                "rki": r.rki.value,
                "ci": list(r.rki.ci),
                "reference_floor": r.reference_floor,
            }
            for r in results
        ]
    return out


def _whitebox(kind: str):
    @handle_errors
    def cmd(
        model: str = MODEL,
        facts: str = FACTS,
        original: str = typer.Option(
            None, "--original", help="original model (ORIG; default organism:NAME for organisms)"
        ),
        reference: str = typer.Option(
            None, "--reference", help="never-knew model (REF): its recall under the same attack is the floor"
        ),
        patch: str = PATCH,
        k: int = typer.Option(
            1, "--k", help="direction: directions per layer (mean difference, then principal components)"
        ),
        bits: str = typer.Option("8,4", "--bits", help="quantize: bit widths"),
        components: str = typer.Option(
            None,
            "--components",
            help="revert: comma-separated components (default every block's attn and mlp; MoE: router and experts)",
        ),
        retain_facts: str = typer.Option(
            None,
            "--retain-facts",
            help="router: retain facts whose routing stability is reported beside the forget facts'",
        ),
        device: str = DEVICE,
        as_json: bool = AS_JSON,
    ) -> None:
        from ..errors import UnlearnscopeError
        from ..evaluate import whitebox as wb
        from ..sources import load_facts

        subject, orig, refs = _subjects(model, patch, original, reference, device)
        ref = refs[0] if refs else None
        if orig is None and kind != "quantize":
            raise UnlearnscopeError(f"attack {kind} compares the model with ORIG: give --original")
        forget = load_facts(facts, model, default_organism=None)
        if kind == "direction":
            results = [wb.direction_ablation(subject, orig, forget, reference=ref, k=k)]
        elif kind == "quantize":
            results = [
                wb.quantization_attack(subject, forget, bits=int(b), original=orig, reference=ref)
                for b in bits.split(",")
            ]
        elif kind == "router":
            from ..evaluate.router_attack import router_restoration

            retain = load_facts(retain_facts, model, default_organism=None) if retain_facts else None
            results = [router_restoration(subject, orig, forget, retain=retain, reference=ref)]
        else:
            names = [c.strip() for c in components.split(",") if c.strip()] if components else None
            results = [wb.component_revert(subject, orig, forget, components=names, reference=ref)]
        emit(_whitebox_payload(results), as_json)

    cmd.__doc__ = WHITEBOX_DOCS[kind]
    return cmd


for _kind in WHITEBOX_DOCS:
    attack_app.command(_kind)(_whitebox(_kind))


def _sweep_config(preset, lrs, params, n_examples, budget, seeds, **kw):
    """The grid: a preset (or the command's defaults) with every given flag on top."""
    from dataclasses import replace

    from ..errors import UnlearnscopeError
    from ..evaluate.sweep import FULL_SWEEP, QUICK_SWEEP, SweepConfig

    presets = {"quick": QUICK_SWEEP, "full": FULL_SWEEP, None: SweepConfig()}
    if preset not in presets:
        raise UnlearnscopeError(f"--preset must be quick or full, got {preset!r}")
    given = {
        "lrs": lrs and tuple(float(x) for x in lrs.split(",")),
        "params": params and tuple(p.strip() for p in params.split(",")),
        "n_examples": n_examples and tuple(None if x.strip() == "all" else int(x) for x in n_examples.split(",")),
        "steps": budget and tuple(int(x) for x in budget.split(",")),
        "seeds": None if seeds is None else tuple(range(seeds)),
    }
    return replace(presets[preset], **{k: v for k, v in given.items() if v is not None}, **kw)


@handle_errors
def sweep(
    model: str = MODEL,
    facts: str = FACTS,
    retain_facts: str = typer.Option(
        None, "--retain-facts", help="retain facts (locality; default organism:retain for organisms)"
    ),
    original: str = ORIGINAL,
    reference: str = typer.Option(None, "--reference", help="never-knew model (REF): the same attacks give the floor"),
    patch: str = PATCH,
    preset: str = typer.Option(
        None,
        "--preset",
        help="quick | full: the audit's sweep grids (QUICK_SWEEP / FULL_SWEEP); the flags below override it",
    ),
    lrs: str = typer.Option(None, "--lrs", help="learning rates, comma-separated (default 1e-4,3e-4,1e-3)"),
    params: str = typer.Option(None, "--params", help="trainable parameters: full and/or lora:R (default full,lora:8)"),
    n_examples: str = typer.Option(
        None, "--examples", help="attack examples per run: all and/or counts, comma-separated (default all)"
    ),
    budget: str = typer.Option(None, "--budget", help="step checkpoints of every run (default 10,30)"),
    seeds: int = typer.Option(None, "--seeds", help="attack seeds (default 2)"),
    data: str = typer.Option("disjoint", "--data", help="disjoint (other forget entities) | retain"),
    utility_limit: float = typer.Option(
        0.9, "--utility-limit", help="worst case only where retain recall stays >= this share of the model's"
    ),
    device: str = DEVICE,
    as_json: bool = AS_JSON,
) -> None:
    """Relearning over the attacker's budget (steps, LR, examples, full / LoRA) with REF's floor; the worst case.

    Only configurations that keep retain recall within the utility limit may be the worst case."""
    from ..data import DataSpec
    from ..errors import UnlearnscopeError
    from ..evaluate.sweep import relearn_sweep
    from ..sources import load_facts

    subject, orig, refs = _subjects(model, patch, original, reference, device)
    if orig is None or not refs:
        raise UnlearnscopeError(
            "the sweep compares the model with ORIG and a never-knew REF: give --original and --reference"
        )
    forget = load_facts(facts, model, default_organism=None)
    if not retain_facts and not DataSpec.parse(facts).is_organism:
        raise UnlearnscopeError("give --retain-facts: the utility limit is measured on them")
    retain = load_facts(retain_facts or "organism:retain", model, default_organism=None)
    cfg = _sweep_config(preset, lrs, params, n_examples, budget, seeds, data=data, utility_limit=utility_limit)
    s = relearn_sweep(subject, forget, retain, original=orig, reference=refs[0], config=cfg)
    emit(
        {
            "attack": "relearn_sweep",
            "curves": s.curves,
            "worst_case": s.worst_case,
            "reference_floor": s.reference_floor,
            "config": s.config,
        },
        as_json,
    )


attack_app.command("sweep")(sweep)
