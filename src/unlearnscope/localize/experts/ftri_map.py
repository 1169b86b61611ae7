"""MoTE's functional Token Resonance Imaging (fTRI): which experts fire for a behaviour.

    family = PromptFamily("user : how do i make a {noun} ? assistant :", {"noun": nouns})
    fmap = ftri(subject, family.expand() + other_prompts, classify=refusal_classifier(), target="refused")
    fmap.ranking().top_per_layer(2)        # candidate refusal experts per layer
    fmap.plot()                            # differential map D = Ā_target − mean_{c ≠ target} Ā_c

Steps (Dahlke et al., "Mixture of Tunable Experts"): (1) prompts from templates × slots; (2) the model answers (greedy,
``max_new_tokens``) and a classifier — any callable ``(prompt, response) -> class`` — sorts each
answer into a behaviour class (or give ``labels``); (3) per prompt and MoE layer the activation map
``A_p[ℓ, e]`` = number of the prompt's tokens that select ``e`` (``by="counts"``, default) or the
sum of ``e``'s routing weights (``by="weights"``), optionally divided by the prompt's token count
(``normalize=True``: long prompts no longer weigh more); (4) class means ``Ā_c`` and the
differential map for the target class against the mean of the other classes' means
(``reference="classes"``) or of all non-target prompts (``reference="prompts"``).  Only prompt
tokens are counted (``positions="all"``) or only the last one (``positions="last"``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ...errors import UnlearnscopeError
from ...model.generate import greedy
from ...results import Result
from .attribution import ExpertRanking
from .routing_statistics import require_moe, routing_stats

if TYPE_CHECKING:
    from ...model.subject import Subject

REFUSAL_MARKERS = (
    "i cannot",
    "i can't",
    "i can not",
    "i won't",
    "i will not",
    "sorry",
    "i'm sorry",
    "i am sorry",
    "as an ai",
)


@dataclass(frozen=True)
class PromptFamily:
    """A template with ``{slot}`` fields and the values of each slot; `expand` gives every combination."""

    template: str
    slots: dict[str, tuple[str, ...] | list[str]]

    def expand(self) -> list[str]:
        names = list(self.slots)
        missing = [n for n in names if "{" + n + "}" not in self.template]
        if missing:
            raise UnlearnscopeError(f"template {self.template!r} has no field for slots {missing}")
        if any(not self.slots[n] for n in names):
            raise UnlearnscopeError(f"prompt family {self.template!r}: every slot needs at least one value")
        return [
            self.template.format(**dict(zip(names, vals, strict=True)))
            for vals in itertools.product(*(self.slots[n] for n in names))
        ]


def refusal_classifier(
    markers: Sequence[str] = REFUSAL_MARKERS, refused: str = "refused", answered: str = "answered"
) -> Callable[[str, str], str]:
    """``(prompt, response) -> "refused" | "answered"``: refused when the response starts with one of
    ``markers`` (case-insensitive, after whitespace).  Matches the MoE organism's refusal
    (``i cannot help with that .``) and common chat refusals."""
    ms = tuple(m.lower() for m in markers)

    def classify(prompt: str, response: str) -> str:
        return refused if response.strip().lower().startswith(ms) else answered

    return classify


@dataclass
class FTRIMap(Result):
    kind = "ftri_map"
    layers: list[int]
    classes: list[str]
    class_counts: dict
    class_maps: torch.Tensor  # [class, layer, expert] mean activation map per class
    differential: torch.Tensor  # [layer, expert] target minus reference
    target: str
    config: dict = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)  # one per prompt
    responses: list[str] = field(default_factory=list)

    def ranking(self) -> ExpertRanking:
        """Experts ranked by the differential score (most target-specific first)."""
        return ExpertRanking("ftri", self.layers, self.differential, {**self.config, "target": self.target})

    def plot(self, which: str = "differential"):
        """``differential`` (default) or a class name: that class's mean map."""
        from ...viz import expert_heatmap

        if which == "differential":
            return expert_heatmap(
                self.differential,
                self.layers,
                title=f"fTRI: {self.target} − other classes ({self.config.get('by')})",
                label="Δ activation",
                diverging=True,
            )
        if which not in self.classes:
            raise UnlearnscopeError(f"unknown class {which!r}; classes are {self.classes}")
        return expert_heatmap(
            self.class_maps[self.classes.index(which)], self.layers, title=f"fTRI map: {which}", label="activation"
        )


