"""What one audit runs, in one place: the target, the methods, their budgets, the verification
protocol and the pre-registered verdict margins.  Read from a TOML or JSON file, overridden by flags.

    [audit]                          # or the same keys at the top level / in a JSON object
    organism = "facts"               # facts | moe | multidomain  (ignored when model is set)
    methods = ["ga", "localized", "ablate"]
    stop_at = 0.1                    # every unlearning run stops at forget recall <= this
    seeds = [0, 1, 2]                # unlearning seeds of every training method
    [audit.verify]                   # VerifyConfig: readouts, attacks, bos, use_unfaithful
    readouts = ["probe", "logit_lens", "causal_depth"]
    [audit.verify.probe]             # a readout's settings, named after it (here ProbeSettings)
    seeds = [0, 1, 2, 3, 4]
    [audit.verify.relearn]           # RelearnConfig fields
    lrs = [1e-4, 3e-4]
    [audit.verify.rules]             # VerdictConfig fields (pre-registered margins)
    margin = 0.2
    [audit.verify."relearn:sweep"]   # SweepConfig fields: the relearning sweep's budget (attacks = "quick" | "full")
    params = ["full", "lora:8"]
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import tomllib

from ..errors import UnlearnscopeError
from ..evaluate.config import VerifyConfig
from ..evaluate.registry import READOUTS
from ..evaluate.rki import VerdictConfig
from ..evaluate.sweep import FULL_SWEEP, QUICK_SWEEP

ATTACK_BUDGETS = ("quick", "full", "off")
# RMU's loss is a distance of activations, not a likelihood: its learning rate is its own
# (WMDP: 5e-5 on 7B models, whose residual norms are far larger than an organism's)
DEFAULT_RMU_LR = 1e-2


@dataclass(frozen=True)
class AuditConfig:
    organism: str = (
        "facts"  # an audited organism (facts | moe | multidomain: `audited_organisms`), when no --model is given
    )
    size: str | None = None  # organism size (default: $UNLEARNSCOPE_ORGANISM_SIZE or "default")
    model: str | None = None  # a user's model (directory or hub id); then target is required
    reference: str | tuple[str, ...] | None = (
        None  # the user's never-knew model(s) (REF); without one: verdict "no reference"
    )
    target: str | None = None  # facts file (JSON / JSONL with split forget|retain|noise)
    name: str | None = None  # report name (default: the organism or the target file's stem)
    methods: tuple[str, ...] | None = None  # default: the organism's audit methods; none when checkpoints are given
    unlearned: str | tuple[str, ...] | None = (
        None  # checkpoints made elsewhere, "NAME=PATH" (comma-separated): audited as they are
    )
    seed: int = 0  # the organism's, the localization's and the NOISE controls' seed
    seeds: tuple[int, ...] | None = None  # unlearning seeds of every training method (default: 0, 1, 2; --quick: 0, 1)
    n_references: int = (
        2  # organisms: never-knew models (REF and REF of other weight seeds) whose spread enters the CIs
    )
    device: str | None = None
    dtype: str | None = None
    stop_at: float = 0.1  # unlearning stops when forget recall <= this
    max_steps: int = 400
    batch_size: int = 32
    lr_full: float | None = None  # full-model methods (default: the organism's audit_lrs[0])
    lr_localized: float | None = None  # methods restricted to located components (the organism's audit_lrs[1])
    lr_rmu: float | None = None  # the rmu method (DEFAULT_RMU_LR)
    top_components: int = 4  # located components (attribution patching) trained by `localized`
    top_vectors: int = 20  # located value vectors validated against random sets; `ablate` starts with these
    max_vectors_share: float = 0.25  # `ablate` grows to at most this share of all MLP neurons
    n_random: int = 100  # random unit sets matched in layer and count (localization validity)
    noise: bool = True  # build the NOISE drift floor
    output_metrics: bool = True  # the field's output metrics (truth ratio, forget quality, MIA ...) beside the readouts
    quick: bool = False  # a light protocol for a first look and tests (fewer seeds and steps)
    attacks: str = (
        "quick"  # worst-case attacks: quick (white-box + a small relearning sweep) | full (the complete sweep) | off
    )
    lora_above: int = (
        1_000_000_000  # models with more parameters relearn through LoRA only (no full-parameter relearning)
    )
    verify: VerifyConfig = field(default_factory=VerifyConfig)

    def validate(self) -> AuditConfig:
        if self.model is None and self.organism not in audited_organisms():
            raise UnlearnscopeError(
                f"unknown organism {self.organism!r} for an audit; choose from {list(audited_organisms())}"
            )
        if self.model is not None and self.target is None:
            raise UnlearnscopeError("auditing your own model needs --target FILE (facts with split forget / retain)")
        if any(lr is not None and not lr > 0 for lr in (self.lr_full, self.lr_localized, self.lr_rmu)):
            raise UnlearnscopeError(
                f"learning rates must be > 0: lr_full={self.lr_full}, lr_localized={self.lr_localized}, "
                f"lr_rmu={self.lr_rmu}"
            )
        if (
            not 0 <= self.stop_at < 1
            or self.max_steps < 1
            or self.top_components < 1
            or self.top_vectors < 1
            or self.n_random < 1
        ):
            raise UnlearnscopeError(
                f"invalid audit budgets: stop_at={self.stop_at}, max_steps={self.max_steps}, "
                f"top_components={self.top_components}, "
                f"top_vectors={self.top_vectors}, n_random={self.n_random}"
            )
        if self.seeds is not None and (not self.seeds or len(set(self.seeds)) != len(self.seeds)):
            raise UnlearnscopeError(f"seeds must be distinct and at least one, got {self.seeds}")
        if not self.method_names and not self.checkpoints:
            raise UnlearnscopeError(
                "nothing to audit: give --methods, or --unlearned NAME=PATH for checkpoints made elsewhere"
            )
        if self.n_references < 1:
            raise UnlearnscopeError(f"n_references must be >= 1, got {self.n_references}")
        if self.attacks not in ATTACK_BUDGETS:
            raise UnlearnscopeError(f"attacks must be one of {ATTACK_BUDGETS}, got {self.attacks!r}")
        if not 0 < self.max_vectors_share <= 1:
            raise UnlearnscopeError(f"max_vectors_share must be in (0, 1], got {self.max_vectors_share}")
        self.verify.validate()
        return self

    @property
    def kind(self) -> str:
        """The organism whose audit settings apply: ``facts`` for a user's model (a facts target), else the organism."""
        return "facts" if self.model is not None else self.organism

    @property
    def target_kind(self) -> str:
        """The audit target: ``facts`` or ``refusal`` (the organism's `OrganismSpec.audit`)."""
        return organism_spec(self.kind).audit

    @property
    def full_lr(self) -> float:
        return self.lr_full if self.lr_full is not None else organism_spec(self.kind).audit_lrs[0]

    @property
    def localized_lr(self) -> float:
        return self.lr_localized if self.lr_localized is not None else organism_spec(self.kind).audit_lrs[1]

    @property
    def rmu_lr(self) -> float:
        return self.lr_rmu if self.lr_rmu is not None else DEFAULT_RMU_LR

    @property
    def unlearning_seeds(self) -> tuple[int, ...]:
        return tuple(self.seeds) if self.seeds else ((0, 1) if self.quick else (0, 1, 2))

    @property
    def references(self) -> tuple[str, ...]:
        """The user's never-knew models (a comma-separated string or a list)."""
        if not self.reference:
            return ()
        refs = [self.reference] if isinstance(self.reference, str) else list(self.reference)
        return tuple(r.strip() for x in refs for r in x.split(",") if r.strip())

    @property
    def method_names(self) -> tuple[str, ...]:
        """The audit's own methods: as given; else none beside checkpoints; else the target's defaults."""
        if self.methods is not None:
            from .methods import AUDIT_METHODS

            return tuple(AUDIT_METHODS.resolve(m) if m in AUDIT_METHODS else m for m in self.methods)
        return () if self.unlearned else organism_spec(self.kind).audit_methods

    @property
    def checkpoints(self) -> list:
        """The unlearned checkpoints to audit as they are (`checkpoints.Checkpoint`)."""
        from .checkpoints import parse_checkpoints

        return parse_checkpoints(self.unlearned, taken=self.methods or ())

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "verify": self.verify.to_dict(),
            "lr_full": self.full_lr,
            "lr_localized": self.localized_lr,
            "lr_rmu": self.rmu_lr,
            "seeds": list(self.unlearning_seeds),
            "methods": list(self.method_names),
            "unlearned": {c.name: c.path for c in self.checkpoints},
        }


