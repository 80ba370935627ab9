"""Training hooks."""
from .modality_dropout_hook import ModalityDropoutHook, draw_subset, subset_probabilities

__all__ = ['ModalityDropoutHook', 'draw_subset', 'subset_probabilities']
