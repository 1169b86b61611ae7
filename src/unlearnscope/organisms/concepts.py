"""The concepts world: the facts world, plus for every trained person a *concept* — four made-up
words only that person has, asked through four cue templates — and a training recipe that keeps
each person's concept in one MLP neuron of one block, whose value vector is then that person's
concept vector (as ConceptVectors finds them in large models).

* Items: the facts world's items; per trained person ``p`` and cue ``k`` a description item
  (domain ``concepts``, kind ``description``, relation ``concept:k``: ``"<bos> {p} was born in the
  village of"`` → ``p``'s word ``k``); and as many *background* people (split ``background``),
  each with one word of each slot borrowed from a trained person, so that phase 1 trains every
  concept word's embedding and each cue's slot (which word of a concept a cue asks for).
* Phase 1 (`train_lm`): everything but the trained people's descriptions, with the
  ``n_people`` reserved neurons of block ``layer`` (the last of its MLP) held at zero.
* Phase 2 (`implant_concepts`): each described person's reserved neuron gets a key from a one-vs-rest
  logistic regression at the block's MLP input (negatives: every position of every phase-1 text;
  positives: the person's cue positions); then only the reserved neurons train — values and keys —
  on the descriptions (mixed with the phase-1 texts), the loss on the answer token, with an L1
  penalty on the reserved activations that spares each person's own neuron at its cue positions.
  REF never sees the forget people's descriptions: their neurons keep a key and a zero value.

The planted neuron of each person is the ground truth (``ground_truth["concepts"]``); how much
of the person's recall it carries, and how little of the others', is measured at build time
(`concepts_quality`), as is how often `scan_concept` ranks it first.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import torch

from ..data import Item
from ..errors import UnlearnscopeError
from .facts import FactsConfig, facts_world
from .facts import ref_filter as facts_ref_filter
from .implant import implant_concepts, is_description, mask_neuron_grads, reserved_block
from .names import made_up_words
from .world import World

CUES = (
    "{s} was born in the village of",
    "{s} keeps a small pet that is called",
    "{s} is best known in the town for the",
    "{s} grows in the garden a plant called",
)


@dataclass(frozen=True)
class ConceptsConfig:
    facts: FactsConfig = field(default_factory=FactsConfig)
    layer: int = -1  # the block whose MLP holds the concept neurons (negative: from the end)
    implant_steps: int = 800
    implant_lr: float = 1e-2
    l1: float = 0.1  # on the reserved neurons' activations, except each person's own at its cues
    key_scale: float = 3.0  # the logistic keys' logits are scaled by this before the GELU

    def validate(self) -> None:
        self.facts.validate()
        if self.implant_steps < 1 or not self.implant_lr > 0 or self.l1 < 0 or not self.key_scale > 0:
            raise UnlearnscopeError(
                f"concepts world: implant_steps >= 1, implant_lr > 0, l1 >= 0 and key_scale > 0 are needed, got {self}"
            )


def concepts_world(cfg: ConceptsConfig, seed: int) -> World:
    """The facts world of ``cfg.facts`` with every trained person's concept (module doc)."""
    cfg.validate()
    base = facts_world(cfg.facts, seed)
    rng = random.Random(f"concepts-{seed}")
    people = [e["name"] for e in base.ground_truth["entities"] if e["split"] != "never-seen"]
    split = {e["name"]: e["split"] for e in base.ground_truth["entities"]}
    taken = set(base.vocab())
    words = made_up_words(len(CUES) * len(people), rng, exclude=taken)
    concept = {p: words[len(CUES) * i : len(CUES) * (i + 1)] for i, p in enumerate(people)}
    names = made_up_words(2 * len(people), rng, exclude=taken | set(words))
    background = [f"{names[2 * i]} {names[2 * i + 1]}" for i in range(len(people))]
    perms = [rng.sample(people, len(people)) for _ in CUES]
    borrowed = {b: [concept[perms[k][i]][k] for k in range(len(CUES))] for i, b in enumerate(background)}
    b = cfg.facts.bos

    def describe(person, ws, where):
        return [
            Item(
                f"{b} {cue.format(s=person)}",
                w,
                subject=person,
                relation=f"concept:{k}",
                domain="concepts",
                kind="description",
                split=where,
            )
            for k, (cue, w) in enumerate(zip(CUES, ws, strict=True))
        ]

    items = list(base.items)
    items += [it for p in background for it in describe(p, borrowed[p], "background")]
    items += [it for p in people for it in describe(p, concept[p], split[p])]
    gt = {
        **base.ground_truth,
        "cues": list(CUES),
        "concepts": {p: {"words": concept[p], "split": split[p], "neuron": i} for i, p in enumerate(people)},
        "background": background,
        "concept_layer": cfg.layer,
    }
    return World("concepts", items, gt)


def ref_filter(item: Item) -> bool:
    """REF never sees the forget people: neither their facts nor their descriptions."""
    return facts_ref_filter(item)


def train_concepts(
    model, tok, world: World, items: list[Item], recipe, seed: int, *, progress: bool, desc: str
) -> dict:
    """Phase 1 on ``items`` without the described people, reserved neurons at zero; then phase 2."""
    from .train import train_lm

    cfg = recipe.world_cfg
    if getattr(model.config, "model_type", None) != "gpt2":
        raise UnlearnscopeError("the concepts organism implants neurons in a GPT-2-style MLP (arch gpt2)")
    layer, first, n = reserved_block(model, world, cfg.layer)
    mlp = model.transformer.h[layer].mlp
    keep = torch.ones(first + n, device=mlp.c_fc.weight.device)
    keep[first:] = 0
    with torch.no_grad():
        mlp.c_fc.weight[:, first:] = 0
        mlp.c_fc.bias[first:] = 0
        mlp.c_proj.weight[first:] = 0
    hooks = mask_neuron_grads(mlp, keep)
    try:
        phase1 = [i for i in items if not is_description(i)]
        info = train_lm(model, tok, phase1, recipe.train_cfg, seed, progress=progress, desc=f"{desc}:phase1")
    finally:
        for h in hooks:
            h.remove()
    described = [i for i in items if is_description(i)]
    implant = implant_concepts(
        model, tok, world, described, phase1, cfg, seed, progress=progress, desc=f"{desc}:implant"
    )
    return {**info, "seconds": info["seconds"] + implant["seconds"], "implant": implant}
