"""The built-in world kinds, registered in `registry.WORLDS`: ``facts`` (fictional people ×
relations), ``multidomain`` (facts, arithmetic, code, refusal, benign chat; dense or MoE models) and
``concepts`` (the small facts world plus planted concept neurons).  Each entry says how the world
is generated, what REF trains on, how a model's quality is measured and what the organism's
summary and quality bars are."""

from __future__ import annotations

from .concepts import concepts_world, train_concepts
from .concepts import ref_filter as concepts_ref_filter
from .facts import facts_world
from .facts import ref_filter as facts_ref_filter
from .models import make_model
from .multidomain import multidomain_world
from .multidomain import ref_filter as moe_ref_filter
from .quality import (
    chance_level,
    concepts_bars,
    concepts_ground_truth,
    concepts_quality,
    expert_specialisation,
    facts_bars,
    facts_quality,
    multidomain_bars,
    multidomain_quality,
)
from .registry import VARIANTS, WorldKind, register_world


def _facts_summary(world, quality, **_) -> dict:
    chance = chance_level(world)
    return {"chance_forget": chance, "bars_met": facts_bars(quality["orig"], quality["ref"], chance)}


def _moe_summary(world, quality, *, models, tok, recipe, seed, device) -> dict:
    from ..model.loading import load

    if not load(models["orig"], tok).anatomy.is_moe:  # the dense multi-domain organism
        return {"bars_met": multidomain_bars(quality["orig"])}
    spec = {v: expert_specialisation(load(models[v], tok), world) for v in VARIANTS}
    # control: the same measure on the untrained (seeded) initial model
    untrained = make_model(recipe.arch, recipe.model_cfg, tok, seed).to(device).eval()
    spec["untrained_control"] = expert_specialisation(load(untrained, tok), world)
    return {"bars_met": multidomain_bars(quality["orig"]), "specialisation": spec}


def _concepts_summary(world, quality, *, models, tok, **_) -> dict:
    chance = chance_level(world)
    truth = concepts_ground_truth(models["orig"], tok, world)
    return {
        "chance_forget": chance,
        "concept_neurons": truth,
        "bars_met": concepts_bars(quality["orig"], quality["ref"], chance, truth),
    }


register_world(WorldKind("facts", facts_world, facts_ref_filter, facts_quality, _facts_summary))
register_world(WorldKind("multidomain", multidomain_world, moe_ref_filter, multidomain_quality, _moe_summary))
register_world(
    WorldKind("concepts", concepts_world, concepts_ref_filter, concepts_quality, _concepts_summary, train_concepts)
)
