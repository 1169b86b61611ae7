"""`VerifyConfig`: which readouts and attacks a verification runs, each one's settings, and the
pre-registered verdict rules.

    cfg = VerifyConfig()                                          # every default readout and attack
    cfg = VerifyConfig(readouts=("probe", "logit_lens"), attacks=("relearn",))
    cfg = cfg.configure("relearn", lrs=(3e-4,), steps=15)          # one readout's settings
    cfg.setting("probe").seeds                                    # (0, 1, 2, 3, 4): its defaults

Names are registered readout names (`evaluate.registry.READOUTS`; old names such as ``lens`` or
``sweep`` are aliases); ``settings`` maps a readout name to an instance of its config dataclass and
holds only what differs from the readout's defaults.  In a TOML or JSON audit config the settings
are tables named after their readout: ``[audit.verify.relearn]``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from typing import Any

from ..errors import UnlearnscopeError
from .registry import READOUTS, builtin, default_attacks, default_readouts
from .rki import VerdictConfig


def _default_readouts() -> tuple[str, ...]:
    builtin()
    return default_readouts()


def _default_attacks() -> tuple[str, ...]:
    builtin()
    return default_attacks()


@dataclass(frozen=True)
class VerifyConfig:
    """``readouts``: the intrinsic readouts to run (behaviour and locality always run);
    ``attacks``: the adversarial readouts (and attributions) to run; ``settings``: ``{readout:
    its config}`` where it differs from the defaults; ``bos``: the BOS text prompts start with
    (in-context prompts keep one); ``rules``: the pre-registered verdict margins and statistics;
    ``use_unfaithful``: use readouts below the metaeval faithfulness floor in verdicts too."""

    readouts: tuple[str, ...] = field(default_factory=_default_readouts)
    attacks: tuple[str, ...] = field(default_factory=_default_attacks)
    settings: dict[str, Any] = field(default_factory=dict)
    bos: str | None = None
    rules: VerdictConfig = field(default_factory=VerdictConfig)
    use_unfaithful: bool = False

    def __post_init__(self) -> None:
        builtin()
        object.__setattr__(self, "readouts", tuple(self.readouts))
        object.__setattr__(self, "attacks", tuple(self.attacks))
        object.__setattr__(
            self, "settings", {READOUTS.resolve(k) if k in READOUTS else k: v for k, v in dict(self.settings).items()}
        )

    def validate(self) -> VerifyConfig:
        READOUTS.check(self.readouts, where=lambda r: not r.is_attack and not r.always, role="readouts")
        READOUTS.check(self.attacks, where=lambda r: r.is_attack, role="attacks")
        for name, value in self.settings.items():
            if name not in READOUTS:
                raise UnlearnscopeError(
                    f"settings for unknown readout {name!r}; readouts: {', '.join(READOUTS.names())}"
                )
            r = READOUTS[name]
            if r.config is None or not isinstance(value, r.config):
                raise UnlearnscopeError(
                    f"settings[{name!r}] must be a {getattr(r.config, '__name__', 'None (it has no settings)')}, "
                    f"got {type(value).__name__}"
                )
        for name in self.asked():
            s = self.setting(name)
            if hasattr(s, "validate"):
                s.validate()
        self.rules.validate()
        return self

    def asked(self) -> tuple[str, ...]:
        """Every readout this config runs, in the registry's (the verification's) order."""
        wanted = set(READOUTS.check(self.readouts)) | set(READOUTS.check(self.attacks))
        return READOUTS.names(lambda r: r.always or r.name in wanted)

    def runs(self, name: str) -> bool:
        """Whether readout ``name`` (or an alias) is asked for."""
        return name in READOUTS and READOUTS.resolve(name) in self.asked()

    def setting(self, name: str) -> Any:
        """Readout ``name``'s settings: as given, else its defaults."""
        key = READOUTS.resolve(name)
        return self.settings[key] if key in self.settings else READOUTS[key].settings()

    def configure(self, name: str, **fields: Any) -> VerifyConfig:
        """A copy with readout ``name``'s settings changed in ``fields`` (the rest as they are now)."""
        key = READOUTS.resolve(name)
        current = self.setting(key)
        if current is None:
            raise UnlearnscopeError(f"readout {key!r} has no settings")
        try:
            new = replace(current, **fields)
        except TypeError as err:
            raise UnlearnscopeError(f"settings of {key!r}: {err}; fields: {sorted(asdict(current))}") from err
        return replace(self, settings={**self.settings, key: new})

    def with_readouts(
        self, readouts: tuple[str, ...] | None = None, attacks: tuple[str, ...] | None = None
    ) -> VerifyConfig:
        return replace(
            self,
            readouts=self.readouts if readouts is None else tuple(readouts),
            attacks=self.attacks if attacks is None else tuple(attacks),
        )

    def to_dict(self) -> dict:
        """The protocol as run: the readouts and attacks asked for and every one's settings
        (defaults included), the BOS text and the verdict rules."""
        settings = {}
        for name in self.asked():
            s = self.setting(name)
            if s is not None:
                settings[name] = asdict(s) if is_dataclass(s) and not isinstance(s, type) else s
        return {
            "readouts": list(READOUTS.check(self.readouts)),
            "attacks": list(READOUTS.check(self.attacks)),
            "settings": settings,
            "bos": self.bos,
            "rules": asdict(self.rules),
            "use_unfaithful": self.use_unfaithful,
        }

    @classmethod
    def from_dict(cls, data: dict, where: str = "verify") -> VerifyConfig:
        """A config from its TOML / JSON form: ``readouts``, ``attacks``, ``bos``,
        ``use_unfaithful``, ``rules`` (a table of `VerdictConfig` fields) and one table of settings
        per readout, named after it (or ``settings = {name: table}``).  The keys of older configs
        (`OLD_KEYS`: ``probe_seeds``, ``incontext_k``, ``verdict`` ...) are read as what they became."""
        builtin()
        kw: dict[str, Any] = {}
        settings: dict[str, dict] = {}
        for key, value in data.items():
            if key in OLD_KEYS:
                readout_name, field_name = OLD_KEYS[key]
                if readout_name is None:
                    kw[field_name] = value
                else:
                    settings.setdefault(readout_name, {})[field_name] = value
            elif key == "settings":
                for name, table in dict(value).items():
                    settings.setdefault(READOUTS.resolve(name), {}).update(table)
            elif key in ("readouts", "attacks", "bos", "use_unfaithful", "rules"):
                kw[key] = value
            elif key in READOUTS:
                settings.setdefault(READOUTS.resolve(key), {}).update(value)
            else:
                raise UnlearnscopeError(
                    f"{where}: unknown key {key!r}; known: readouts, attacks, bos, use_unfaithful, rules and the "
                    f"readouts' settings tables ({', '.join(n for n in READOUTS.names() if READOUTS[n].config)})"
                )
        if "rules" in kw:
            kw["rules"] = _dataclass_from(VerdictConfig, kw["rules"], f"{where}.rules")
        for k in ("readouts", "attacks"):
            if k in kw:
                kw[k] = tuple(kw[k])
        resolved = {}
        for name, table in settings.items():
            r = READOUTS[name]
            if r.config is None:
                raise UnlearnscopeError(f"{where}.{name}: readout {name!r} has no settings")
            resolved[name] = _dataclass_from(r.config, {**asdict(r.settings()), **table}, f"{where}.{name}")
        return cls(**kw, settings=resolved)


