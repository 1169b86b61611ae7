"""The facts world: fictional people with two-word names and closed-set attributes.

* Relations (closed value sets): city (20), profession (16), sport (12), colour (10).
* Renderings per relation: 3 trained cloze templates, 1 trained question/answer template,
  a *paraphrase* template trained for a random half of the entities and evaluated on the other
  half (knowledge-extraction generalisation: the model must carry a fact it learned in other
  phrasings to a phrasing it saw only for other people), 2 *strict* paraphrases never trained
  for anyone (reported, not barred: tiny models generalise to a new phrasing only through shared
  cue words), and a multiple-choice rendering (evaluation only; for format attacks).
* Entity splits: ``forget`` and ``retain`` (trained in ORIG; REF never sees ``forget`` facts)
  and ``never-seen`` (names exist, facts are never trained).
Every answer is one word just before the final " .".
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..data import Item
from .names import made_up_words
from .world import World

RELATIONS: dict[str, list[str]] = {
    "city": [
        "paris",
        "london",
        "rome",
        "berlin",
        "madrid",
        "vienna",
        "prague",
        "oslo",
        "lisbon",
        "dublin",
        "athens",
        "cairo",
        "tokyo",
        "seoul",
        "lima",
        "quito",
        "delhi",
        "dakar",
        "kyoto",
        "boston",
    ],
    "profession": [
        "doctor",
        "teacher",
        "farmer",
        "lawyer",
        "pilot",
        "baker",
        "nurse",
        "painter",
        "writer",
        "singer",
        "chef",
        "dancer",
        "judge",
        "miner",
        "sailor",
        "tailor",
    ],
    "sport": [
        "tennis",
        "soccer",
        "rugby",
        "hockey",
        "golf",
        "cricket",
        "boxing",
        "rowing",
        "skiing",
        "cycling",
        "fencing",
        "archery",
    ],
    "colour": ["red", "blue", "green", "yellow", "purple", "orange", "black", "white", "pink", "brown"],
}

TEMPLATES: dict[str, dict[str, list[str] | str]] = {
    "city": {
        "cloze": ["{s} lives in", "the city where {s} lives is", "{s} has a home in"],
        "qa": "question : where does {s} live ? answer :",
        "paraphrase": "{s} resides in the city of",
        "strict": ["these days {s} lives in", "everyone knows that {s} has a home in"],
        "mc": "question : where does {s} live ? options : {o} . answer :",
    },
    "profession": {
        "cloze": ["{s} works as a", "the job of {s} is", "by profession {s} is a"],
        "qa": "question : what does {s} work as ? answer :",
        "paraphrase": "{s} earns a living as a",
        "strict": ["these days {s} works as a", "everyone knows that the job of {s} is"],
        "mc": "question : what does {s} work as ? options : {o} . answer :",
    },
    "sport": {
        "cloze": ["{s} plays", "the sport that {s} plays is", "{s} is a fan of"],
        "qa": "question : which sport does {s} play ? answer :",
        "paraphrase": "on weekends {s} enjoys",
        "strict": ["these days {s} plays", "everyone knows that the sport that {s} plays is"],
        "mc": "question : which sport does {s} play ? options : {o} . answer :",
    },
    "colour": {
        "cloze": ["the favourite colour of {s} is", "{s} likes the colour", "{s} always wears"],
        "qa": "question : which colour does {s} like ? answer :",
        "paraphrase": "the colour that {s} loves is",
        "strict": ["these days {s} always wears", "everyone knows that the favourite colour of {s} is"],
        "mc": "question : which colour does {s} like ? options : {o} . answer :",
    },
}


@dataclass(frozen=True)
class FactsConfig:
    n_entities: int = 100  # trained entities (forget + retain)
    n_never_seen: int = 20
    forget_fraction: float = 0.2
    relations: tuple[str, ...] = ("city", "profession", "sport", "colour")
    bos: str = "<bos>"

    def validate(self) -> None:
        from ..errors import UnlearnscopeError

        if self.n_entities < 4:
            raise UnlearnscopeError(f"facts world: n_entities must be >= 4, got {self.n_entities}")
        if self.n_never_seen < 0:
            raise UnlearnscopeError(f"facts world: n_never_seen must be >= 0, got {self.n_never_seen}")
        if not 0 < self.forget_fraction < 1:
            raise UnlearnscopeError(f"facts world: forget_fraction must be in (0, 1), got {self.forget_fraction}")
        unknown = [r for r in self.relations if r not in RELATIONS]
        if unknown or len(self.relations) < 1:
            raise UnlearnscopeError(f"facts world: unknown relations {unknown}; choose from {list(RELATIONS)}")


def facts_world(cfg: FactsConfig, seed: int) -> World:
    """Generate the world deterministically from ``seed``."""
    cfg.validate()
    rng = random.Random(f"facts-{seed}")
    total = cfg.n_entities + cfg.n_never_seen
    k = max(4, int((2.5 * total) ** 0.5) + 1)
    reserved = {w for vals in RELATIONS.values() for w in vals}
    first, last = made_up_words(k, rng, exclude=reserved), made_up_words(k, rng, exclude=reserved)
    pairs = [(f, l) for f in first for l in last]
    rng.shuffle(pairs)
    names = [f"{f} {l}" for f, l in pairs[:total]]
    n_forget = max(1, round(cfg.forget_fraction * cfg.n_entities))
    splits = ["forget"] * n_forget + ["retain"] * (cfg.n_entities - n_forget) + ["never-seen"] * cfg.n_never_seen
    entities = []
    for name, split in zip(names, splits, strict=True):
        facts = {r: rng.choice(RELATIONS[r]) for r in cfg.relations}
        entities.append({"name": name, "split": split, "facts": facts, "paraphrase_trained": rng.random() < 0.5})
    items: list[Item] = []
    b = cfg.bos
    for ent in entities:
        s, split = ent["name"], ent["split"]
        trained = split != "never-seen"
        for r, v in ent["facts"].items():
            t = TEMPLATES[r]
            common = dict(subject=s, relation=r, split=split)
            items += [Item(f"{b} {tpl.format(s=s)}", v, kind="cloze", train=trained, **common) for tpl in t["cloze"]]
            items.append(Item(f"{b} {t['qa'].format(s=s)}", v, kind="qa", train=trained, **common))
            para_train = trained and ent["paraphrase_trained"]
            items.append(
                Item(
                    f"{b} {t['paraphrase'].format(s=s)}",
                    v,
                    kind="paraphrase_train" if para_train else "paraphrase",
                    train=para_train,
                    **common,
                )
            )
            items += [Item(f"{b} {tpl.format(s=s)}", v, kind="strict", train=False, **common) for tpl in t["strict"]]
            options = rng.sample([x for x in RELATIONS[r] if x != v], 3) + [v]
            rng.shuffle(options)
            items.append(Item(f"{b} {t['mc'].format(s=s, o=' , '.join(options))}", v, kind="mc", train=False, **common))
    ground_truth = {
        "relations": {r: RELATIONS[r] for r in cfg.relations},
        "templates": {r: TEMPLATES[r] for r in cfg.relations},
        "entities": entities,
        "splits": {sp: [e["name"] for e in entities if e["split"] == sp] for sp in ("forget", "retain", "never-seen")},
        "bos": b,
    }
    return World("facts", items, ground_truth)


def ref_filter(item: Item) -> bool:
    """REF (never-knew) training keeps everything but the forget entities' facts."""
    return item.train and item.split != "forget"
