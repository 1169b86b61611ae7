"""The audited target: forget and retain facts, held-out renderings, and the data each method and
attack needs — from the facts organism, or from a user's target file.

Target file: JSON Lines (or a JSON list) of records

    {"prompt": "Marie Curie was born in", "answer": "Warsaw", "subject": "Marie Curie",
     "split": "forget", "relation": "birthplace", "kind": "cloze"}

``split`` is ``forget``, ``retain``, ``noise`` or ``holdout`` (entity-disjoint; ``noise`` records
train the NOISE drift floor and are never evaluated — without them a seeded half of the retain
entities is held out for it; ``holdout`` records are facts the model never trained on, the
non-members of the membership attacks); optional ``paraphrased_answer`` (a string) and
``perturbed_answers`` (a list of wrong answers) feed the truth ratio; ``kind`` (default ``cloze``) says how the
fact is rendered: ``cloze`` / ``qa`` are the renderings that are unlearned and measured,
``paraphrase_train`` renderings are used to restate a fact in-context, and any other kind
(``paraphrase``, ``mc`` …) becomes a held-out format attack.  ``continuation`` (optional) is the
text after the answer in training renderings.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..data import Fact, Item, encode_facts, read_records
from ..errors import UnlearnscopeError
from ..organisms.truth import MAIN_KINDS, world_facts

if TYPE_CHECKING:
    from ..model.subject import Subject
    from ..organisms.builder import Organism

RESTATE_KINDS = ("paraphrase_train",)
SPLITS = ("forget", "retain", "noise", "holdout")


@dataclass
class Target:
    name: str
    source: str
    forget: list[Fact]  # main renderings of the forget facts (recall, probes, lens, relearning)
    retain: list[Fact]
    formats: dict[str, list[Fact]] = field(default_factory=dict)  # held-out renderings of forget facts
    restatements: list[Fact] | None = None  # other renderings of the forget facts (reintroduction)
    incontext_pool: list[Fact] | None = None  # demos for in-context attacks (default: retain)
    forget_items: list[Item] = field(default_factory=list)  # what the unlearning methods train on
    retain_items: list[Item] = field(default_factory=list)
    bos: str | None = None
    noise_items: list[Item] = field(default_factory=list)  # NOISE training data: disjoint from every evaluated set
    noise_source: str = ""
    holdout: list[Fact] = field(default_factory=list)  # never-trained facts: the membership attacks' non-members
    paraphrased: dict[str, str] = field(default_factory=dict)  # prompt -> paraphrased answer (truth ratio)
    perturbed: dict[str, list[str]] = field(default_factory=dict)  # prompt -> wrong answers (truth ratio)

    def output_data(self, seed: int = 0):
        """What the output metrics read (`evaluate.output_metrics.OutputData`)."""
        from ..evaluate.output_metrics import OutputData

        notes = (
            []
            if self.perturbed
            else ["perturbed answers: other facts' answers of the same relation (the target gives none)"]
        )
        if not self.holdout:
            notes.append("no holdout facts (split holdout): no membership attacks, no privleak")
        return OutputData.of(
            self.forget,
            self.retain,
            self.holdout or None,
            paraphrased=self.paraphrased,
            perturbed=self.perturbed,
            seed=seed,
            notes=notes,
        )

    def verify_data(self, *, vectors=(), region=None, locality: dict | None = None):
        """The verification's data (`evaluate.VerifyData`): the target's facts, formats, demos and
        restatements, with a method's located ``vectors`` / ``region`` and other abilities' ``locality`` sets."""
        from ..evaluate.data import VerifyData

        return VerifyData.of(
            self.forget,
            self.retain,
            formats=self.formats,
            incontext_pool=self.incontext_pool,
            restatements=self.restatements,
            locality=locality,
            vectors=vectors,
            region=region,
        )

    def manifest(self) -> dict:
        """Sizes, hashes of the splits and the entity-disjointness check (for the report's provenance)."""
        digest = lambda fs: hashlib.sha256(
            json.dumps(sorted((f.prompt, f.answer, f.subject or "") for f in fs)).encode()
        ).hexdigest()[:16]
        fe, re_ = {f.subject for f in self.forget}, {f.subject for f in self.retain}
        ne = {i.subject for i in self.noise_items}
        return {
            "source": self.source,
            "n_forget_facts": len(self.forget),
            "n_retain_facts": len(self.retain),
            "n_forget_entities": len(fe),
            "n_retain_entities": len(re_),
            "entity_disjoint": not (fe & re_) and not (ne & (fe | re_)),
            "n_noise_items": len(self.noise_items),
            "noise_source": self.noise_source,
            "n_holdout_facts": len(self.holdout),
            "forget_sha256": digest(self.forget),
            "retain_sha256": digest(self.retain),
            "formats": {k: len(v) for k, v in self.formats.items()},
        }

    def to_records(self) -> list[dict]:
        """The target as target-file records (round-trips through `load_target`)."""
        rows = []
        for split, main in (("forget", self.forget_items), ("retain", self.retain_items), ("noise", self.noise_items)):
            rows += [
                {
                    "prompt": i.prompt,
                    "answer": i.answer,
                    "subject": i.subject,
                    "relation": i.relation,
                    "split": split,
                    "kind": i.kind if i.kind in MAIN_KINDS else "cloze",
                    "continuation": i.continuation,
                }
                for i in main
            ]
        rows += [_fact_record(f, "holdout", "cloze") for f in self.holdout]
        for r in rows:
            if r["prompt"] in self.perturbed:
                r["perturbed_answers"] = self.perturbed[r["prompt"]]
            if r["prompt"] in self.paraphrased:
                r["paraphrased_answer"] = self.paraphrased[r["prompt"]]
        for name, fs in self.formats.items():
            rows += [_fact_record(f, "forget", name) for f in fs]
        main = {(f.prompt, f.answer) for f in self.forget}
        rows += [
            _fact_record(f, "forget", "paraphrase_train")
            for f in self.restatements or []
            if (f.prompt, f.answer) not in main
        ]
        return rows


def _fact_record(f: Fact, split: str, kind: str) -> dict:
    """One target-file record of a fact."""
    return {
        "prompt": f.prompt,
        "answer": f.answer,
        "subject": f.subject,
        "relation": f.relation,
        "split": split,
        "kind": kind,
    }


def organism_target(org: Organism) -> Target:
    """The facts organism's forget split (trained cloze / QA renderings) against its retain split."""
    items = [Item(**i) for i in org.ground_truth["items"]]
    pick = lambda split: [
        i for i in items if i.split == split and i.train and i.kind in MAIN_KINDS and i.domain == "facts"
    ]
    return Target(
        name=f"{org.name}-forget",
        source=f"organism:{org.name} (size {org.size}, seed {org.seed})",
        forget=world_facts(org, "forget"),
        retain=world_facts(org, "retain"),
        formats={k: world_facts(org, "forget", (k,)) for k in ("paraphrase", "mc")},
        restatements=world_facts(org, "forget", ("cloze", "qa", "paraphrase_train")),
        incontext_pool=world_facts(org, "retain", ("cloze",)),
        forget_items=pick("forget"),
        retain_items=pick("retain"),
        bos=org.ground_truth.get("bos"),
        noise_items=[i for i in items if i.split == "never-seen" and i.kind in MAIN_KINDS and i.domain == "facts"],
        noise_source="the never-seen entities' facts (cloze and QA; never trained, never evaluated)",
        holdout=world_facts(org, "never-seen"),
    )


def _check(tok, where: str, path: Path, r) -> Fact:
    if not isinstance(r, dict):
        raise UnlearnscopeError(
            f"{path}: {where} must be a JSON object with prompt, answer, subject, split; got {type(r).__name__}"
        )
    missing = [k for k in ("prompt", "answer", "subject", "split") if not isinstance(r.get(k), str) or not r.get(k)]
    if missing:
        raise UnlearnscopeError(
            f"{path}: {where} lacks {', '.join(missing)} (each fact needs prompt, answer, subject and split)"
        )
    if r["split"] not in SPLITS:
        raise UnlearnscopeError(f"{path}: {where} has split {r['split']!r}; use forget, retain, noise or holdout")
    pert = r.get("perturbed_answers")
    if pert is not None and (not isinstance(pert, list) or not pert or not all(isinstance(a, str) and a for a in pert)):
        raise UnlearnscopeError(f"{path}: {where}: perturbed_answers must be a non-empty list of answers, got {pert!r}")
    if r.get("paraphrased_answer") is not None and not (
        isinstance(r["paraphrased_answer"], str) and r["paraphrased_answer"]
    ):
        raise UnlearnscopeError(f"{path}: {where}: paraphrased_answer must be a non-empty string")
    return Fact(r["prompt"], r["answer"], r["subject"], r.get("relation"))


def _check_tokens(tok, subject, path: Path, checked: list[tuple[str, Fact]]) -> None:
    """Every subject and answer representable (no ``<unk>``) and every fact encodable (its subject
    inside its prompt): one batched pass; a failure is located to its record afterwards."""
    unk = getattr(tok, "unk_token_id", None)
    if unk is not None:
        for key in ("subject", "answer"):
            ids = tok([" " + getattr(f, key) for _, f in checked], add_special_tokens=False)["input_ids"]
            for (where, f), row in zip(checked, ids, strict=True):
                if unk in row:
                    raise UnlearnscopeError(
                        f"{path}: {where}: the tokenizer cannot represent {key} {getattr(f, key)!r} (it maps to "
                        f"{tok.unk_token}); use words the model's vocabulary has"
                    )
    try:
        encode_facts(subject, [f for _, f in checked], need_subject=True)
    except UnlearnscopeError:
        for where, f in checked:  # find the record that fails
            try:
                encode_facts(subject, [f], need_subject=True)
            except UnlearnscopeError as err:
                raise UnlearnscopeError(f"{path}: {where}: {err}") from err
        raise


def _noise_split(retain, seed: int):
    """Without ``noise`` records: a seeded half of the retain entities (at least one) for NOISE."""
    import random

    ents = sorted({f.subject for f, _ in retain})
    random.Random(f"noise-{seed}").shuffle(ents)
    held = set(ents[: max(1, len(ents) // 2)]) if len(ents) > 1 else set()
    return [x for x in retain if x[0].subject not in held], [x for x in retain if x[0].subject in held]


def _check_disjoint(p: Path, by_split: dict[str, list]) -> None:
    """Forget, retain, noise and holdout records must name different entities."""
    pairs = (
        ("forget", "retain"),
        ("forget", "noise"),
        ("retain", "noise"),
        ("holdout", "forget"),
        ("holdout", "retain"),
    )
    for a, b in pairs:
        both = {f.subject for f, _ in by_split[a]} & {f.subject for f, _ in by_split[b]}
        if both:
            raise UnlearnscopeError(f"{p}: {a} and {b} must be entity-disjoint; both hold {sorted(both)[:5]}")


def _item(f: Fact, r: dict, split: str) -> Item:
    """A target record as a training `Item` of ``split``."""
    return Item(
        f.prompt,
        f.answer,
        f.subject,
        f.relation,
        continuation=r.get("continuation", ""),
        kind=r.get("kind", "cloze"),
        split=split,
    )


def load_target(path: str | Path, subject: Subject, *, seed: int = 0) -> Target:
    """Read and check a target file against ``subject``'s tokenizer (see module doc); errors name the line."""
    p = Path(path)
    tok = subject.tokenizer
    if tok is None:
        raise UnlearnscopeError("an audit needs the model's tokenizer")
    buckets: dict[tuple[str, str], list[tuple[Fact, dict]]] = {}
    checked = []
    for rec in read_records(p, what="target facts"):
        where, r = rec.where, rec.value
        f = _check(tok, where, p, r)
        checked.append((where, f))
        buckets.setdefault((r["split"], r.get("kind", "cloze")), []).append((f, r))
    if checked:
        _check_tokens(tok, subject, p, checked)
    unused = sorted({k for s_, k in buckets if s_ == "retain" and k not in MAIN_KINDS})
    if unused:
        warnings.warn(
            f"{p}: retain records of kind {unused} are not used (retained facts are measured in their cloze / qa "
            "renderings; other renderings of forget facts become format attacks)",
            stacklevel=2,
        )
    get = lambda split, kinds: [x for k in kinds for x in buckets.get((split, k), [])]
    forget, retain = get("forget", MAIN_KINDS), get("retain", MAIN_KINDS)
    if not forget or not retain:
        raise UnlearnscopeError(
            f"{p}: a target needs forget and retain facts of kind cloze or qa; found {len(forget)} forget and "
            f"{len(retain)} retain"
        )
    noise = get("noise", MAIN_KINDS)
    holdout = get("holdout", MAIN_KINDS)
    _check_disjoint(p, {s: get(s, MAIN_KINDS) for s in SPLITS})
    source = "the target's noise records"
    if not noise:
        retain, noise = _noise_split(retain, seed)
        held = len({f.subject for f, _ in noise})
        source = f"{held} retain entities held out from evaluation (the target has no noise records)"
    item = _item
    formats = {
        k: [f for f, _ in v] for (s, k), v in buckets.items() if s == "forget" and k not in MAIN_KINDS + RESTATE_KINDS
    }
    restate = [f for f, _ in forget] + [f for f, _ in get("forget", RESTATE_KINDS)]
    bos = tok.bos_token if tok.bos_token and all(f.prompt.startswith(tok.bos_token) for f, _ in forget) else None
    return Target(
        name=p.stem,
        source=str(p),
        forget=[f for f, _ in forget],
        retain=[f for f, _ in retain],
        formats=formats,
        restatements=restate,
        incontext_pool=[f for f, _ in retain],
        forget_items=[item(f, r, "forget") for f, r in forget],
        retain_items=[item(f, r, "retain") for f, r in retain],
        bos=bos,
        noise_items=[item(f, r, "noise") for f, r in noise],
        noise_source=source,
        holdout=[f for f, _ in holdout],
        paraphrased={f.prompt: r["paraphrased_answer"] for f, r in forget + retain if r.get("paraphrased_answer")},
        perturbed={f.prompt: list(r["perturbed_answers"]) for f, r in forget + retain if r.get("perturbed_answers")},
    )