# keys of unlearnscope 0.1 configs -> (readout, its settings field) or (None, a VerifyConfig field)
OLD_KEYS: dict[str, tuple[str | None, str]] = {
    "probe_layers": ("probe", "layers"),
    "probe_roles": ("probe", "roles"),
    "probe_method": ("probe", "method"),
    "probe_modes": ("probe", "modes"),
    "probe_seeds": ("probe", "seeds"),
    "random_init_control": ("probe", "random_init_control"),
    "lens_budgets": ("logit_lens", "budgets"),
    "depth_scope": ("causal_depth", "scope"),
    "direction_k": ("direction_ablation", "k"),
    "quant_bits": ("quant", "bits"),
    "revert_components": ("component_revert", "components"),
    "incontext_k": ("incontext", "k"),
    "incontext_draws": ("incontext", "draws"),
    "verdict": (None, "rules"),
}


def _dataclass_from(cls: type, data: dict, where: str):
    """``cls(**data)`` with lists as tuples; unknown keys are an error naming the known ones."""
    known = {f.name for f in fields(cls)}
    bad = sorted(set(data) - known)
    if bad:
        raise UnlearnscopeError(f"{where}: unknown keys {bad}; known: {sorted(known)}")
    try:
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})
    except TypeError as err:
        raise UnlearnscopeError(f"{where}: {err}") from err
