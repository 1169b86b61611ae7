"""The readouts and attacks a verification can run: one registered `Readout` each.

A readout is measured the same way on every model of a `ModelSet` (the unlearned models, ORIG,
the never-knew references and NOISE) and returns `Metric`\\ s: per-entity values where higher
means "knows more".  Its *kind* says what it reads:

* ``behavioural`` — what the model says (forget recall); every verdict needs one;
* ``intrinsic`` — what is inside (probes, logit lens, causal depth);
* ``adversarial`` — what an attacker gets back (relearning, in-context demos, white-box attacks);
* ``locality`` — what should have been kept (retain recall, other abilities);
* ``attribution`` — an explanation reported beside the verdict, never a readout of it
  (component revert).

One module registers each readout (`evaluate.readouts`, `evaluate.attacks`)::

    @readout("logit_lens", "intrinsic", config=LensSettings, section="lens", figure=lens_curves,
             description="best reciprocal rank of the gold answer over depths")
    def measure(m: Measurement) -> list[Metric]:
        ...

The name is the config name and the stem of its metrics' names (``incontext`` gives
``incontext_k1``, ``quant`` gives ``quant8``); `VerifyConfig.readouts` / ``attacks`` name the ones
to run and ``settings[name]`` holds each one's config (its ``config`` dataclass; missing: the
readout's defaults).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from ..registry import Registry

F = TypeVar("F", bound=Callable[..., Any])

if TYPE_CHECKING:
    from .data import VerifyData
    from .models import ModelSet
    from .rki import Metric, VerdictConfig


class Config(Protocol):
    """What a readout reads of the verification's config (a `VerifyConfig`)."""

    @property
    def bos(self) -> str | None: ...
    @property
    def rules(self) -> VerdictConfig: ...

    def setting(self, name: str) -> Any: ...


ReadoutKind = Literal["behavioural", "intrinsic", "adversarial", "locality", "attribution"]
Requirement = Literal["original", "reference", "lm_head", "moe"]
KINDS: tuple[str, ...] = ("behavioural", "intrinsic", "adversarial", "locality", "attribution")
ATTACK_KINDS: tuple[str, ...] = ("adversarial", "attribution")
NEEDS_LM_HEAD = "not run: the model has no LM head (an encoder); this readout scores next-token predictions"


@dataclass
class Measurement:
    """What a readout's ``measure`` gets: the models, the data, the verification's config, where
    its details go (``details[section]``, what the report plots) and ``not_run`` (``{metric:
    why}`` for parts it could not run, e.g. prompts longer than the model's context)."""

    models: ModelSet
    data: VerifyData
    config: Config  # the `VerifyConfig`
    readout: Readout
    details: dict[str, Any] = field(default_factory=dict)
    not_run: dict[str, str] = field(default_factory=dict)

    @property
    def settings(self) -> Any:
        """This readout's settings (an instance of its ``config`` dataclass)."""
        return self.config.setting(self.readout.name)

    @property
    def section(self) -> dict:
        """The readout's details section (``details[readout.section]``), created on first use."""
        if self.readout.section is None:
            raise KeyError(f"readout {self.readout.name} declares no section for its details")
        return self.details.setdefault(self.readout.section, {})

    @property
    def seed(self) -> int:
        """The verification's seed (entity halves for cross-fitting, bootstrap)."""
        return self.config.rules.seed


