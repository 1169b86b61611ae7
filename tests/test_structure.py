"""The package's dependency rule, read from the source alone (nothing is imported).

Layers, top to bottom; a module imports only from its own package or from layers below it
(every import counts, also the lazy ones inside functions).  The rule is documented in
``docs/architecture.md``; change both together.
"""

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "unlearnscope"

LAYERS = [
    ["cli"],
    ["replicate", "metaeval"],
    ["audit"],
    ["report"],
    ["evaluate"],
    ["ablate"],
    ["localize"],
    ["probes"],
    ["sources"],
    ["organisms"],
    ["model"],
    ["data", "viz"],
    ["results", "progress", "registry"],
    ["errors"],
]
RANK = {p: i for i, layer in enumerate(LAYERS) for p in layer}
MAX_FUNCTION_LINES = 60


def modules():
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(SRC).with_suffix("")
        parts = list(rel.parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        yield ".".join(parts), is_pkg, ast.parse(path.read_text(), str(path))


def type_only_nodes(tree) -> set[int]:
    """ids of the nodes inside ``if TYPE_CHECKING:`` blocks (imports that never run)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def imported(mod: str, is_pkg: bool, tree, *, runtime_only: bool = False) -> list[tuple[str, str, int]]:
    """``(target module, imported name or "", line)`` for every unlearnscope import (``runtime_only``:
    not those under ``if TYPE_CHECKING:``, which annotate and never run)."""
    out = []
    skip = type_only_nodes(tree) if runtime_only else set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] == "unlearnscope":
                out += [(target, a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(a.name, "", node.lineno) for a in node.names if a.name.split(".")[0] == "unlearnscope"]
    return out


def package(mod: str) -> str | None:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else None


MODS = list(modules())
NAMES = {m for m, _, _ in MODS}


def resolve(target: str, name: str, names=NAMES) -> str:
    """The module a ``from target import name`` reads (a submodule when ``name`` is one)."""
    return f"{target}.{name}" if f"{target}.{name}" in names else target


def layer_violations(mods, names) -> list[str]:
    bad = []
    for mod, is_pkg, tree in mods:
        src = package(mod)
        if src is None:  # the root package's lazy re-exports
            continue
        for target, name, line in imported(mod, is_pkg, tree):
            dst = package(resolve(target, name, names))
            if dst is None:  # the root package itself (its __version__): imports nothing eagerly
                continue
            if dst != src and RANK.get(dst, -1) <= RANK[src]:
                bad.append(f"{mod}:{line} imports {target}.{name} ({src} -> {dst})")
    return bad


def import_cycles(mods, names) -> list[str]:
    """Cycles among the imports that run (a type-only import is not a cycle: it never executes;
    it still counts for the layer rule)."""
    graph = defaultdict(set)
    for mod, is_pkg, tree in mods:
        for target, name, _ in imported(mod, is_pkg, tree, runtime_only=True):
            dst = resolve(target, name, names)
            if dst != mod and dst in names and not mod.startswith(dst + "."):  # a package's own __init__ is not a cycle
                graph[mod].add(dst)
    state, cycles = {}, []

    def visit(u, stack):
        state[u] = 1
        stack.append(u)
        for v in sorted(graph[u]):
            if state.get(v) == 1:
                cycles.append(" -> ".join(stack[stack.index(v) :] + [v]))
            elif v not in state:
                visit(v, stack)
        stack.pop()
        state[u] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    return cycles


def test_every_package_is_in_a_layer():
    pkgs = {package(m) for m in NAMES} - {None}
    assert pkgs <= set(RANK), f"packages missing from LAYERS: {sorted(pkgs - set(RANK))}"


def test_imports_point_down_the_layers():
    bad = layer_violations(MODS, NAMES)
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_no_import_cycles_between_modules():
    cycles = import_cycles(MODS, NAMES)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_no_private_name_is_imported_across_modules():
    bad = [
        f"{mod}:{line} imports {name} from {target}"
        for mod, is_pkg, tree in MODS
        for target, name, line in imported(mod, is_pkg, tree)
        if name.startswith("_") and not name.startswith("__") and target != mod
    ]
    assert not bad, "\n".join(bad)


def test_functions_are_short_or_say_why():
    long = []
    for mod, _, tree in MODS:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES and "long because" not in (ast.get_docstring(node) or ""):
                    long.append(f"{mod}.{node.name}: {n} lines")
    assert not long, (
        f"functions over {MAX_FUNCTION_LINES} lines without a reason ('long because ...') in their docstring:\n"
        + "\n".join(long)
    )


def test_the_checks_catch_planted_violations():
    """An upward import and a cycle, planted in two fake modules, are both reported."""
    planted = [
        ("unlearnscope.model.fake_a", False, ast.parse("from ..audit.fake_b import x\n")),
        ("unlearnscope.audit.fake_b", False, ast.parse("def f():\n    from ..model.fake_a import y\n")),
    ]
    names = NAMES | {m for m, _, _ in planted}
    assert layer_violations(planted, names) == [
        "unlearnscope.model.fake_a:1 imports unlearnscope.audit.fake_b.x (model -> audit)"
    ]
    assert import_cycles(planted, names) == [
        "unlearnscope.audit.fake_b -> unlearnscope.model.fake_a -> unlearnscope.audit.fake_b"
    ]
    type_only = [
        ("unlearnscope.model.fake_c", False, ast.parse("if TYPE_CHECKING:\n    from ..audit.fake_d import T\n")),
        ("unlearnscope.audit.fake_d", False, ast.parse("from ..model.fake_c import y\n")),
    ]
    names |= {m for m, _, _ in type_only}
    assert import_cycles(type_only, names) == []  # an annotation-only import never runs
    assert layer_violations(type_only, names) == [
        "unlearnscope.model.fake_c:2 imports unlearnscope.audit.fake_d.T (model -> audit)"
    ]
