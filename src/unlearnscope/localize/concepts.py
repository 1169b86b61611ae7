"""Concept vectors (ConceptVectors, methods.md §1): MLP value vectors whose vocabulary projection
is dominated by a concept's tokens.

    scan = scan_concept(subject, Lexicon.from_text(subject, "maro tesi paris doctor golf red"))
    scan.top[0]            # {"layer", "expert", "neuron", "score", "hits", "top_tokens"}
    val = validate_concept_vector(subject, scan.top[0], target=facts_x, unrelated=facts_y, mode="zero")

Score of value vector ``v`` (raw projection ``z = W_U v``, or the logit lens with ``lens=True``):
``score = mean_{t in lexicon} (z_t - mean(z)) / std(z)`` — how many standard deviations above the
vocabulary average the concept's tokens sit (0 = no preference; higher = more concept-like).
``hits`` = how many lexicon tokens are among the vector's top-``hits_k`` tokens.
The scan never forms the ``[n_vectors, d_vocab]`` logits: the mean and variance over the
vocabulary are linear / quadratic in ``v`` (`vocab_moments`), so every score is exact at a cost
of ``d_model²`` per vector; only the top vectors are projected (for ``hits`` and top tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..errors import UnlearnscopeError
from ..results import Result
from .lexicon import Lexicon
from .text_metrics import bleu, rouge_l
from .vocab import iter_value_vectors, project, token_strings


def as_lexicon(subject, concept) -> Lexicon:
    if isinstance(concept, Lexicon):
        return concept
    if isinstance(concept, str):
        return Lexicon.from_text(subject, concept)
    return Lexicon.from_tokens(subject, list(concept))


@dataclass
class ConceptScan(Result):
    """Ranked value vectors for one concept (see module doc for ``score``)."""

    kind = "concept_scan"
    concept: str
    lexicon: list[str]
    lens: bool
    n_vectors: int
    score_mean: float  # over all scanned vectors: the null the top scores stand out from
    score_std: float
    top: list[dict]
    layer_max: list[float]  # best score per layer (max over experts)

    def components(self, top_k: int = 1, subject=None):
        """The ``top_k`` vectors as a `ComponentSet` (needs the subject they were found in)."""
        from ..ablate.components import ComponentSet

        if subject is None:
            raise UnlearnscopeError("components() needs subject= (the model the scan ran on)")
        rows = self.top[:top_k]
        slices = [subject.anatomy.value_slice(r["layer"], r["neuron"], r["expert"]) for r in rows]
        return ComponentSet.from_slices(subject, slices, [vector_name(r) for r in rows])

    def plot(self):
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots

        fig = make_subplots(rows=1, cols=2, column_widths=[0.35, 0.65], specs=[[{"type": "xy"}, {"type": "table"}]],
                            subplot_titles=("best score per layer", f"top vectors for {self.concept!r}"))
        fig.add_trace(go.Bar(x=list(range(len(self.layer_max))), y=self.layer_max, name="max score"), 1, 1)
        rows = self.top[:15]
        fig.add_trace(go.Table(
            header=dict(values=["vector", "score", "hits", "top tokens"]),
            cells=dict(values=[[vector_name(r) for r in rows], [f"{r['score']:.2f}" for r in rows], [r["hits"] for r in rows],
                               [" ".join(r["top_tokens"][:10]) for r in rows]])), 1, 2)
        fig.update_xaxes(title_text="layer", row=1, col=1)
        fig.update_layout(title=f"concept scan ({'logit lens' if self.lens else 'raw W_U v'}; null mean {self.score_mean:.2f} ± {self.score_std:.2f})")
        return fig


def vector_name(row: dict) -> str:
    e = row["expert"]
    if e is None:
        return f"blocks.{row['layer']}.mlp.value:{row['neuron']}"
    if e == "shared":
        return f"blocks.{row['layer']}.moe.shared.value:{row['neuron']}"
    return f"blocks.{row['layer']}.moe.expert:{e}.value:{row['neuron']}"


@dataclass(frozen=True)
class VectorScores:
    """Concept score of every value vector: ``scores[offsets[g] + neuron]`` belongs to
    ``groups[g] = (layer, expert)`` (see `vocab.value_groups`); tensors stay on the model's device."""

    groups: list[tuple[int, int | str | None]]
    offsets: list[int]  # start of each group in ``scores``; ``offsets[-1] == len(scores)``
    scores: torch.Tensor  # [n_vectors] float32

    def locate(self, index: int) -> tuple[int, int | str | None, int]:
        """Flat index → ``(layer, expert, neuron)``."""
        import bisect

        g = bisect.bisect_right(self.offsets, index) - 1
        layer, expert = self.groups[g]
        return layer, expert, index - self.offsets[g]


