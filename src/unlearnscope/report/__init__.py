"""The intrinsic evaluation report: JSON (every number) and self-contained HTML (plotly inlined)."""

from .build import build_report, load_report, write_report
from .html import render_html

__all__ = ["build_report", "load_report", "render_html", "write_report"]
