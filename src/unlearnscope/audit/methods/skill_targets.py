"""What the skill-unlearning methods (`na`, `ksd`) read on the refusal target: the forget skill
(refusing: the target's trained refusal items) and the retain skills (the organism's other trained
domains, one skill per domain).  Both read dense FFN neurons, so they run on the dense multi-domain
organism (``--organism multidomain``); the MoE organism's FFNs are experts.  The fitted
interventions are kept in ``ctx.localization["held"]`` by model (``id``), where the plan's
``hold`` finds them while the model is verified."""

from __future__ import annotations


def refusal_skills(target) -> dict:
    """``{"refusal": forget skill, domain: retain skill, ...}`` from the target's trained items (no eval items)."""
    from ...localize.skills import Skill

    retain: dict[str, list] = {}
    for i in target.retain_items:
        retain.setdefault(i.domain, []).append(i)
    return {
        "refusal": Skill("refusal", list(target.forget_items), []),
        **{d: Skill(d, items, []) for d, items in retain.items()},
    }


def refusal_rate(subject, items) -> float:
    from ...organisms.train import accuracy

    return accuracy(subject.model, subject.tokenizer, items)
