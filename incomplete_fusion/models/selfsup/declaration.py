"""Heads built from the declared modalities check them against the run's set."""
from typing import Sequence

from incomplete_fusion.binding import ModalityConsumer
from incomplete_fusion.modalities import ModalitySet, ModalitySpec, parse_modalities


class DeclaredModalities(ModalityConsumer):
    """A module built for ``modality_specs``: binding a run whose declaration differs
    fails before training, naming the key to fix (the active subset may be anything:
    absence is read from NaN)."""

    def declare(self, modality_specs: Sequence) -> Sequence[ModalitySpec]:
        self.declared_specs = parse_modalities(modality_specs)
        return self.declared_specs

    def on_bind(self, modality_set: ModalitySet) -> None:
        if not modality_set.same_declaration(self.declared_specs):
            raise ValueError(
                f'{type(self).__name__} declares '
                f'{[(s.name, s.channels) for s in self.declared_specs]} but the run declares '
                f'{[(s.name, s.channels) for s in modality_set.specs]}: set its '
                '`modality_specs` to the top-level `modality_specs`')
