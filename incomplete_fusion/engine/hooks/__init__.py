"""Training hooks."""
from .iteration_seed_hook import IterationSeedHook, iteration_seed
from .modality_dropout_hook import ModalityDropoutHook, draw_subset, subset_probabilities

__all__ = ['IterationSeedHook', 'ModalityDropoutHook', 'draw_subset', 'iteration_seed',
           'subset_probabilities']
