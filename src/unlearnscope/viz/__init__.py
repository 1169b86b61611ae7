"""Plotly figures, one function per figure; each takes plain tensors or a result object."""

from .experts import expert_heatmap, step_curves

__all__ = ["expert_heatmap", "step_curves"]
