"""Shared test set-up: one torch thread, offline hub, tiny models built once per session."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ["UNLEARNSCOPE_VALIDATE_REPORTS"] = "1"  # every report a test writes (also in subprocesses) meets its schema

import warnings

import pytest
import torch

torch.set_num_threads(1)
warnings.filterwarnings("ignore", category=UserWarning)

from unlearnscope.model.tiny import TINY_CONFIGS, save_tiny, tiny_model  # noqa: E402

ALL_TYPES = list(TINY_CONFIGS)
DECODER_TYPES = [t for t in ALL_TYPES if t != "bert"]
MOE_TYPES = ["mixtral", "olmoe", "qwen2_moe", "qwen3_moe", "deepseek_v3"]
TEXTS = ["The capital of France is Paris.", "Bob plays tennis", "12 plus 7 equals 19."]


ORGANISM_FIXTURES = {"organism_home", "small_organism"}


def pytest_collection_modifyitems(config, items):
    """Tiers: a test that builds or loads an organism is marked ``organism`` (its fixtures say so),
    every test under ``tests/notebooks`` ``slow``; ``make test-fast`` runs the rest."""
    for item in items:
        if ORGANISM_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.organism)
        if "notebooks" in item.path.parts:
            item.add_marker(pytest.mark.slow)


# Every organism cache entry the suite uses (small size): (name, seed) -> its extra weight-seed models.
# With pytest-xdist, ``--prebuild-organisms`` builds them one at a time before the workers start:
# a build trains on 2 threads, and beside a second busy worker about twice as slowly.
SUITE_ORGANISMS: dict[tuple[str, int], tuple[str, ...]] = {
    ("facts", 0): ("ref1", "ref2", "orig1", "orig2"),
    ("moe", 0): ("ref1",),
    ("multidomain", 0): ("ref1",),
    ("concepts", 0): (),
    ("facts-llama", 0): (),
    ("moe", 1): (),
    ("moe", 2): (),
}


def pytest_addoption(parser):
    parser.addoption(
        "--prebuild-organisms",
        action="store_true",
        help="with -n N: build the suite's organisms (tests/conftest.py SUITE_ORGANISMS) on all cores, "
        "one at a time, before the workers start",
    )


def suite_home(basetemp):
    """The organism cache every process of this run shares (``basetemp`` is the controller's)."""
    from pathlib import Path

    keep = os.environ.get("UNLEARNSCOPE_TEST_HOME")
    root = Path(keep) if keep else Path(basetemp) / "unlearnscope_home"
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_entries(root) -> set[str]:
    """The names of the organism cache entries under ``root`` (not lock files or unfinished builds)."""
    folder = root / "organisms"
    return {p.name for p in folder.iterdir() if not p.name.startswith(".")} if folder.is_dir() else set()


PREBUILT = pytest.StashKey[tuple]()  # (the shared cache, the entries in it once prebuilt)


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist starts its workers (its hook runs last)
def pytest_sessionstart(session):
    config = session.config
    if not config.getoption("prebuild_organisms") or hasattr(config, "workerinput"):
        return
    if not config.getoption("numprocesses", None):
        return  # one process builds each organism on first use, with the cores to itself
    import time

    from unlearnscope.organisms import build

    root = suite_home(config._tmp_path_factory.getbasetemp())
    say = config.pluginmanager.get_plugin("terminalreporter").write_line
    start = time.perf_counter()
    for (name, seed), extras in SUITE_ORGANISMS.items():
        t = time.perf_counter()
        org = build(name, "small", seed, root=root, progress=False, log=lambda m: None)
        for variant in extras:
            org.variant_path(variant)
        say(f"organism {name} (small, seed {seed}{''.join(', ' + v for v in extras)}): {time.perf_counter() - t:.0f} s")
    say(f"organisms ready in {time.perf_counter() - start:.0f} s under {root}")
    config.stash[PREBUILT] = (root, cache_entries(root))


def pytest_sessionfinish(session):
    """Name the cache entries the workers had to build themselves (beside each other: slow), so
    that `SUITE_ORGANISMS` stays complete."""
    if PREBUILT not in session.config.stash:
        return
    root, before = session.config.stash[PREBUILT]
    late = sorted(cache_entries(root) - before)
    if late:
        say = session.config.pluginmanager.get_plugin("terminalreporter").write_line
        say(f"built during the run, not prebuilt (add them to SUITE_ORGANISMS in tests/conftest.py): {late}")


@pytest.fixture(scope="session")
def worker_id(request):
    """pytest-xdist's worker id ("gw0", ...), or "master" without it (the plugin's own fixture when installed)."""
    return getattr(request.config, "workerinput", {}).get("workerid", "master")


def make_subject(model_type: str, seed: int = 0):
    import unlearnscope as us

    model, tok = tiny_model(model_type, seed)
    return us.load(model, tok)


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory):
    """``model_type -> local HF directory`` (written once per session, on demand)."""
    root = tmp_path_factory.mktemp("tiny")
    cache = {}

    def get(model_type: str):
        if model_type not in cache:
            cache[model_type] = save_tiny(model_type, root / model_type)
        return cache[model_type]

    return get


def final_output(out):
    return out.logits if hasattr(out, "logits") else out.last_hidden_state


@pytest.fixture(scope="session")
def organism_home(tmp_path_factory, worker_id):
    """One organism cache for the whole run (small sizes; built on first use), shared by the
    pytest-xdist workers (each build holds a file lock, so one worker builds and the others wait).
    Developers can reuse a persistent cache across runs with ``UNLEARNSCOPE_TEST_HOME=/some/dir``
    (CI does not)."""
    base = tmp_path_factory.getbasetemp()
    root = suite_home(base.parent if worker_id != "master" else base)
    old = {k: os.environ.get(k) for k in ("UNLEARNSCOPE_HOME", "UNLEARNSCOPE_ORGANISM_SIZE")}
    os.environ["UNLEARNSCOPE_HOME"] = str(root)
    os.environ["UNLEARNSCOPE_ORGANISM_SIZE"] = "small"
    yield root
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session")
def small_organism(organism_home):
    """``name -> Organism`` (size small, seed 0), each built once per test run."""
    from unlearnscope.organisms import build

    built = {}

    def get(name: str):
        if name not in built:
            built[name] = build(name, "small", 0, root=organism_home, progress=False, log=lambda m: None)
        return built[name]

    return get
