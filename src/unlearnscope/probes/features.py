"""Residual-stream features of fact prompts, per depth and position role.

Depth ``d`` is the input of block ``d`` (``blocks.d.hook_resid_pre``, HF ``hidden_states[d]``);
``d = n_layers`` is the last block's output.  Roles are those of `data.roles` (``last`` = the
token that predicts the answer, ``subj_last`` = the subject's last token, ...).  One forward per
batch captures every requested depth at once; features come back as ``[group, n, d_model]`` with
``groups = [(depth, role), ...]`` in depth-major order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data import Fact, encode_facts, role_masks
from ..data.roles import last_token_mask
from ..errors import OutOfRangeError, UnlearnscopeError


@dataclass
class FactFeatures:
    X: torch.Tensor  # [group, n, d_model] float32
    groups: list[tuple[int, str]]  # (depth, role) per group
    facts: list[Fact]

    @property
    def entities(self) -> list[str]:
        return [f.subject for f in self.facts]

    def __len__(self) -> int:
        return len(self.facts)


def resolve_depths(subject, layers) -> list[int]:
    """``None`` → every depth ``0..n_layers``; negative depths count from the end."""
    L = subject.anatomy.n_layers
    if layers is None:
        return list(range(L + 1))
    out = []
    for d in [layers] if isinstance(layers, int) else list(layers):
        dd = d + L + 1 if d < 0 else d
        if not 0 <= dd <= L:
            raise OutOfRangeError(
                f"probe depth {d} does not exist: this model has depths 0..{L} (d = input of block d; {L} = final "
                "output)"
            )
        out.append(dd)
    if not out:
        raise UnlearnscopeError("no probe depths given")
    return sorted(set(out))


@torch.no_grad()
def fact_features(subject, facts, *, layers=None, roles=("last",), batch_size: int = 128, device=None) -> FactFeatures:
    """Capture ``[group, n, d_model]`` features of ``facts`` (see module doc)."""
    depths = resolve_depths(subject, layers)
    need_subject = any(r != "last" for r in roles)
    enc = encode_facts(subject, facts, need_subject=need_subject)
    if need_subject:
        names, masks = role_masks(enc.subject_mask, enc.last, enc.attention_mask)
    else:
        names, masks = ["last"], last_token_mask(enc)
    missing = [r for r in roles if r not in names]
    if missing:
        raise UnlearnscopeError(f"position roles {missing} occur in no prompt (present: {names})")
    L = subject.anatomy.n_layers
    points = [f"blocks.{d}.hook_resid_pre" if d < L else f"blocks.{L - 1}.hook_resid_post" for d in depths]
    out = []
    for s in range(0, len(enc), batch_size):
        sl = slice(s, s + batch_size)
        with subject.capture(points) as c:
            subject.model(input_ids=enc.input_ids[sl], attention_mask=enc.attention_mask[sl])
        per_role = []
        for r in roles:
            m = masks[names.index(r), sl]
            pos = (m.long() * torch.arange(m.shape[1], device=m.device)).argmax(1)  # last position with the role
            idx = torch.arange(m.shape[0], device=m.device)
            per_role.append(torch.stack([c[p][idx, pos].float() for p in points]))  # [depth, b, d]
        out.append(torch.stack(per_role, 1).to(device or subject.device))  # [depth, role, b, d]
    X = torch.cat(out, 2)
    D, R, n, d = X.shape
    return FactFeatures(X.reshape(D * R, n, d), [(dp, r) for dp in depths for r in roles], enc.facts)
