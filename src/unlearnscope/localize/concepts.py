"""Concept vectors (ConceptVectors, methods.md §1): MLP value vectors whose vocabulary projection
is dominated by a concept's tokens.

    scan = scan_concept(subject, Lexicon.from_text(subject, "maro tesi paris doctor golf red"))
    scan.top[0]            # {"layer", "expert", "neuron", "score", "hits", "top_tokens"}
    val = validate_concept_vector(subject, scan.top[0], target=facts_x, unrelated=facts_y, mode="zero")

Score of value vector ``v`` (raw projection ``z = W_U v``, or the logit lens with ``lens=True``):
``score = mean_{t in lexicon} (z_t - mean(z)) / std(z)`` — how many standard deviations above the
vocabulary average the concept's tokens sit (0 = no preference; higher = more concept-like).
``hits`` = how many lexicon tokens are among the vector's top-``hits_k`` tokens.
The scan streams chunks (`vocab.iter_value_vectors`): peak memory is the weights plus one
``[chunk, d_vocab]`` block.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..errors import UnlearnscopeError
from ..results import Result
from .lexicon import Lexicon
from .text_metrics import bleu, rouge_l
from .vocab import chunk_rows, iter_value_vectors, project, token_strings


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


@torch.no_grad()
def scan_concept(subject, concept, *, layers=None, top: int = 20, hits_k: int = 50, lens: bool = False,
                 max_chunk_bytes: int = 64 << 20, n_top_tokens: int = 20) -> ConceptScan:
    """Score every value vector against ``concept`` (a `Lexicon`, text, or a list of words/ids)."""
    lex = as_lexicon(subject, concept)
    lex_ids = torch.tensor(lex.token_ids, device=subject.anatomy.unembed.device)
    groups: list[tuple[int, int | str | None]] = []
    best_scores = torch.empty(0)
    best_meta = torch.empty(0, 3, dtype=torch.long)  # group index, neuron, hits
    total, s1, s2 = 0, 0.0, 0.0
    layer_max = [float("-inf")] * subject.anatomy.n_layers
    for ch in iter_value_vectors(subject, layers, chunk_rows(subject, max_chunk_bytes)):
        key = (ch.layer, ch.expert)
        if not groups or groups[-1] != key:
            groups.append(key)
        z = project(subject, ch.vectors).float()  # [c, V]
        mu, sd = z.mean(-1, keepdim=True), z.std(-1, keepdim=True).clamp_min(1e-12)
        score = ((z[:, lex_ids] - mu) / sd).mean(-1)
        hits = torch.isin(z.topk(min(hits_k, z.shape[-1]), -1).indices, lex_ids).sum(-1)
        total += score.numel()
        s1 += float(score.sum())
        s2 += float((score.double() ** 2).sum())
        layer_max[ch.layer] = max(layer_max[ch.layer], float(score.max()))
        meta = torch.stack([torch.full_like(hits, len(groups) - 1), torch.arange(ch.start, ch.start + len(score), device=hits.device), hits], 1).cpu()
        best_scores = torch.cat([best_scores, score.cpu()])
        best_meta = torch.cat([best_meta, meta])
        if len(best_scores) > top:
            keep = best_scores.topk(top).indices
            best_scores, best_meta = best_scores[keep], best_meta[keep]
    if total == 0:
        raise UnlearnscopeError("no value vectors to scan (no MLP layers selected)")
    order = best_scores.argsort(descending=True)
    rows = []
    for i in order.tolist():
        g, neuron, hits = best_meta[i].tolist()
        layer, expert = groups[g]
        v = subject.anatomy.values(layer, expert)[neuron]
        ids = project(subject, v, lens).topk(n_top_tokens).indices
        rows.append({"layer": layer, "expert": expert, "neuron": neuron, "score": float(best_scores[i]), "hits": hits,
                     "top_tokens": token_strings(subject, ids)})
    mean = s1 / total
    std = max(0.0, s2 / total - mean**2) ** 0.5
    return ConceptScan(lex.name, lex.tokens, lens, total, mean, std, rows,
                       [x if x != float("-inf") else 0.0 for x in layer_max])


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
