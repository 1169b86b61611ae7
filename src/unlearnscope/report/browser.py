"""Open a report in a real browser (headless Chromium): fail on any JavaScript error, check that
every figure rendered, save a screenshot of the first screen next to the report.

    check = check_in_browser("reports/facts-forget/report.html")   # raises BrowserCheckError
    check["figures"], check["screenshot"]

or ``python -m unlearnscope.report.browser reports/facts-forget/report.html``.  Needs Debian's
``chromium`` (``apt-get install chromium``) or ``$UNLEARNSCOPE_CHROMIUM`` pointing at a Chrome.

The check renders a copy of the report with a small probe script put first in ``<head>``: it
records uncaught errors and rejected promises, and after load counts, per plotly figure, its SVG
layers and drawn traces (``g.trace``, heatmap layers).  A figure counts as rendered when it has
an SVG and at least one drawn trace.
"""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..errors import UnlearnscopeError

PROBE = """<script>(function(){window.__errs=[];
window.addEventListener('error',function(e){
window.__errs.push(String(e.message||e.type)+' @'+(e.filename||'')+':'+(e.lineno||''))});
window.addEventListener('unhandledrejection',function(e){window.__errs.push('unhandled rejection: '+String(e.reason))});
window.addEventListener('load',function(){setTimeout(function(){var out=[];
document.querySelectorAll('.plotly-graph-div').forEach(function(f){out.push({id:f.id,svg:f.querySelectorAll('svg.main-svg').length,
traces:f.querySelectorAll('g.trace, g.hm, .heatmaplayer image').length,width:f.getBoundingClientRect().width})});
var p=document.createElement('pre');p.id='__unlearnscope_check';
p.textContent=JSON.stringify({errors:window.__errs,figures:out});
document.body.appendChild(p);},300)});})();</script>"""
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--hide-scrollbars",
    "--virtual-time-budget=15000",
]


class BrowserCheckError(UnlearnscopeError):
    """The report failed in the browser (JavaScript errors or figures that did not render)."""


def find_chromium() -> str | None:
    env = os.environ.get("UNLEARNSCOPE_CHROMIUM")
    if env:
        return env
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise BrowserCheckError(f"chromium did not finish within {timeout:.0f} s: {' '.join(cmd[:3])} ...") from err


def check_in_browser(
    report_html: str | os.PathLike,
    *,
    screenshot: bool = True,
    chromium: str | None = None,
    timeout: float = 120.0,
    size: tuple[int, int] = (1280, 1000),
) -> dict:
    """``{"errors", "figures", "n_figures", "screenshot"}``; raises `BrowserCheckError` on a
    JavaScript error, on a figure with no drawn trace, or when no figure is found."""
    path = Path(report_html).resolve()
    if not path.is_file():
        raise UnlearnscopeError(f"no report at {path}")
    exe = chromium or find_chromium()
    if exe is None:
        raise UnlearnscopeError(
            "no Chromium found: install Debian's chromium (apt-get install chromium) or set $UNLEARNSCOPE_CHROMIUM"
        )
    page = path.read_text(encoding="utf-8")
    if "<head>" not in page:
        raise BrowserCheckError(f"{path} has no <head>: not an unlearnscope report")
    with tempfile.TemporaryDirectory(prefix="unlearnscope-browser-") as tmp:
        probe_page = Path(tmp) / "report.html"
        probe_page.write_text(page.replace("<head>", "<head>" + PROBE, 1), encoding="utf-8")
        logging = ["--enable-logging=stderr", "--v=0", "--dump-dom"]
        res = _run([exe, *FLAGS, f"--user-data-dir={tmp}/profile", *logging, probe_page.as_uri()], timeout)
    m = re.search(r'<pre id="__unlearnscope_check">(.*?)</pre>', res.stdout, re.S)
    if m is None:
        raise BrowserCheckError(
            f"the page did not finish loading in chromium (exit {res.returncode}): {res.stderr[-800:]}"
        )
    found = json.loads(html_lib.unescape(m.group(1)))
    console = [ln for ln in res.stderr.splitlines() if "Uncaught" in ln]
    errors = found["errors"] + console
    blank = [f["id"] for f in found["figures"] if f["svg"] == 0 or f["traces"] == 0]
    out = {"errors": errors, "figures": found["figures"], "n_figures": len(found["figures"]), "screenshot": None}
    if errors:
        raise BrowserCheckError(f"JavaScript errors in {path.name}: {errors[:5]}")
    if not found["figures"]:
        raise BrowserCheckError(f"{path.name}: no plotly figure found")
    if blank:
        raise BrowserCheckError(f"{path.name}: figures that did not render: {blank}")
    if screenshot:
        out["screenshot"] = _screenshot(exe, path, size, timeout)
    return out


def _screenshot(exe: str, path: Path, size: tuple[int, int], timeout: float) -> str:
    """Write ``<report>.png`` beside the report (atomically) and return its path."""
    shot = path.with_name(path.stem + ".png")
    part = path.with_name(f".{shot.name}.{os.getpid()}.tmp.png")
    with tempfile.TemporaryDirectory(prefix="unlearnscope-browser-") as tmp:
        window = f"--window-size={size[0]},{size[1]}"
        res = _run(
            [exe, *FLAGS, f"--user-data-dir={tmp}/profile", window, f"--screenshot={part}", path.as_uri()], timeout
        )
    if not part.is_file() or part.stat().st_size == 0:
        raise BrowserCheckError(f"chromium wrote no screenshot (exit {res.returncode}): {res.stderr[-500:]}")
    os.replace(part, shot)
    return str(shot)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 1:
        print("usage: python -m unlearnscope.report.browser REPORT.html", file=sys.stderr)
        return 2
    try:
        out = check_in_browser(args[0])
    except UnlearnscopeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(json.dumps({k: out[k] for k in ("n_figures", "screenshot")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
