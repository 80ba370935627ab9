"""Figures a person looks at: per-modality rendering, qualitative panels."""
from .panels import render_modality, subset_prediction_panel

__all__ = ['render_modality', 'subset_prediction_panel']
