"""``relabel``: descent on the forget data as given (``+NLL_f``) — forgetting by fine-tuning toward
other answers, e.g. random labels (Zhang, Choshen & Andreas, "Unforgettable Generalization in
Language Models"); track the original answers with ``metric_items``."""

from __future__ import annotations

from .. import losses as L
from .base import UnlearningMethod, register


def forget_loss(objective, batch, logits, mask):
    ids = batch["input_ids"]
    return L.nll(logits, ids, mask)


register(
    UnlearningMethod(
        "relabel", "fine-tuning toward the answers given (random labels)", "Zhang, Choshen & Andreas", forget_loss
    )
)