@torch.no_grad()
def vocab_moments(subject, max_chunk_bytes: int = 64 << 20) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean, cov)`` of the unembedding rows in float32: ``mean = W_U.mean(0)`` ``[d_model]`` and
    ``cov = (W_U - mean)ᵀ (W_U - mean) / (d_vocab - 1)`` ``[d_model, d_model]``.  With them a
    vector's logits ``z = W_U v`` have ``mean(z) = mean · v`` and ``var(z) = vᵀ cov v`` (the
    unbiased variance over the vocabulary, as ``torch.std``) without forming ``z``.  Streams
    ``W_U`` in row chunks of at most ``max_chunk_bytes`` (float32)."""
    W_U = subject.anatomy.unembed
    if W_U is None:
        raise UnlearnscopeError("this model has no unembedding (LM head): the concept scan needs a causal-LM head")
    V, d = W_U.shape
    mean = W_U.mean(0, dtype=torch.float32)
    cov = torch.zeros(d, d, device=W_U.device, dtype=torch.float32)
    rows = max(1, max_chunk_bytes // (4 * d))
    for s in range(0, V, rows):
        c = W_U[s : s + rows].float() - mean
        cov.addmm_(c.T, c)
    return mean, cov / max(1, V - 1)


@torch.no_grad()
def concept_scores(subject, concept, *, layers=None, lens: bool = False, max_chunk_bytes: int = 64 << 20) -> VectorScores:
    """The concept score (module doc) of every value vector, exactly, without projecting any
    vector onto the vocabulary: ``score(v) = (mean(W_U[lex]) - mean(W_U)) · v / sqrt(vᵀ cov v)``
    (`vocab_moments`), so the cost is ``n_vectors × d_model²`` instead of ``n_vectors × d_model ×
    d_vocab`` and nothing leaves the device until the end.  With ``lens`` each vector is passed
    through the final norm first.  Value vectors are read in row chunks of at most
    ``max_chunk_bytes`` (float32 copies)."""
    a = subject.anatomy
    lex = as_lexicon(subject, concept)
    mean, cov = vocab_moments(subject, max_chunk_bytes)
    lex_ids = torch.tensor(lex.token_ids, device=a.unembed.device)
    direction = a.unembed[lex_ids].float().mean(0) - mean  # mean over lexicon of (W_U[t] - mean)
    if lens and a.final_norm is None:
        raise UnlearnscopeError("logit lens needs a final norm; this model has none (use lens=False)")
    rows = max(1, max_chunk_bytes // (8 * a.d_model))
    groups, offsets, parts, n = [], [], [], 0
    for ch in iter_value_vectors(subject, layers, rows):
        if ch.start == 0:  # a new (layer, expert) group starts here
            groups.append((ch.layer, ch.expert))
            offsets.append(n)
        v = ch.vectors.to(device=mean.device)
        v = (a.final_norm(v.to(a.unembed.dtype)) if lens else v).float()
        sd = ((v @ cov) * v).sum(-1).clamp_min(1e-24).sqrt()
        parts.append((v @ direction) / sd)
        n += len(v)
    if not parts:
        raise UnlearnscopeError("no value vectors to scan (no MLP layers selected)")
    return VectorScores(groups, offsets + [n], torch.cat(parts))


@torch.no_grad()
def scan_concept(subject, concept, *, layers=None, top: int = 20, hits_k: int = 50, lens: bool = False,
                 max_chunk_bytes: int = 64 << 20, n_top_tokens: int = 20) -> ConceptScan:
    """Score every value vector against ``concept`` (a `Lexicon`, text, or a list of words/ids)
    with `concept_scores`; only the ``top`` vectors are projected onto the vocabulary (for
    ``hits`` and their top tokens)."""
    a = subject.anatomy
    lex = as_lexicon(subject, concept)
    vs = concept_scores(subject, lex, layers=layers, lens=lens, max_chunk_bytes=max_chunk_bytes)
    scores = vs.scores
    group_layer = torch.tensor([g[0] for g in vs.groups], device=scores.device)
    sizes = torch.tensor([b - s for s, b in zip(vs.offsets[:-1], vs.offsets[1:], strict=True)], device=scores.device)
    layer_of = group_layer.repeat_interleave(sizes)
    layer_max = torch.full((a.n_layers,), float("-inf"), device=scores.device).scatter_reduce_(0, layer_of, scores, "amax")
    best = scores.topk(min(top, len(scores)))
    located = [vs.locate(i) for i in best.indices.tolist()]
    vectors = torch.stack([a.values(layer, expert)[neuron] for layer, expert, neuron in located])
    z = project(subject, vectors, lens).float()  # [top, d_vocab]: the only vocabulary projections
    lex_ids = torch.tensor(lex.token_ids, device=z.device)
    hits = torch.isin(z.topk(min(hits_k, z.shape[-1]), -1).indices, lex_ids).sum(-1).tolist()
    top_ids = z.topk(min(n_top_tokens, z.shape[-1]), -1).indices
    rows = [{"layer": layer, "expert": expert, "neuron": neuron, "score": score, "hits": h, "top_tokens": token_strings(subject, ids)}
            for (layer, expert, neuron), score, h, ids in zip(located, best.values.tolist(), hits, top_ids, strict=True)]
    std, mean = torch.std_mean(scores.double(), correction=0)
    return ConceptScan(lex.name, lex.tokens, lens, len(scores), float(mean), float(std), rows,
                       [x if x != float("-inf") else 0.0 for x in layer_max.tolist()])


# ---------------------------------------------------------------------------- causal validation
@dataclass
class ConceptValidation(Result):
    """Effect of perturbing one value vector on target vs unrelated facts.

    ``*_drop`` are before − after (positive = the perturbation hurt): ``logp`` in nats of the
    answer token, ``acc`` top-1 accuracy in [0, 1].  ``bleu`` / ``rouge_l`` compare greedy
    generations after vs before (1 = unchanged).  ``specific`` is the test ConceptVectors uses
    for a good concept vector: target accuracy drops and unrelated stays within ``tolerance``."""

    kind = "concept_validation"
    vector: str
    mode: str
    sigma: float | None
    n_target: int
    n_unrelated: int
    target_acc_before: float
    target_acc_after: float
    unrelated_acc_before: float
    unrelated_acc_after: float
    target_logp_drop: float
    unrelated_logp_drop: float
    target_bleu: float
    target_rouge_l: float
    unrelated_bleu: float
    unrelated_rouge_l: float
    tolerance: float = 0.05
    examples: list[dict] = field(default_factory=list)

    @property
    def target_acc_drop(self) -> float:
        return self.target_acc_before - self.target_acc_after

    @property
    def unrelated_acc_drop(self) -> float:
        return self.unrelated_acc_before - self.unrelated_acc_after

    @property
    def specific(self) -> bool:
        return self.target_acc_drop > self.tolerance and abs(self.unrelated_acc_drop) <= self.tolerance

    def to_dict(self) -> dict:
        return {**super().to_dict(), "target_acc_drop": self.target_acc_drop, "unrelated_acc_drop": self.unrelated_acc_drop,
                "specific": self.specific}

    def plot(self):
        import plotly.graph_objects as go

        cats = ["accuracy drop", "log-prob drop (nats)", "1 − BLEU", "1 − ROUGE-L"]
        t = [self.target_acc_drop, self.target_logp_drop, 1 - self.target_bleu, 1 - self.target_rouge_l]
        u = [self.unrelated_acc_drop, self.unrelated_logp_drop, 1 - self.unrelated_bleu, 1 - self.unrelated_rouge_l]
        fig = go.Figure([go.Bar(name=f"target (n={self.n_target})", x=cats, y=t), go.Bar(name=f"unrelated (n={self.n_unrelated})", x=cats, y=u)])
        fig.update_layout(barmode="group", title=f"{self.mode} ablation of {self.vector}")
        return fig


@torch.no_grad()
def generate(subject, prompts: list[str], max_new_tokens: int = 8) -> list[str]:
    """Greedy continuations (left padded; only the new tokens are decoded)."""
    enc = subject.tokenize(prompts, padding_side="left")
    tok = subject.tokenizer
    out = subject.model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
    return tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)


def validate_concept_vector(subject, vector, *, target, unrelated, mode: str = "zero", sigma: float = 0.1, seed: int = 0,
                            max_new_tokens: int = 8, tolerance: float = 0.05) -> ConceptValidation:
    """Ablate one value vector (``zero`` or ``noise`` of absolute std ``sigma``), measure, undo.

    ``vector`` is a scan row (dict with layer/neuron/expert) or a name like
    ``"blocks.2.mlp.value:17"``; ``target`` / ``unrelated`` are facts (see `facts.as_facts`)."""
    from ..ablate.components import ComponentSet
    from ..ablate.static import ablate
    from .facts import encode_facts, recall

    name = vector_name(vector) if isinstance(vector, dict) else str(vector)
    comps = (ComponentSet.from_slices(subject, [subject.anatomy.value_slice(vector["layer"], vector["neuron"], vector["expert"])], [name])
             if isinstance(vector, dict) else ComponentSet.parse(subject, name))
    tgt, unr = encode_facts(subject, target), encode_facts(subject, unrelated)
    prompts_t, prompts_u = [f.prompt for f in tgt.facts], [f.prompt for f in unr.facts]
    before = recall(subject, tgt), recall(subject, unr)
    gen_before = generate(subject, prompts_t, max_new_tokens), generate(subject, prompts_u, max_new_tokens)
    with ablate(subject, comps, mode, sigma=sigma if mode == "noise" else None, seed=seed):
        after = recall(subject, tgt), recall(subject, unr)
        gen_after = generate(subject, prompts_t, max_new_tokens), generate(subject, prompts_u, max_new_tokens)

    def sim(fn, i):
        return sum(fn(a, b) for a, b in zip(gen_after[i], gen_before[i], strict=True)) / len(gen_before[i])

    examples = [{"prompt": p, "before": b, "after": a} for p, b, a in list(zip(prompts_t, gen_before[0], gen_after[0], strict=True))[:5]]
    return ConceptValidation(
        name, mode, sigma if mode == "noise" else None, len(tgt), len(unr),
        float(before[0]["correct"].mean()), float(after[0]["correct"].mean()),
        float(before[1]["correct"].mean()), float(after[1]["correct"].mean()),
        float((before[0]["logp"] - after[0]["logp"]).mean()), float((before[1]["logp"] - after[1]["logp"]).mean()),
        sim(bleu, 0), sim(rouge_l, 0), sim(bleu, 1), sim(rouge_l, 1), tolerance, examples)
