"""Build organisms deterministically and cache them (see `cache.py`).

    org = build("facts")                 # ORIG + REF, cached by recipe hash; seconds when cached
    subject = org.load("orig")           # an unlearnscope Subject
    org.ground_truth["world"]["splits"]["forget"]

Seeded: the world, initial weights and batch order come from ``seed``; training runs with the
recipe's fixed torch thread count (restored afterwards) so a machine reproduces its own builds.
A GPU is used when present (``device=``); results then differ in the last bits from CPU builds.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..data.specs import is_variant, split_variant
from ..errors import UnlearnscopeError
from ..model.edits import atomic_dir
from . import worlds  # noqa: F401  (registers the built-in world kinds)
from .cache import MANIFEST, building, check_entry, file_table, organisms_dir, read_manifest
from .models import make_model
from .recipes import Recipe, get_recipe
from .registry import ORGANISMS, VARIANTS, WORLDS, WorldKind
from .tokenizer import word_tokenizer
from .train import train_lm
from .truth import ground_truth


@dataclass
class Organism:
    """A built organism: ``path/orig`` and ``path/ref`` are HF model directories."""

    name: str
    size: str
    seed: int
    path: Path
    manifest: dict = field(repr=False)

    def variant_path(self, variant: str = "orig", *, progress: bool = False, log=lambda m: None) -> Path:
        """``orig`` / ``ref``, or ``origN`` / ``refN`` (N >= 1): that model's data and recipe with
        another weight seed (built on first use, see `extra_model`)."""
        if variant in VARIANTS:
            return self.path / variant
        if not is_variant(variant):
            raise UnlearnscopeError(f"organism variant must be orig, ref, origN or refN (N >= 1), got {variant!r}")
        base, k = split_variant(variant)
        return extra_model(self, base, k, progress=progress, log=log)

    def references(self, n: int) -> list[str]:
        """The variants of ``n`` never-knew models: ``["ref", "ref1", ...]``."""
        if n < 1:
            raise UnlearnscopeError(f"at least one never-knew reference is needed, got {n}")
        return ["ref"] + [f"ref{k}" for k in range(1, n)]

    @property
    def ground_truth(self) -> dict:
        return ground_truth(self)

    def load(self, variant: str = "orig", **kwargs):
        from ..model.loading import load

        return load(self.variant_path(variant), **kwargs)

    def describe(self) -> dict:
        """The manifest with absolute paths (what `organism show --json` prints)."""
        return {**self.manifest, "path": str(self.path), "paths": {v: str(self.variant_path(v)) for v in VARIANTS}}


def entry_path(recipe: Recipe, seed: int, root: Path | None = None) -> Path:
    return organisms_dir(root) / f"{recipe.name}-{recipe.size}-s{seed}-{recipe.key(seed)}"


def find(name: str, size: str = "default", seed: int = 0, root: Path | None = None) -> Organism | None:
    """The cached organism if it is complete and intact, else ``None``."""
    recipe = get_recipe(name, size)
    entry = entry_path(recipe, seed, root)
    if check_entry(entry) is not None:
        return None
    return Organism(name, size, seed, entry, read_manifest(entry))


def build(
    name: str,
    size: str = "default",
    seed: int = 0,
    *,
    root: Path | None = None,
    force: bool = False,
    progress: bool = True,
    device: str | None = None,
    log: Callable[[str], None] = print,
) -> Organism:
    """Build (or fetch from the cache) an organism: world, tokenizer, ORIG and REF models, quality."""
    recipe = get_recipe(name, size)
    if not isinstance(seed, int) or seed < 0:
        raise UnlearnscopeError(f"seed must be a non-negative integer, got {seed!r}")
    recipe.validate()
    entry = entry_path(recipe, seed, root)
    problem = check_entry(entry)
    if problem is None and not force:
        return Organism(name, size, seed, entry, read_manifest(entry))
    with building(entry):
        problem = check_entry(entry)  # another process may have built it while this one waited
        if problem is None and not force:
            return Organism(name, size, seed, entry, read_manifest(entry))
        if problem not in (None, "missing"):
            log(f"cache entry {entry.name} is unusable ({problem}); rebuilding")
        with atomic_dir(entry) as tmp:
            manifest = _build_into(
                tmp, recipe, seed, progress, device or ("cuda" if torch.cuda.is_available() else "cpu"), log
            )
    return Organism(name, size, seed, entry, manifest)


def extra_reference(org: Organism, k: int, *, progress: bool = False, device: str | None = None, log=print) -> Path:
    """The never-knew model ``ref{k}`` (see `extra_model`)."""
    return extra_model(org, "ref", k, progress=progress, device=device, log=log)


def extra_model(
    org: Organism, variant: str, k: int, *, progress: bool = False, device: str | None = None, log=print
) -> Path:
    """``{variant}{k}``: ORIG's (``orig``) or REF's (``ref``) world, data and recipe, with initial
    weights and batch order from seed ``org.seed + k`` — the seed-to-seed spread of a model that
    knows or never knew.  Cached beside the organism in ``<entry>-{variant}{k}/`` (written
    atomically, checked like an entry); returns its model directory."""
    if variant not in VARIANTS:
        raise UnlearnscopeError(f"extra models are of orig or ref, got {variant!r}")
    if k < 1:
        raise UnlearnscopeError(f"extra models are numbered from 1, got {k}")
    entry = org.path.with_name(f"{org.path.name}-{variant}{k}")
    if check_entry(entry) is None:
        return entry / variant
    recipe = get_recipe(org.name, org.size)
    with building(entry):
        if check_entry(entry) is None:  # built by another process while this one waited
            return entry / variant
        threads = torch.get_num_threads()
        torch.set_num_threads(recipe.threads)
        try:
            _train_extra(
                org,
                variant,
                k,
                recipe,
                entry,
                progress,
                device or ("cuda" if torch.cuda.is_available() else "cpu"),
                log,
            )
        finally:
            torch.set_num_threads(threads)
    return entry / variant


def _train_extra(
    org: Organism, variant: str, k: int, recipe: Recipe, entry: Path, progress: bool, device: str, log
) -> None:
    kind = _world(recipe)
    world = kind.generate(recipe.world_cfg, org.seed)
    tok = word_tokenizer(world.vocab())
    with atomic_dir(entry) as tmp:
        items = [i for i in world.items if (i.train if variant == "orig" else kind.ref_filter(i))]
        model = make_model(recipe.arch, recipe.model_cfg, tok, org.seed + k).to(device)
        log(
            f"training {recipe.name} ({recipe.size}) {variant.upper()}, weight seed {org.seed + k}: "
            f"{len(items)} texts, "
            f"{recipe.train_cfg.steps} steps on {device}"
        )
        info = _train(
            kind, model, tok, world, items, recipe, org.seed + k, progress=progress, desc=f"{recipe.name}:{variant}{k}"
        )
        if hasattr(model.config, "output_router_logits"):
            model.config.output_router_logits = False
        quality = {**kind.quality(model, tok, world), "final_loss": round(info["final_loss"], 4)}
        model.cpu().save_pretrained(tmp / variant)
        tok.save_pretrained(tmp / variant)
        manifest = {
            "of": org.path.name,
            "weight_seed": org.seed + k,
            "quality": quality,
            "train_seconds": round(info["seconds"], 1),
            "files": file_table(tmp),
            "complete": True,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))


def _world(recipe: Recipe) -> WorldKind:
    return WORLDS[recipe.world]


def _train(kind: WorldKind, model, tok, world, items, recipe, seed, *, progress, desc) -> dict:
    if kind.train is not None:
        return kind.train(model, tok, world, items, recipe, seed, progress=progress, desc=desc)
    return train_lm(model, tok, items, recipe.train_cfg, seed, progress=progress, desc=desc)


def _build_into(out: Path, recipe: Recipe, seed: int, progress: bool, device: str, log) -> dict:
    kind = _world(recipe)
    world = kind.generate(recipe.world_cfg, seed)
    tok = word_tokenizer(world.vocab())
    threads = torch.get_num_threads()
    torch.set_num_threads(recipe.threads)
    quality, timings, models = {}, {}, {}
    try:
        for variant in VARIANTS:
            items = [i for i in world.items if (i.train if variant == "orig" else kind.ref_filter(i))]
            model = make_model(recipe.arch, recipe.model_cfg, tok, seed).to(device)
            log(
                f"training {recipe.name} ({recipe.size}) {variant.upper()}: {len(items)} texts, "
                f"{recipe.train_cfg.steps} steps on {device}"
            )
            info = _train(
                kind, model, tok, world, items, recipe, seed, progress=progress, desc=f"{recipe.name}:{variant}"
            )
            timings[variant] = round(info["seconds"], 1)
            if hasattr(model.config, "output_router_logits"):
                model.config.output_router_logits = False
            quality[variant] = kind.quality(model, tok, world)
            quality[variant]["final_loss"] = round(info["final_loss"], 4)
            model.cpu().save_pretrained(out / variant)
            tok.save_pretrained(out / variant)
            models[variant] = model
        quality.update(kind.summary(world, quality, models=models, tok=tok, recipe=recipe, seed=seed, device="cpu"))
    finally:
        torch.set_num_threads(threads)
    ground_truth = {
        "organism": recipe.name,
        "size": recipe.size,
        "seed": seed,
        "world": world.name,
        **world.ground_truth,
        "items": [i.to_dict() for i in world.items],
    }
    (out / "ground_truth.json").write_text(json.dumps(ground_truth))
    manifest = _manifest(recipe, seed, device, quality, timings, out)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return manifest


def _manifest(recipe, seed: int, device: str, quality: dict, timings: dict, out: Path) -> dict:
    """What was built, how well it learned, with what versions, and every file's size and hash."""
    import transformers

    versions = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
    }
    return {
        "name": recipe.name,
        "size": recipe.size,
        "seed": seed,
        "key": recipe.key(seed),
        "recipe": recipe.to_dict(),
        "quality": quality,
        "train_seconds": timings,
        "device": device,
        "threads": recipe.threads,
        "versions": versions,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "paths": {v: v for v in VARIANTS},
        "files": file_table(out),
        "complete": True,
    }


def list_organisms(root: Path | None = None) -> list[dict]:
    """Every registered organism with its sizes and the cache entries found (with their state)."""
    rows = []
    base = organisms_dir(root)
    for spec in ORGANISMS:
        name = spec.name
        for size in spec.recipes:
            prefix = f"{name}-{size}-s"
            entries = sorted(p for p in base.glob(f"{prefix}*") if p.is_dir()) if base.is_dir() else []
            rows.append(
                {
                    "name": name,
                    "size": size,
                    "description": spec.description,
                    "cached": [
                        {"path": str(p), "state": check_entry(p) or "ok"}
                        for p in entries
                        if p.name[len(prefix) :].split("-")[0].isdigit()
                    ],
                }
            )
    return rows