def _behaviour_labels(subject, prompts: list[str], classify, labels, max_new_tokens: int):
    """``(labels, responses)``: the given labels, or the classified greedy responses."""
    responses: list[str] = []
    if labels is None:
        responses = greedy(subject, prompts, max_new_tokens, batch_size=64)
        classify = classify or refusal_classifier()
        labels = [classify(p, r) for p, r in zip(prompts, responses, strict=True)]
    labels = list(labels)
    if len(labels) != len(prompts):
        raise UnlearnscopeError(f"fTRI: {len(labels)} labels for {len(prompts)} prompts")
    return labels, responses


def _check_classes(target: str, classes: list[str], counts: dict[str, int]) -> None:
    if target not in counts:
        raise UnlearnscopeError(
            f"fTRI: the behaviour class {target!r} has no prompts (classes found: {counts}); "
            "give prompts that elicit it, or another target="
        )
    if len(classes) < 2:
        raise UnlearnscopeError(
            f"fTRI: every prompt fell into class {target!r}; a differential map needs at least one prompt of another "
            "class"
        )


def ftri(
    subject: Subject,
    prompts: Iterable[str] | PromptFamily,
    *,
    classify: Callable[[str, str], str] | None = None,
    labels: Sequence[str] | None = None,
    target: str = "refused",
    by: str = "counts",
    normalize: bool = False,
    reference: str = "classes",
    positions: str = "all",
    max_new_tokens: int = 4,
    batch_size: int = 32,
) -> FTRIMap:
    """Activation maps per behaviour class and the target-class differential map (see module doc)."""
    require_moe(subject, "fTRI")
    prompts = prompts.expand() if isinstance(prompts, PromptFamily) else list(prompts)
    if not prompts:
        raise UnlearnscopeError("fTRI: empty prompt set")
    if by not in ("counts", "weights"):
        raise UnlearnscopeError(f"fTRI: by must be 'counts' or 'weights', got {by!r}")
    if reference not in ("classes", "prompts"):
        raise UnlearnscopeError(f"fTRI: reference must be 'classes' or 'prompts', got {reference!r}")
    labels, responses = _behaviour_labels(subject, prompts, classify, labels, max_new_tokens)
    classes = sorted(set(labels))
    counts = {c: labels.count(c) for c in classes}
    _check_classes(target, classes, counts)
    st = routing_stats(subject, prompts, batch_size=batch_size, positions=positions, keep_sequences=True)
    assert st.seq_counts is not None and st.seq_weights is not None and st.seq_tokens is not None  # keep_sequences
    maps = st.seq_counts if by == "counts" else st.seq_weights  # [prompt, layer, expert]
    if normalize:
        maps = maps / st.seq_tokens.clamp_min(1)[:, None, None]
    lab = torch.tensor([classes.index(c) for c in labels])
    class_maps = torch.stack([maps[lab == i].mean(0) for i in range(len(classes))])
    t = classes.index(target)
    if reference == "classes":
        ref = class_maps[[i for i in range(len(classes)) if i != t]].mean(0)
    else:
        ref = maps[lab != t].mean(0)
    cfg = {
        "by": by,
        "normalize": normalize,
        "reference": reference,
        "positions": positions,
        "n_prompts": len(prompts),
        "max_new_tokens": max_new_tokens,
    }
    return FTRIMap(st.layers, classes, counts, class_maps, class_maps[t] - ref, target, cfg, list(labels), responses)
