"""The population a meta-evaluation scores: models of one organism world that know its forget facts,
models that never knew them, and models unlearned from ORIG by the audit's methods.

* knows: ``orig1 … origN`` (ORIG's data and recipe, other weight seeds) and ``orig+ft`` (ORIG
  briefly fine-tuned on unrelated data: the never-seen entities' facts);
* never knew: ``ref1 … refN`` (REF's data and recipe, other weight seeds) and ``ref+ft``;
* unlearned: one model per audit method (seed 0), scored for robustness, not for faithfulness.

ORIG and REF themselves (seed 0) are the anchors every readout is measured against (RKI, probe
depth selection, the causal-depth baseline) and are not scored.  Weight-seed models live in the
organism cache (`Organism.variant_path`); fine-tuned and unlearned members under
``$UNLEARNSCOPE_HOME/metaeval/<organism entry>/<member>-<key>/`` (a model directory and a
manifest, written atomically; a member whose files do not match its manifest is rebuilt), so an
interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import UnlearnscopeError
from ..model.edits import atomic_dir
from ..organisms.cache import MANIFEST, building, check_entry, file_table

GROUPS = ("knows", "never_knew", "unlearned")
FT_STEPS, FT_LR, FT_BATCH = 30, 1e-4, 16  # the brief fine-tune on unrelated data (population and robustness)


@dataclass(frozen=True)
class Member:
    """One model of the population: ``name``, ``group`` (knows | never_knew | unlearned) and how
    it was made, in words."""

    name: str
    group: str
    how: str

    def to_dict(self) -> dict:
        return {"name": self.name, "group": self.group, "how": self.how}


def population_dir(org) -> Path:
    from ..evaluate.faithfulness import table_path

    return table_path(org).parent


def _key(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:12]


def cached_member(org, name: str, spec: dict, make: Callable[[], object], log) -> Path:
    """The model directory of member ``name`` built by ``make() -> Subject`` (on first use; keyed
    by ``spec``, the recipe in data)."""
    entry = population_dir(org) / f"{name}-{_key(spec)}"
    if check_entry(entry) is None:
        return entry / "model"
    with building(entry):
        if check_entry(entry) is None:  # built by another process while this one waited
            return entry / "model"
        log(f"building population member {name}")
        subject = make()
        with atomic_dir(entry) as tmp:
            subject.model.save_pretrained(tmp / "model")
            subject.tokenizer.save_pretrained(tmp / "model")
            (tmp / MANIFEST).write_text(
                json.dumps(
                    {"member": name, "spec": spec, "files": file_table(tmp), "complete": True}, indent=2, default=str
                )
            )
    return entry / "model"


def finetune_unrelated(subject, texts, seed: int = 0) -> dict:
    """The brief fine-tune on unrelated data, in place: ``FT_STEPS`` steps of next-token loss at
    ``FT_LR`` on ``texts`` (the never-seen entities' facts)."""
    from ..audit.noise import finetune_noise

    return finetune_noise(subject, texts, steps=FT_STEPS, lr=FT_LR, batch_size=FT_BATCH, seed=seed)


def weight_seed_members(n_seeds: int) -> list[Member]:
    if n_seeds < 1:
        raise UnlearnscopeError(f"a population needs at least one weight seed per side, got {n_seeds}")
    out = [Member(f"orig{k}", "knows", f"ORIG's data and recipe, weight seed {k}") for k in range(1, n_seeds + 1)]
    out += [Member(f"ref{k}", "never_knew", f"REF's data and recipe, weight seed {k}") for k in range(1, n_seeds + 1)]
    return out


FT_MEMBERS = [
    Member("orig+ft", "knows", f"ORIG fine-tuned on unrelated data ({FT_STEPS} steps, lr {FT_LR})"),
    Member("ref+ft", "never_knew", f"REF fine-tuned on unrelated data ({FT_STEPS} steps, lr {FT_LR})"),
]