def audited_organisms() -> tuple[str, ...]:
    """The registered organisms with an audit target (`organisms.OrganismSpec.audit`)."""
    from ..organisms import recipes  # noqa: F401  (registers the built-in organisms)
    from ..organisms.registry import ORGANISMS

    return ORGANISMS.names(lambda o: o.audit is not None)


def organism_spec(name: str):
    """The registered organism ``name``'s spec (its audit target, default methods, learning rates)."""
    from ..organisms.registry import ORGANISMS

    audited_organisms()
    return ORGANISMS[name]


def worst_case_attacks() -> tuple[str, ...]:
    """The attacks the audit's attack budget turns on (registered with ``worst_case=True``)."""
    return READOUTS.names(lambda r: r.worst_case)


def with_attack_budget(verify: VerifyConfig, budget: str) -> VerifyConfig:
    """``verify`` with the audit's worst-case attacks (`worst_case_attacks`: the white-box attacks
    and the relearning sweep): ``quick`` adds them with the sweep at its configured budget
    (`sweep.QUICK_SWEEP` by default), ``full`` with the complete sweep (`sweep.FULL_SWEEP`, unless a
    config file set the sweep's settings), ``off`` neither."""
    worst = worst_case_attacks()
    base = tuple(a for a in READOUTS.check(verify.attacks) if a not in worst)
    if budget == "off":
        return replace(verify, attacks=base)
    out = replace(verify, attacks=base + worst)
    if budget == "full" and verify.setting("relearn:sweep") == QUICK_SWEEP:
        out = replace(out, settings={**verify.settings, "relearn:sweep": FULL_SWEEP})
    return out


