"""Figures a person looks at: the one modality renderer, qualitative panels."""
from .panels import reconstruction_panel, subset_prediction_panel
from .render import class_colours, render_modality, stretch

__all__ = [
    'class_colours', 'reconstruction_panel', 'render_modality', 'stretch',
    'subset_prediction_panel'
]
