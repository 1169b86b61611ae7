"""The README and the guides in docs/ stay true to the code: every ``from unlearnscope... import``
in their Python blocks resolves, every ``unlearnscope`` command they show exists, and no document
points readers to material they cannot open."""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.S)
FROM_IMPORT = re.compile(r"^\s*from (unlearnscope[\w.]*) import (?:\(([^)]*)\)|([^\n#]+))", re.M)


def blocks(path: Path, langs: tuple[str, ...]):
    return [body for lang, body in FENCE.findall(path.read_text()) if lang in langs]


def test_there_are_docs():
    assert (ROOT / "docs" / "README.md").is_file() and len(DOCS) >= 8


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_python_imports_in_docs_resolve(path):
    missing = []
    for body in blocks(path, ("python", "py")):
        for mod, grouped, line in FROM_IMPORT.findall(body):
            names = grouped or line
            m = importlib.import_module(mod)
            for name in (n.strip().split(" as ")[0] for n in names.replace("\n", " ").split(",")):
                if name and not hasattr(m, name):
                    try:
                        importlib.import_module(f"{mod}.{name}")
                    except ImportError:
                        missing.append(f"{mod}.{name}")
    assert not missing, f"{path.name}: imports that do not resolve: {missing}"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_cli_commands_in_docs_exist(path):
    from typer.main import get_command

    from unlearnscope.cli import app

    root = get_command(app)
    bad = []
    for body in blocks(path, ("bash", "sh", "console", "")):
        for line in body.splitlines():
            words = line.split("#")[0].removeprefix("$ ").split()
            if not words or words[0] != "unlearnscope" or "--help" in words:
                continue
            words = [w for w in words[1:] if not w.startswith("-")]
            cmd = root
            for w in words:  # walk the command groups as far as the line names them
                sub = cmd.load(w) if w in getattr(cmd, "lazy", {}) else getattr(cmd, "commands", {}).get(w)
                if sub is None:
                    break
                cmd = sub
            if cmd is root or getattr(cmd, "commands", None) and not getattr(cmd, "invoke_without_command", False):
                bad.append(line.strip())
    assert not bad, f"{path.name}: commands that do not exist: {bad}"


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_docs_point_only_to_what_readers_have(path):
    text = path.read_text()
    assert not re.search(
        r"\bissue[- ]?\d+|\bnote\b.*\bissue|evaluation\.md|methods\.md|peers\.md|anchors\.md|stack\.md", text, re.I
    ), path.name
    for link in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):  # relative links
        assert (path.parent / link).exists(), f"{path.name}: broken link {link}"


REGISTRY_TABLES = {
    "verify.md": ("readouts", "attacks"),
    "ablate.md": ("objectives",),
    "audit.md": ("methods",),
    "targets.md": ("benchmarks",),
    "organisms.md": ("organisms",),
}


@pytest.mark.parametrize("doc", sorted(REGISTRY_TABLES))
def test_docs_tables_list_exactly_the_registered_names(doc):
    """Each registry's table in the docs is `unlearnscope list NAME --markdown`: every registered
    readout, attack, objective, method, benchmark and organism, and nothing else."""
    from unlearnscope.cli.catalog import markdown, rows

    text = (ROOT / "docs" / doc).read_text()
    for registry in REGISTRY_TABLES[doc]:
        m = re.search(rf"<!-- registry:{registry} [^\n]*-->\n(.*?)\n<!-- /registry -->", text, re.S)
        assert m, (
            f"{doc}: no table of the {registry} registry (<!-- registry:{registry} ... --> ... <!-- /registry -->)"
        )
        listed = re.findall(r"^\| `([^`]+)` \|", m.group(1), re.M)
        assert listed == [r["name"] for r in rows(registry)], f"{doc}: the {registry} table lists {listed}"
        assert m.group(1) == markdown(registry), (
            f"{doc}: the {registry} table is stale; paste `unlearnscope list {registry} --markdown`"
        )
