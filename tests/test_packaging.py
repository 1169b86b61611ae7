"""The package states compatible ranges, so installing it beside a user's own (CUDA) torch keeps
that torch; exact pins live only in requirements.lock / constraints.txt, which `make` uses.

The install check runs pip for real, offline, in a fresh virtual environment: a wheelhouse holds
stand-in wheels (metadata only) of every dependency at the version this environment has, a
"CUDA" torch the user already installed, and the CPU torch of our lock file as a temptation; the
package's wheel carries the dependencies pyproject.toml declares.  A control package that pins
torch exactly shows the check can fail: pip replaces the user's torch for it.
"""

import base64
import hashlib
import subprocess
import sys
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
USER_TORCH = "2.6.0+cu124"  # a CUDA build, the oldest torch the ranges allow


def _deps() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def test_dependencies_are_ranges_and_pins_live_in_the_lock():
    for dep in _deps():
        req = Requirement(dep)
        assert not any(s.operator in ("==", "===") for s in req.specifier), (
            f"{dep}: an exact pin belongs in requirements.lock"
        )
    torch = next(Requirement(d) for d in _deps() if Requirement(d).name == "torch")
    assert (
        torch.specifier.contains(USER_TORCH)
        and torch.specifier.contains("2.13.0")
        and torch.specifier.contains("2.14.1+cu128")
    )
    assert "torch==" in (ROOT / "constraints.txt").read_text() and "torch==" in (ROOT / "requirements.lock").read_text()
    assert "-c constraints.txt" in (ROOT / "Makefile").read_text()


def _wheel(out: Path, name: str, ver: str, requires=()) -> None:
    dist = f"{canonicalize_name(name).replace('-', '_')}-{ver}"
    files = {
        f"{dist}.dist-info/METADATA": "Metadata-Version: 2.1\nName: {}\nVersion: {}\n{}".format(
            name, ver, "".join(f"Requires-Dist: {r}\n" for r in requires)
        ),
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: unlearnscope-tests\nRoot-Is-Purelib: true\nTag: "
        "py3-none-any\n",
    }
    record = (
        "".join(
            f"{p},sha256={base64.urlsafe_b64encode(hashlib.sha256(t.encode()).digest()).rstrip(b'=').decode()},{len(t.encode())}\n"
            for p, t in files.items()
        )
        + f"{dist}.dist-info/RECORD,,\n"
    )
    with zipfile.ZipFile(out / f"{dist}-py3-none-any.whl", "w") as z:
        for p, t in {**files, f"{dist}.dist-info/RECORD": record}.items():
            z.writestr(p, t)


def _pip(env: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(env / "bin" / "python"),
            "--disable-pip-version-check",
            "-q",
            "install",
            "--no-index",
            *args,
        ],
        capture_output=True,
        text=True,
    )


def _torch_in(env: Path) -> str:
    code = "import importlib.metadata as m; print(m.version('torch'))"
    return subprocess.run(
        [str(env / "bin" / "python"), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.skipif(sys.platform == "win32", reason="the check builds a POSIX virtual environment")
def test_installing_beside_a_users_torch_keeps_it(tmp_path):
    house = tmp_path / "wheels"
    house.mkdir()
    for dep in _deps():
        name = Requirement(dep).name
        if name != "torch":
            _wheel(house, name, version(name))
    _wheel(house, "torch", USER_TORCH)
    _wheel(house, "torch", "2.13.0")  # the lock's CPU wheel, newer: pip must not reach for it
    _wheel(house, "unlearnscope", "0.1.0", _deps())
    _wheel(house, "pinned-control", "0.1.0", ["torch==2.13.0"])
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    res = _pip(env, "--find-links", str(house), f"torch=={USER_TORCH}")
    assert res.returncode == 0, res.stderr
    res = _pip(env, "--find-links", str(house), "unlearnscope")
    assert res.returncode == 0, res.stderr
    assert _torch_in(env) == USER_TORCH  # the user's torch stays
    res = _pip(env, "--find-links", str(house), "pinned-control")
    assert res.returncode == 0, res.stderr
    assert _torch_in(env) == "2.13.0"  # an exact pin would have replaced it
