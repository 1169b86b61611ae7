"""Sparse-autoencoder features with sae-lens: train on a model's activations, load, rank, ablate.

    sae = train_sae(subject, texts, "blocks.2.hook_resid_post", d_sae=512, training_tokens=200_000, out="saes/l2")
    sae = load_sae("saes/l2")
    ranking = rank_latents(subject, sae, target_prompts, control_prompts)
    probe_model(subject, forget, retain, features=sae_probe_features(sae))   # probes on its latents
    with ablate_latents(subject, sae, ranking.top(5)):
        ...                         # the latents' decoder directions are removed where they fire

Training runs sae-lens' own `LanguageModelSAETrainingRunner` on the *native* model (wrapped in
sae-lens' `HookedProxyLM`, hooked at the canonical point's module) over a locally built token
dataset: the texts are tokenized, concatenated and cut into ``context_size`` blocks.  Only points
that are a module's output can host an SAE (``hook_resid_post``, ``hook_mlp_out``,
``hook_attn_out``).  The hook point is stored in the SAE's metadata (``hook_name`` = module path,
``unlearnscope_hook`` = canonical name).

Latent score for a concept: ``mean f_j(target) − mean f_j(control)`` at the chosen positions
(``last`` token by default, or every non-pad token), in the SAE's activation units.  Ablating a
set ``J`` replaces ``x`` by ``x − Σ_{j∈J} f_j(x) W_dec[j]`` (the reconstruction error is kept).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ...errors import HookNameError, UnlearnscopeError
from ...model.hook_points import OutputTensor
from ...probes.features import FactFeatures
from ...results import Result

if TYPE_CHECKING:
    from ...data.records import FactsLike
    from ...model.subject import Subject


def _module_point(subject, hook: str):
    point = subject.hook_table.get(hook)
    if point is None:
        raise HookNameError(f"unknown hook point {hook!r}; see `unlearnscope inspect` for the names")
    if point.phase != "out" or not isinstance(point.codec, OutputTensor):
        raise UnlearnscopeError(
            f"an SAE needs a module-output point (hook_resid_post, hook_mlp_out, hook_attn_out); {hook!r} is not one"
        )
    return point


def token_blocks(subject, texts: list[str], context_size: int) -> list[list[int]]:
    tok = subject.tokenizer
    stream: list[int] = []
    for t in texts:
        stream += tok(t, add_special_tokens=False)["input_ids"]
    n = len(stream) // context_size
    if n == 0:
        raise UnlearnscopeError(f"the texts give {len(stream)} tokens, fewer than one context of {context_size}")
    return [stream[i * context_size : (i + 1) * context_size] for i in range(n)]


def train_sae(
    subject: Subject,
    texts: list[str],
    hook: str,
    *,
    d_sae: int | None = None,
    k: int | None = None,
    l1_coefficient: float = 1.0,
    training_tokens: int = 100_000,
    context_size: int = 16,
    lr: float = 1e-3,
    batch_tokens: int = 512,
    seed: int = 0,
    out: str | os.PathLike | None = None,
) -> Any:
    """Train a Standard (L1) or, with ``k``, a TopK SAE on ``hook``'s activations; returns the
    sae-lens SAE (saved to ``out`` when given).

    (long because sae-lens's runner config is written out field by field)"""
    import datasets
    from sae_lens import (
        LanguageModelSAERunnerConfig,
        LanguageModelSAETrainingRunner,
        LoggingConfig,
        StandardTrainingSAEConfig,
        TopKTrainingSAEConfig,
    )
    from sae_lens.load_model import HookedProxyLM

    if not texts:
        raise UnlearnscopeError("empty text set: an SAE needs training texts")
    point = _module_point(subject, hook)
    d_in = subject.anatomy.d_model
    d_sae = d_sae or 4 * d_in
    blocks = token_blocks(subject, list(texts), context_size)
    ds = datasets.Dataset.from_dict({"input_ids": blocks})
    sae_cfg = (
        TopKTrainingSAEConfig(d_in=d_in, d_sae=d_sae, k=k)
        if k
        else StandardTrainingSAEConfig(d_in=d_in, d_sae=d_sae, l1_coefficient=l1_coefficient)
    )
    n_buf = max(4, -(-batch_tokens // context_size) + 1)
    out_dir = str(out) if out is not None else None
    cfg = LanguageModelSAERunnerConfig(
        sae=sae_cfg,
        model_name="unlearnscope-subject",
        hook_name=point.module_path,
        dataset_path="",
        is_dataset_tokenized=True,
        streaming=False,
        context_size=context_size,
        prepend_bos=False,
        training_tokens=training_tokens,
        train_batch_size_tokens=batch_tokens,
        store_batch_size_prompts=16,
        n_batches_in_buffer=n_buf,
        n_batches_for_norm_estimate=2,
        n_eval_batches=1,
        device=str(subject.device),
        lr=lr,
        seed=seed,
        logger=LoggingConfig(log_to_wandb=False),
        checkpoint_path=None,
        output_path=out_dir,
        verbose=False,
    )
    proxy = HookedProxyLM(subject.model, subject.tokenizer, hook_names=[point.module_path])
    torch.manual_seed(seed)
    os.environ.setdefault("WANDB_MODE", "disabled")
    sae = LanguageModelSAETrainingRunner(cfg, override_dataset=ds, override_model=proxy).run()
    sae.cfg.metadata.hook_name = point.module_path
    try:
        sae.cfg.metadata.unlearnscope_hook = hook
    except (AttributeError, TypeError):
        pass
    if out_dir is not None:
        sae.save_model(out_dir)
        with open(os.path.join(out_dir, "unlearnscope_hook.txt"), "w") as f:
            f.write(hook)
    sae.unlearnscope_hook = hook
    return sae


def load_sae(path: str | os.PathLike, hook: str | None = None, device: str = "cpu") -> Any:
    """An SAE saved by sae-lens (`save_model`) from disk; ``hook`` names its canonical point when
    the directory does not say (``unlearnscope_hook.txt``)."""
    from sae_lens import SAE

    path = str(path)
    if not os.path.isdir(path):
        raise UnlearnscopeError(f"no SAE directory at {path}")
    try:
        sae = SAE.load_from_disk(path, device=device)
    except Exception as e:  # corrupt / foreign files
        raise UnlearnscopeError(f"cannot load an SAE from {path}: {e}") from e
    marker = os.path.join(path, "unlearnscope_hook.txt")
    sae.unlearnscope_hook = hook or (open(marker).read().strip() if os.path.exists(marker) else None)
    if sae.unlearnscope_hook is None:
        raise UnlearnscopeError(
            f"{path} does not say which hook point the SAE reads: pass hook= (e.g. 'blocks.2.hook_resid_post')"
        )
    return sae


def sae_hook(sae: Any) -> str:
    """The canonical hook point an SAE reads (set by `train_sae` / `load_sae`)."""
    hook = getattr(sae, "unlearnscope_hook", None)
    if hook is None:
        raise UnlearnscopeError("this SAE has no unlearnscope hook point: load it with load_sae(path, hook=...)")
    return hook


@torch.no_grad()
def sae_features(subject: Subject, sae: Any, prompts: list[str], positions: str = "last") -> torch.Tensor:
    """SAE latent activations ``[n, d_sae]`` at each prompt's last token (``positions="last"``) or
    ``[n_tokens, d_sae]`` over every non-pad token (``"all"``)."""
    hook = sae_hook(sae)
    enc = subject.tokenize(prompts)
    with subject.capture(hook) as c:
        subject.model(**enc)
    x = c[hook]
    mask = enc["attention_mask"].bool()
    if positions == "last":
        x = x[torch.arange(x.shape[0]), mask.sum(1) - 1]
    elif positions == "all":
        x = x[mask]
    else:
        raise UnlearnscopeError(f"positions must be 'last' or 'all', got {positions!r}")
    return sae.encode(x.to(sae.W_dec.device, sae.W_dec.dtype))


def sae_probe_features(sae: Any, batch_size: int = 128) -> Callable[[Subject, FactsLike], FactFeatures]:
    """``(subject, facts) -> FactFeatures`` of the SAE's latents at each prompt's last token, for
    `unlearnscope.probes.probe_model(features=...)`; the single feature group is
    ``(-1, "sae:<hook>")``."""

    def features(subject, facts) -> FactFeatures:
        z = torch.cat(
            [
                sae_features(subject, sae, [f.prompt for f in facts[i : i + batch_size]])
                for i in range(0, len(facts), batch_size)
            ]
        )
        return FactFeatures(z.float()[None].to(subject.device), [(-1, f"sae:{sae_hook(sae)}")], facts)

    return features


@dataclass
class LatentRanking(Result):
    kind = "sae_latent_ranking"
    hook: str
    positions: str
    scores: torch.Tensor  # [d_sae] mean target − mean control activation
    target_mean: torch.Tensor
    control_mean: torch.Tensor
    n_target: int
    n_control: int

    def top(self, n: int = 10) -> list[int]:
        return self.scores.topk(min(n, len(self.scores))).indices.tolist()

    def plot(self):
        from ...viz.localize import latent_ranking_figure

        return latent_ranking_figure(self)


def rank_latents(
    subject: Subject, sae: Any, target: list[str], control: list[str], positions: str = "last"
) -> LatentRanking:
    if not target or not control:
        raise UnlearnscopeError("rank_latents needs non-empty target and control prompt sets")
    ft, fc = sae_features(subject, sae, target, positions), sae_features(subject, sae, control, positions)
    tm, cm = ft.float().mean(0).cpu(), fc.float().mean(0).cpu()
    return LatentRanking(sae_hook(sae), positions, tm - cm, tm, cm, len(target), len(control))


@contextmanager
def ablate_latents(subject: Subject, sae: Any, latents: list[int]) -> Iterator[None]:
    """Remove the given latents' decoded contribution at the SAE's hook point for the block."""
    if not latents:
        raise UnlearnscopeError("no latents to ablate")
    d_sae = sae.W_dec.shape[0]
    bad = [j for j in latents if not 0 <= j < d_sae]
    if bad:
        raise UnlearnscopeError(f"latents {bad} out of range (the SAE has {d_sae})")
    idx = torch.tensor(latents, device=sae.W_dec.device)

    def fn(x, point):
        f = sae.encode(x.to(sae.W_dec.device, sae.W_dec.dtype))[..., idx]
        return x - (f @ sae.W_dec[idx]).to(x.device, x.dtype)

    with subject.hooks([(sae_hook(sae), fn)]):
        yield
