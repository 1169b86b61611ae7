"""Guo et al.'s comparison at a matched parameter budget, each arm with their objective
(``−log(1 − p)`` on the answer + maintain CE, cosine schedule, ``c_f`` 5 for MLP-only and 0.1
otherwise): ``flu`` (the fact-lookup MLPs, `localize.facts.flu_components`), ``ot`` (output
tracing: attribution patching's sub-blocks by ``|effect|`` up to FLU's parameter count) and
``random`` (random sub-blocks up to the same count).  One module: the three arms of one paper's
comparison share everything but the localization."""

from __future__ import annotations

from ...ablate.methods.log1mp import RETAIN_WEIGHT
from ...errors import UnlearnscopeError
from .base import AuditMethod, register, training_noise, unlearn_run

SOURCE = "Guo et al. 2025, mechanistic unlearning"


def matched_run(ctx, subject, which: str, forget_weight: float) -> dict:
    """Guo et al.'s objective on one of the budget-matched localizations."""
    from ...model.components import ComponentSet

    m = ctx.localization.get("matched")
    if m is None:
        raise UnlearnscopeError("the budget-matched localizations were not computed (flu / ot / random need them)")
    comps = ComponentSet.parse(subject, m[which]["components"])
    return unlearn_run(
        ctx,
        subject,
        components=comps,
        method="log1mp",
        lr=ctx.config.localized_lr,
        retain=True,
        forget_weight=forget_weight,
        retain_weight=RETAIN_WEIGHT,
        schedule="cosine",
    )


def _arm(name: str, forget_weight: float, description: str) -> AuditMethod:
    return register(
        AuditMethod(
            name,
            description,
            lambda ctx, s: matched_run(ctx, s, name, forget_weight),
            noise=training_noise,
            uses=("matched",),
            source=SOURCE,
        )
    )


_arm("flu", 5.0, "-log(1-p) + maintain loss on the fact-lookup MLPs (Guo et al.'s FLU, c_f 5)")
_arm(
    "ot", 0.1, "-log(1-p) + maintain loss on output-tracing sub-blocks at FLU's parameter budget (Guo et al., c_f 0.1)"
)
_arm(
    "random",
    0.1,
    "-log(1-p) + maintain loss on random sub-blocks at FLU's parameter budget (Guo et al.'s control, c_f 0.1)",
)
