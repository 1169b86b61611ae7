"""Organism recipes: world + model + training, per name and size.  The cache key hashes all of it.

Measured on the 2-core build machine (2 torch threads), whole organism (ORIG + REF + evaluation):
``facts`` 140 s, ``facts-llama`` 131 s, ``moe`` 153 s; the small sizes 50-100 s.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from ..errors import UnlearnscopeError
from .concepts import ConceptsConfig
from .facts import FactsConfig
from .multidomain import MultiDomainConfig
from .registry import ORGANISMS, OrganismSpec, register_organism
from .train import TrainConfig

RECIPE_VERSION = 2  # bump when world generation or training code changes what a recipe produces


@dataclass(frozen=True)
class Recipe:
    name: str
    size: str
    world: str  # a registered world kind (`registry.WORLDS`): "facts" | "multidomain" | "concepts"
    world_cfg: FactsConfig | MultiDomainConfig | ConceptsConfig
    arch: str
    model_cfg: dict = field(default_factory=dict)
    train_cfg: TrainConfig = field(default_factory=TrainConfig)
    threads: int = 2

    def to_dict(self) -> dict:
        d = asdict(self)
        d["world_cfg"] = asdict(self.world_cfg)
        d["train_cfg"] = asdict(self.train_cfg)
        return d

    def key(self, seed: int) -> str:
        blob = json.dumps(
            {"recipe": self.to_dict(), "seed": seed, "version": RECIPE_VERSION}, sort_keys=True, default=str
        )
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def validate(self) -> None:
        self.world_cfg.validate()
        self.train_cfg.validate()
        if not isinstance(self.threads, int) or self.threads < 1:
            raise UnlearnscopeError(f"threads must be a positive integer, got {self.threads!r}")


_FACTS = {
    "default": dict(
        world_cfg=FactsConfig(n_entities=100, n_never_seen=20),
        model_cfg=dict(d_model=128, n_layers=4, n_heads=4),
        train_cfg=TrainConfig(steps=800, batch_size=64, lr=1e-3),
    ),
    # half the entities forgotten: 20 forget entities give CIs narrow enough for verdicts at the ±0.2 margin
    "small": dict(
        world_cfg=FactsConfig(n_entities=40, n_never_seen=8, forget_fraction=0.5),
        model_cfg=dict(d_model=96, n_layers=4, n_heads=4),
        train_cfg=TrainConfig(steps=600, batch_size=64, lr=2e-3),
    ),
}
_MOE = {
    "default": dict(
        world_cfg=MultiDomainConfig(n_fact_entities=20),
        model_cfg=dict(d_model=128, n_layers=2, n_heads=4, d_mlp=256, n_experts=8, top_k=2),
        train_cfg=TrainConfig(
            steps=800, batch_size=80, lr=3e-3, balance_domains=True, domain_weights=(("facts", 2.0),)
        ),
    ),
    "small": dict(
        world_cfg=MultiDomainConfig(n_fact_entities=12),
        model_cfg=dict(d_model=96, n_layers=2, n_heads=4, d_mlp=192, n_experts=8, top_k=2),
        train_cfg=TrainConfig(
            steps=600, batch_size=80, lr=4e-3, balance_domains=True, domain_weights=(("facts", 2.0),)
        ),
    ),
}
_DENSE_MULTI = {
    "default": dict(
        world_cfg=MultiDomainConfig(n_fact_entities=20),
        model_cfg=dict(d_model=128, n_layers=2, n_heads=4, d_mlp=512),
        train_cfg=TrainConfig(
            steps=900, batch_size=80, lr=3e-3, balance_domains=True, domain_weights=(("facts", 2.0),)
        ),
    ),
    "small": dict(
        world_cfg=MultiDomainConfig(n_fact_entities=12),
        model_cfg=dict(d_model=96, n_layers=2, n_heads=4, d_mlp=384),
        train_cfg=TrainConfig(
            steps=700, batch_size=80, lr=4e-3, balance_domains=True, domain_weights=(("facts", 2.0),)
        ),
    ),
}


# the small facts world with 40 concept neurons appended to the last block's 384 (one per trained person)
_CONCEPTS = dict(
    world_cfg=ConceptsConfig(facts=FactsConfig(n_entities=40, n_never_seen=8, forget_fraction=0.5)),
    model_cfg=dict(d_model=96, n_layers=4, n_heads=4, d_mlp=384 + 40),
    train_cfg=TrainConfig(steps=800, batch_size=64, lr=2e-3),
)


def _gpt2(size):
    r = dict(_FACTS[size])
    r["model_cfg"] = {**r["model_cfg"], "d_mlp": 4 * r["model_cfg"]["d_model"]}
    return r


def _llama(size):
    r = dict(_FACTS[size])
    r["model_cfg"] = {**r["model_cfg"], "d_mlp": 2 * r["model_cfg"]["d_model"]}
    return r


def _sizes(name: str, world: str, arch: str, table: dict) -> dict[str, Recipe]:
    return {size: Recipe(name, size, world, arch=arch, **kw) for size, kw in table.items()}


register_organism(
    OrganismSpec(
        "facts",
        "GPT-2-style 4L; fictional people x 4 relations; ORIG vs REF without the forget entities' facts",
        _sizes("facts", "facts", "gpt2", {s: _gpt2(s) for s in _FACTS}),
        audit="facts",
        audit_methods=("ga", "localized", "ablate"),
        audit_lrs=(3e-5, 1e-4),
    )
)
register_organism(
    OrganismSpec(
        "facts-llama",
        "Llama-style 4L (gated MLP, RMSNorm, RoPE); same facts world",
        _sizes("facts-llama", "facts", "llama", {s: _llama(s) for s in _FACTS}),
    )
)
register_organism(
    OrganismSpec(
        "moe",
        "Mixtral-style 2L, 8 experts top-2; facts, arithmetic, code, refusal on a marked topic, benign chat; REF "
        "without refusal",
        _sizes("moe", "multidomain", "mixtral", _MOE),
        audit="refusal",
        audit_methods=("experts-off", "uoe", "ga"),
        audit_lrs=(1e-4, 3e-4),
    )
)
register_organism(
    OrganismSpec(
        "multidomain",
        "dense GPT-2-style 2L; the MoE organism's five domains (skills for key-space analyses); REF without refusal",
        _sizes("multidomain", "multidomain", "gpt2", _DENSE_MULTI),
        audit="refusal",
        audit_methods=("ksd", "na", "ga"),
        audit_lrs=(1e-4, 3e-4),
    )
)
register_organism(
    OrganismSpec(
        "concepts",
        "GPT-2-style 4L; the small facts world plus 4 made-up concept words per person, each person's concept planted "
        "in one last-block neuron (its concept vector); REF without the forget people",
        _sizes("concepts", "concepts", "gpt2", {s: _CONCEPTS for s in ("default", "small")}),
    )
)  # one size


def get_recipe(name: str, size: str = "default") -> Recipe:
    spec = ORGANISMS[name]  # unknown names: an error naming the registered organisms
    if size not in spec.recipes:
        raise UnlearnscopeError(f"unknown size {size!r} for organism {name!r}; available: {sorted(spec.recipes)}")
    return spec.recipes[size]