@dataclass(frozen=True)
class Readout:
    """A registered readout (see module doc).

    ``always``: run on every verification (behaviour and locality), not chosen in the config;
    ``default``: asked for by a default `VerifyConfig`; ``on_noise``: measured on the NOISE
    models too (training attacks are not: NOISE is a drift floor for locality);
    ``weights_only``: measured again on the weights alone when the unlearning is an
    inference-time intervention; ``worst_case``: one of the worst-case attacks the audit's
    attack budget turns on (white-box attacks, the relearning sweep); ``requires``: ``original`` / ``reference``
    (listed as not run
    without them), ``lm_head`` (encoders: not run), ``moe`` (routed experts: not applicable to a
    dense model, so not listed); ``applies(m)``: False when the data it reads was not given at
    all (nothing to list); ``missing(m)``: why it cannot run although asked for (``None``: it
    can); ``extra_models(m)``: control models measured beside the roles (``{name: [models]}``,
    e.g. a random-init copy for the probes); ``section``: where its details go; ``figure``:
    ``(verification dict) -> plotly figure`` shown in the report under ``title``."""

    name: str
    kind: ReadoutKind
    measure: Callable[[Measurement], list[Metric]]
    description: str
    config: type | None = None
    defaults: Callable[[], Any] | None = None  # the default settings, when they are not ``config()``
    metrics: str = ""  # the names of the metrics it produces, as the docs show them ("" : its name)
    requires: tuple[Requirement, ...] = ()
    always: bool = False
    default: bool = True
    on_noise: bool = True
    weights_only: bool = False
    worst_case: bool = (
        False  # one of the audit's worst-case attacks (`audit --attacks quick|full|off` turns them on or off)
    )
    applies: Callable[[Measurement], bool] | None = None
    missing: Callable[[Measurement], str | None] | None = None
    extra_models: Callable[[Measurement], dict[str, list]] | None = None
    section: str | None = None
    figure: Callable[[dict], Any] | None = None
    title: str | None = None
    source: str = ""  # the paper or code it follows

    @property
    def is_attack(self) -> bool:
        return self.kind in ATTACK_KINDS

    @property
    def metric_names(self) -> str:
        return self.metrics or self.name

    def settings(self) -> Any:
        """This readout's default settings (``None`` for a readout without a config)."""
        if self.defaults is not None:
            return self.defaults()
        return self.config() if self.config is not None else None

    def why_not(self, m: Measurement) -> str | None:
        """``None`` when it runs on these models and data; else why not (the not-run message)."""
        unl = m.models.roles["unlearned"][0]
        if "lm_head" in self.requires and unl.anatomy.unembed is None:
            return NEEDS_LM_HEAD
        if self.missing is not None:
            why = self.missing(m)
            if why is not None:
                return why
        gone = [r for r in ("original", "reference") if r in self.requires and not m.models.has(r)]
        if gone:
            names = {"original": "the original model (ORIG)", "reference": "a never-knew model (REF)"}
            return f"not run: {self.name} needs {' and '.join(names[r] for r in gone)}"
        return None

    def is_applicable(self, m: Measurement) -> bool:
        """Whether the readout means anything here (a router attack on a dense model does not)."""
        if "moe" in self.requires and not m.models.roles["unlearned"][0].anatomy.is_moe:
            return False
        return self.applies is None or self.applies(m)


READOUTS: Registry[Readout] = Registry("readout")


def readout(
    name: str, kind: ReadoutKind, *, aliases: tuple[str, ...] = (), replace: bool = False, **spec
) -> Callable[[F], F]:
    """Register the decorated ``measure(m: Measurement) -> list[Metric]`` as readout ``name``
    (``spec``: the other `Readout` fields)."""

    def register(fn: Callable[[Measurement], list[Metric]]):
        doc = " ".join((fn.__doc__ or "").strip().split("\n\n")[0].split())
        spec.setdefault("description", doc)
        READOUTS.register(Readout(name, kind, fn, **spec), aliases=aliases, replace=replace, origin=fn.__module__)
        return fn

    return register


def default_readouts() -> tuple[str, ...]:
    """The non-attack readouts a default verification asks for (besides the ``always`` ones)."""
    return READOUTS.names(lambda r: r.default and not r.always and not r.is_attack)


def default_attacks() -> tuple[str, ...]:
    return READOUTS.names(lambda r: r.default and not r.always and r.is_attack)


def builtin() -> Registry[Readout]:
    """`READOUTS` with every built-in readout and attack registered."""
    from . import attacks  # noqa: F401  (imports the readouts first: the verification's order)

    return READOUTS
