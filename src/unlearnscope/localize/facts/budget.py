"""Localizations compared at a matched parameter budget (Guo et al., "Robust Knowledge Unlearning
and Editing via Mechanistic Localization").

    lookup = fact_lookup(subject, facts)
    flu = flu_components(subject, lookup)                         # FLU: the MLPs that add the attribute
    ot = budget_match(subject, attribution_patching(subject, facts), flu.n_params)   # output tracing
    rnd = random_components(subject, flu.n_params, seed=0)        # the control

* **FLU** (fact lookup): the MLPs of the blocks between where the attribute starts to become
  linearly decodable at the subject's last token and where it saturates: with ``a_d`` the
  entity-disjoint probe accuracy at depth ``d`` (`fact_lookup`; ``d = l`` the input of block
  ``l``) and ``R = max_d a_d − a_0`` the rise, the blocks ``l`` from the first whose output reaches
  ``a_0 + start·R`` to the first whose output reaches ``a_0 + stop·R`` (defaults 0.1 and 0.9).
  The paper's probe reads ``<bos>{subject}`` alone; at the subject's last token (``role=
  "subj_last"``) a causal model has read only the subject and the prompt before it, the same
  information up to the template.  Models that look facts up at the last token instead (the facts
  organism: attention in block 1 reads the name, the MLPs of blocks 2–3 at the last token add the
  attribute) show the rise at ``last``; ``role="auto"`` (default) takes the probed role whose
  accuracy rises most and `flu_role` says which it was.
* **Budget matching**: sub-blocks (``blocks.L.mlp`` / ``blocks.L.attn``) are added in order of
  ``|effect|`` until their parameter count reaches the budget (the paper's rule: parameters, not
  components — attention and MLP sizes differ); ``kinds=("mlp",)`` gives the ``_mlps`` variants.
* **Random**: sub-blocks drawn uniformly without replacement until the same budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from ...errors import UnlearnscopeError
from ...model.components import ComponentSet
from .effects import COMPONENT_KINDS, FactLocalization

if TYPE_CHECKING:
    from ...model.subject import Subject


def flu_role(lookup: FactLocalization, role: str = "auto") -> str:
    """``role``, or under ``"auto"`` the probed role whose accuracy rises most over depth."""
    if lookup.method != "fact_lookup":
        raise UnlearnscopeError(f"FLU layers come from fact_lookup(), not {lookup.method!r}")
    if role == "auto":
        acc = lookup.baseline["accuracy"]  # [depth, role]
        return lookup.roles[int((acc.max(0).values - acc[0]).argmax())]
    return role


def flu_layers(lookup: FactLocalization, *, role: str = "auto", start: float = 0.1, stop: float = 0.9) -> list[int]:
    """The fact-lookup blocks (module doc) from a `fact_lookup` result."""
    role = flu_role(lookup, role)
    if role not in lookup.roles:
        raise UnlearnscopeError(f"role {role!r} was not probed; fact_lookup(roles=...) has {lookup.roles}")
    if not 0 <= start < stop <= 1:
        raise UnlearnscopeError(f"need 0 <= start < stop <= 1, got start={start}, stop={stop}")
    acc = lookup.baseline["accuracy"][:, lookup.roles.index(role)]  # [depth]
    rise = float(acc.max() - acc[0])
    if rise <= 0.05:
        raise UnlearnscopeError(
            f"the attribute never becomes decodable at {role!r} (probe accuracy rises by {rise:.3f}): "
            "no lookup stage to localize; check that the model knows these facts"
        )
    reached = lambda f: int(torch.nonzero(acc[1:] >= acc[0] + f * rise)[0, 0])  # the block whose output reaches it
    first, last = reached(start), reached(stop)
    return list(range(first, max(first, last) + 1))


def flu_components(subject: Subject, lookup: FactLocalization, **kw) -> ComponentSet:
    """Every MLP parameter of the FLU blocks (`flu_layers`)."""
    return ComponentSet.parse(subject, [f"blocks.{l}.mlp" for l in flu_layers(lookup, **kw)])


def _sub_blocks(subject, names: list[str]) -> list[tuple[str, int]]:
    return [(n, ComponentSet.parse(subject, [n]).n_params) for n in names]


def _fill(subject, named: list[tuple[str, int]], budget: int, what: str) -> ComponentSet:
    if budget < 1:
        raise UnlearnscopeError(f"a parameter budget must be positive, got {budget}")
    chosen, total = [], 0
    for name, n in named:
        if total >= budget:
            break
        chosen.append(name)
        total += n
    if total < budget:
        raise UnlearnscopeError(
            f"{what}: all {len(named)} candidate sub-blocks hold {total} parameters, below the budget {budget}"
        )
    return ComponentSet.parse(subject, chosen)


def budget_match(
    subject: Subject, localization: FactLocalization, budget: int, kinds: Sequence[str] = ("mlp", "attn")
) -> ComponentSet:
    """Sub-blocks by ``|effect|`` until their parameters reach ``budget`` (module doc)."""
    names = [COMPONENT_KINDS[k].format(l=l) for k, l, _, _ in localization.cell_scores(kinds)]
    return _fill(subject, _sub_blocks(subject, names), budget, f"{localization.method} at a budget")


def random_components(
    subject: Subject, budget: int, *, seed: int = 0, kinds: Sequence[str] = ("mlp", "attn")
) -> ComponentSet:
    """Uniformly drawn sub-blocks until their parameters reach ``budget`` (module doc)."""
    bad = [k for k in kinds if k not in COMPONENT_KINDS]
    if bad:
        raise UnlearnscopeError(f"unknown sub-block kinds {bad}; choose from {list(COMPONENT_KINDS)}")
    names = [COMPONENT_KINDS[k].format(l=l) for l in range(subject.anatomy.n_layers) for k in kinds]
    order = torch.randperm(len(names), generator=torch.Generator().manual_seed(seed)).tolist()
    return _fill(subject, _sub_blocks(subject, [names[i] for i in order]), budget, "random components")