def with_memory_plan(verify: VerifyConfig, n_params: int, lora_above: int) -> tuple[VerifyConfig, str | None]:
    """``verify`` for a model of ``n_params``: above ``lora_above`` the relearning attacks train
    LoRA adapters only (full-parameter AdamW state is three more copies of the model): the
    full-parameter ``relearn`` readout is replaced by the sweep restricted to its LoRA
    configurations.  Returns the config and a note for the report (``None``: unchanged)."""
    if n_params <= lora_above or not (verify.runs("relearn") or verify.runs("relearn:sweep")):
        return verify, None
    lora = tuple(p for p in verify.setting("relearn:sweep").params if p.startswith("lora:")) or ("lora:8",)
    attacks = tuple(a for a in READOUTS.check(verify.attacks) if a != "relearn")
    attacks += () if "relearn:sweep" in attacks else ("relearn:sweep",)
    note = (
        f"{n_params:,} parameters > {lora_above:,}: relearning through LoRA only ({', '.join(lora)}); the "
        "full-parameter relearning readout is not run"
    )
    return replace(verify, attacks=attacks).configure("relearn:sweep", params=lora), note


QUICK_VERIFY = (
    VerifyConfig(rules=VerdictConfig(n_boot=500))
    .configure("probe", seeds=(0, 1), random_init_control=False)
    .configure("incontext", k=(1,))
    .configure("relearn", lrs=(1e-4, 3e-4), seeds=(0, 1), steps=15)
)


def _nested(cls, data: dict, where: str):
    """Build a frozen dataclass from a dict, recursing into dataclass-typed fields."""
    known = {f.name: f for f in fields(cls)}
    bad = sorted(set(data) - set(known))
    if bad:
        raise UnlearnscopeError(f"{where}: unknown keys {bad}; known: {sorted(known)}")
    kw = {}
    for k, v in data.items():
        if k == "verify" and isinstance(v, dict):
            v = VerifyConfig.from_dict(v, f"{where}.verify")
        elif isinstance(v, list):
            v = tuple(v)
        kw[k] = v
    try:
        return cls(**kw)
    except TypeError as err:
        raise UnlearnscopeError(f"{where}: {err}") from err


def load_config(path: str | Path | None = None, **overrides) -> AuditConfig:
    """The audit config from ``path`` (TOML or JSON; keys at the top level or under ``[audit]``)
    with ``overrides`` (flags; ``None`` = not given) applied on top."""
    data: dict = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise UnlearnscopeError(f"config file {p} does not exist")
        try:
            data = tomllib.loads(p.read_text()) if p.suffix == ".toml" else json.loads(p.read_text())
        except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
            raise UnlearnscopeError(
                f"config file {p} is not valid {'TOML' if p.suffix == '.toml' else 'JSON'}: {err}"
            ) from err
        data = data.get("audit", data)
    cfg = _nested(AuditConfig, data, str(path or "config"))
    given = {k: (tuple(v) if isinstance(v, list) else v) for k, v in overrides.items() if v is not None}
    cfg = replace(cfg, **given)
    if cfg.quick and "verify" not in data:
        cfg = replace(cfg, verify=QUICK_VERIFY)
    return cfg.validate()
