"""Each seed paper's central finding, replicated (or honestly not) on the organisms: `replicate`
runs the comparison and returns a `ReplicationCard` (the claim and its number, ours with a CI,
agrees / does not agree, what differs in the setting).

    from unlearnscope.replicate import replicate
    card = replicate("mechanistic-unlearning", size="small", seeds=3)
    card.save_card("docs/replications")
"""

from .card import ReplicationCard, supports
from .papers import NOT_YET, PAPERS, paired, replicate

__all__ = ["NOT_YET", "PAPERS", "ReplicationCard", "paired", "replicate", "supports"]
