"""Relearning attack (Deeb & Roger, "Do unlearning methods remove information from language model
weights?"; Guo et al.).

Fine-tune on a few forget facts and watch how fast the forget knowledge comes back:

* ``split="disjoint"`` (default): forget entities are split into halves T / V per seed; the model
  is fine-tuned on T's facts and recall is measured on V's — facts it was *not* shown.  A model
  that never knew (REF) cannot recover V (the facts are arbitrary); recovery above REF reveals
  knowledge that was only suppressed.
* ``split="same"``: fine-tune on the evaluated facts themselves (re-learning speed).

Training: AdamW on every parameter (or a `ComponentSet`), cross-entropy of the answer token at the
last prompt position, full batches of T's facts, ``steps`` steps per learning rate and seed;
recall of V is measured at step 0 and every ``eval_every`` steps.  The model's weights are
snapshotted and restored after every run (also on errors).  Per entity, the curve's mean over
evaluation points (area under the curve / number of points) is the attack metric.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ..data import as_facts, encode_facts
from ..errors import UnlearnscopeError
from ..probes.recall import recall
from ..progress import bar

if TYPE_CHECKING:
    from ..data.records import FactsLike
    from ..model.components import ComponentSet
    from ..model.subject import Subject

SPLITS = ("disjoint", "same")


@dataclass(frozen=True)
class RelearnConfig:
    lrs: tuple[float, ...] = (1e-3, 3e-3)
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 30
    eval_every: int = 5
    split: str = "disjoint"

    def validate(self):
        if self.split not in SPLITS:
            raise UnlearnscopeError(f"relearning split must be one of {SPLITS}, got {self.split!r}")
        if (
            not self.lrs
            or any(not lr > 0 for lr in self.lrs)
            or not self.seeds
            or self.steps < 1
            or self.eval_every < 1
        ):
            raise UnlearnscopeError(
                f"invalid relearning config {self}: needs lrs > 0, seeds, steps >= 1, eval_every >= 1"
            )


@dataclass
class RelearnCurves:
    """``curves[lr]`` is ``[seed, eval point, n_entities]`` recall of evaluated entities (NaN where
    the entity was in T for that seed); ``steps`` the evaluation steps."""

    entities: list[str]
    steps: list[int]
    curves: dict = field(default_factory=dict)

    def mean_curve(self, lr) -> list[float]:
        c = self.curves[lr]
        return torch.nanmean(c, dim=(0, 2)).tolist() if c.numel() else []

    def entity_auc(self, lr) -> torch.Tensor:
        """``[n_entities]`` mean over evaluation points and seeds (seeds where the entity was evaluated)."""
        return torch.nanmean(self.curves[lr].mean(1), dim=0)

    def steps_to(self, lr, level: float) -> int | None:
        """First evaluation step where the mean recall reaches ``level`` (absolute), else None."""
        for s, v in zip(self.steps, self.mean_curve(lr), strict=True):
            if v >= level:
                return s
        return None


@contextlib.contextmanager
def restored_weights(model):
    """Snapshot every parameter and buffer; restore them on exit (also after errors)."""
    saved = {k: v.detach().clone() for k, v in model.state_dict().items()}
    try:
        yield model
    finally:
        with torch.no_grad():
            model.load_state_dict(saved)


def entity_halves(entities: list[str], seed: int) -> tuple[set, set]:
    """``(T, V)``: the seeded halves of the entities (train on T, score V); the same split for
    every model and every attack that relearns on disjoint entities."""
    ents = sorted(set(entities))
    if len(ents) < 2:
        raise UnlearnscopeError(f"a disjoint relearning split needs at least 2 forget entities, got {len(ents)}")
    random.Random(f"relearn-{seed}").shuffle(ents)
    half = len(ents) // 2
    return set(ents[:half]), set(ents[half:])


def answer_step(model, params: list, opt, ids, mask, last, ans) -> float:
    """One relearning step: cross-entropy of the answer token at each row's last prompt position,
    backward, gradient norm clipped at 1, ``opt.step()``; returns the loss."""
    with torch.enable_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits
        loss = torch.nn.functional.cross_entropy(logits[torch.arange(len(ids), device=ids.device), last].float(), ans)
        opt.zero_grad(set_to_none=True)
        loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    return float(loss.detach())


def relearn_curves(
    subject: Subject,
    facts: FactsLike,
    *,
    config: RelearnConfig = RelearnConfig(),
    components: ComponentSet | None = None,
    progress: bool = False,
) -> RelearnCurves:
    """Run the attack on one model (see module doc); ``subject``'s weights are unchanged afterwards."""
    from ..ablate.masking import MaskedParams

    cfg = config
    cfg.validate()
    facts = as_facts(facts)
    if any(not f.subject for f in facts):
        raise UnlearnscopeError("relearning needs each fact's subject (entity) to split and score by entity")
    entities: list[str] = sorted({f.subject for f in facts if f.subject})
    enc = encode_facts(subject, facts)
    ent_idx = torch.tensor([entities.index(f.subject or "") for f in facts])
    eval_steps = [0] + [s for s in range(1, cfg.steps + 1) if s % cfg.eval_every == 0 or s == cfg.steps]
    model = subject.model
    out = RelearnCurves(entities, eval_steps)

    def score(rows_v):
        correct = recall(subject, enc)["correct"].cpu()
        sums = torch.zeros(len(entities)).index_add_(0, ent_idx, correct)
        cnt = torch.zeros(len(entities)).index_add_(0, ent_idx, torch.ones(len(facts)))
        v = sums / cnt
        v[~rows_v] = float("nan")
        return v

    runs = bar(total=len(cfg.lrs) * len(cfg.seeds), desc="relearn")
    for lr in cfg.lrs:
        per_seed = []
        for seed in cfg.seeds:
            runs.update()
            if cfg.split == "disjoint":
                T, V = entity_halves([f.subject or "" for f in facts], seed)
            else:
                T = V = set(entities)
            train_rows = torch.tensor([f.subject in T for f in facts], device=enc.input_ids.device)
            v_mask = torch.tensor([e in V for e in entities])
            torch.manual_seed(seed)
            curve = []
            with restored_weights(model), MaskedParams(subject, components) as mp:
                opt = torch.optim.AdamW(list(mp.params.values()), lr=lr, weight_decay=0.0)
                curve.append(score(v_mask))
                ids, mask = enc.input_ids[train_rows], enc.attention_mask[train_rows]
                last, ans = enc.last[train_rows], enc.answer[train_rows]
                for step in range(1, cfg.steps + 1):
                    answer_step(model, list(mp.params.values()), opt, ids, mask, last, ans)
                    mp.restore_outside()
                    if step in eval_steps:
                        curve.append(score(v_mask))
            per_seed.append(torch.stack(curve))
        out.curves[lr] = torch.stack(per_seed)  # [seed, point, entity]
    runs.close()
    return out
