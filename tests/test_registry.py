"""`unlearnscope.registry`: names, aliases, conflicts, plugins — and every registry the package
builds on reads in a stable order whatever is imported first."""

import subprocess
import sys
from dataclasses import dataclass

import pytest

from unlearnscope.errors import UnlearnscopeError
from unlearnscope.registry import Registry, load_plugins


@dataclass(frozen=True)
class Thing:
    name: str
    value: int = 0


def test_names_aliases_and_lookup():
    r: Registry[Thing] = Registry("thing")
    r.register(Thing("alpha", 1), aliases=("a",))
    r.register(Thing("beta", 2))
    assert r.names() == ("alpha", "beta") and len(r) == 2
    assert r["a"].value == 1 and r.resolve("a") == "alpha" and "a" in r and "gamma" not in r
    assert r.check(["beta", "a", "alpha"]) == ("beta", "alpha")  # order kept, duplicates dropped
    assert r.names(lambda t: t.value > 1) == ("beta",) and r.aliases() == {"a": "alpha"}
    with pytest.raises(UnlearnscopeError, match=r"unknown thing 'gamma'; choose from alpha, beta"):
        r["gamma"]
    with pytest.raises(UnlearnscopeError, match=r"unknown things \['x', 'y'\]"):
        r.check(["x", "alpha", "y"])
    with pytest.raises(UnlearnscopeError, match=r"unknown things \['alpha'\]; choose from beta"):
        r.check(["alpha"], where=lambda t: t.value > 1)
    assert r.unregister("a").value == 1 and r.names() == ("beta",) and "a" not in r


def test_conflicts_between_modules_are_errors_unless_replaced():
    r: Registry[Thing] = Registry("thing")
    r.register(Thing("alpha", 1), origin="pkg.one")
    r.register(Thing("alpha", 2), origin="pkg.one")  # the same module again (a reload) replaces its own
    assert r["alpha"].value == 2
    with pytest.raises(UnlearnscopeError, match=r"'alpha' is already registered \(by pkg.one\).*replace=True"):
        r.register(Thing("alpha", 3), origin="plugin")
    r.register(Thing("alpha", 3), origin="plugin", replace=True)
    assert r["alpha"].value == 3 and r.origin("alpha") == "plugin"
    r.register(Thing("beta"), aliases=("b",), origin="pkg.one")
    with pytest.raises(UnlearnscopeError, match="'b' is already registered"):
        r.register(Thing("b"), origin="plugin")  # an alias is taken like a name
    for bad in ("Has Space", "a,b", "", "Upper"):
        with pytest.raises(UnlearnscopeError, match="lower-case letters"):
            r.register(Thing(bad))


def test_plugins_load_from_files_and_modules_once(tmp_path, monkeypatch):
    counter = tmp_path / "count.txt"
    plugin = tmp_path / "my_plugin.py"
    plugin.write_text(f"from pathlib import Path\np = Path({str(counter)!r})\np.write_text(p.read_text() + 'x')\n")
    counter.write_text("")
    assert load_plugins(str(plugin)) == [str(plugin)]
    assert load_plugins(str(plugin)) == [str(plugin)] and counter.read_text() == "x"  # imported once
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "another_plugin.py").write_text("LOADED = True\n")
    monkeypatch.setenv("UNLEARNSCOPE_PLUGINS", "another_plugin")
    assert "another_plugin" in load_plugins()
    with pytest.raises(UnlearnscopeError, match="no such file"):
        load_plugins(str(tmp_path / "missing.py"))
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(UnlearnscopeError, match="plugin .*broken.py failed to import: RuntimeError: boom"):
        load_plugins(str(tmp_path / "broken.py"))
    with pytest.raises(UnlearnscopeError, match="failed to import: ModuleNotFoundError"):
        load_plugins("no_such_module_anywhere")


def test_the_verification_order_does_not_depend_on_what_is_imported_first():
    """Readouts register before attacks even when a program imports one attack module first."""
    code = (
        "import unlearnscope.evaluate.attacks.sweep\n"
        "from unlearnscope.evaluate.registry import builtin\n"
        "print(','.join(builtin().names()))"
    )
    first_attack = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    code = "from unlearnscope.evaluate.registry import builtin\nprint(','.join(builtin().names()))"
    plain = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    names = plain.stdout.strip().split(",")
    assert first_attack.stdout.strip().split(",") == names
    assert names[:3] == ["recall", "retain_recall", "locality"] and names[-1] == "relearn:sweep"
    assert names.index("causal_depth") < names.index("relearn")
