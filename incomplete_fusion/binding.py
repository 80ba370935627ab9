"""How the run's declared and active modalities reach the components built from a config.

``--cfg-options modalities=[...]`` changes only the top-level key, not the dicts the
config file substituted it into, so no component reads the active set from its own
config. Components that need it are :class:`ModalityConsumer` s and receive one
:class:`~incomplete_fusion.modalities.ModalitySet`, built from the run's final
config, through :func:`bind`; this package's loops bind it under every entry point.
A consumer used unbound raises :class:`ModalitiesNotBoundError` saying what to add,
never a silent all-modality run.
See docs/advanced_guides/plugin.md#how-the-modalities-reach-the-components.
"""
from typing import Any, Iterator, Optional, Sequence

from torch import nn
from torch.utils.data import DataLoader

from .modalities import ModalitySet, ModalitySpec, parse_modalities

BIND_HINT = (
    "Inside a Runner, use this package's loops, which bind the run's top-level "
    "`modality_specs`/`modalities` before any data is read: "
    "train_cfg=dict(type='ModalityIterBasedTrainLoop', ...) (or "
    "'ModalityEpochBasedTrainLoop'), val_cfg=dict(type='ModalityValLoop'), "
    "test_cfg=dict(type='ModalityTestLoop') (or 'SubsetTestLoop' for every subset); "
    "the bases in configs/_base_/schedules/ set them. Outside a Runner, call "
    "`incomplete_fusion.binding.bind(ModalitySet.from_config(specs, active), component)`.")


class ModalitiesNotBoundError(RuntimeError):
    """A component needed the run's modalities before anything bound them."""


class ModalityConsumer:
    """Mixin for components that need the declared and/or active modalities.

    Subclasses read :attr:`modality_set` (raises until bound) and may override
    :meth:`on_bind` to validate or precompute when a set arrives.
    """

    _modality_set: Optional[ModalitySet] = None

    def bind_modalities(self, modality_set: ModalitySet) -> None:
        if not isinstance(modality_set, ModalitySet):
            raise TypeError(f'expected a ModalitySet, got {type(modality_set).__name__}')
        self.on_bind(modality_set)
        self._modality_set = modality_set

    def on_bind(self, modality_set: ModalitySet) -> None:
        """Hook for subclasses: check ``modality_set`` against the component's own config."""

    @property
    def is_bound(self) -> bool:
        return self._modality_set is not None

    @property
    def modality_set(self) -> ModalitySet:
        if self._modality_set is None:
            raise ModalitiesNotBoundError(
                f'{type(self).__name__} was used before the run\'s modalities were bound to '
                f'it, so it cannot know which modalities are active. {BIND_HINT}')
        return self._modality_set


class DeclaredModalities(ModalityConsumer):
    """A module whose parameters are built for ``modality_specs`` (backbone, heads).

    Its declaration is fixed when the model is built (before any loop binds the run),
    so it cannot follow a config that redeclares the modalities; binding a run whose
    declaration differs fails before training, naming the key to fix. The active
    subset may be anything: absence is read from NaN.
    """

    def declare(self, modality_specs: Sequence) -> Sequence[ModalitySpec]:
        self.declared_specs = parse_modalities(modality_specs)
        return self.declared_specs

    def on_bind(self, modality_set: ModalitySet) -> None:
        if not modality_set.same_declaration(self.declared_specs):
            raise ValueError(
                f'{type(self).__name__} declares '
                f'{[(s.name, s.channels) for s in self.declared_specs]} but the run declares '
                f'{[(s.name, s.channels) for s in modality_set.specs]}: set its '
                '`modality_specs` to the top-level `modality_specs` (a child config that '
                'redeclares the modalities must pass them to the model too)')


def modality_set_of(cfg: Any) -> ModalitySet:
    """The run's :class:`ModalitySet` from a config's top-level keys."""
    if 'modality_specs' not in cfg:
        raise KeyError('the config declares no top-level `modality_specs` (the ordered list '
                       'of modality declarations, e.g. from configs/_base_/datasets/)')
    specs = cfg['modality_specs']
    specs = [dict(s) for s in specs]
    return ModalitySet.from_config(specs, cfg.get('modalities', None))


def _children(obj: Any) -> Iterator[Any]:
    """Objects that may hold consumers: dataset wrappers, pipelines, nested transforms."""
    if isinstance(obj, DataLoader):
        yield obj.dataset
        return
    for attr in ('dataset', 'datasets', 'pipeline', 'transforms'):
        value = getattr(obj, attr, None)
        if value is None or isinstance(value, (str, bytes, dict)):
            continue
        if isinstance(value, (list, tuple)):
            yield from value
        else:
            yield value


def iter_consumers(*roots: Any) -> Iterator[ModalityConsumer]:
    """Every :class:`ModalityConsumer` reachable from ``roots``.

    Walks models (all submodules, wrappers included), dataloaders, dataset wrappers
    (``dataset``/``datasets``), pipelines and nested transforms (``transforms``,
    lists of lists as in TestTimeAug), and lists of these (e.g. the runner's hooks).
    """
    seen = set()
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if obj is None or id(obj) in seen or isinstance(obj, (str, bytes, dict)):
            continue
        seen.add(id(obj))
        if isinstance(obj, (list, tuple)):
            stack.extend(obj)
            continue
        if isinstance(obj, nn.Module):
            yield from (m for m in obj.modules() if isinstance(m, ModalityConsumer))
            continue
        if isinstance(obj, ModalityConsumer):
            yield obj
        stack.extend(_children(obj))


def bind(modality_set: ModalitySet, *roots: Any) -> int:
    """Bind ``modality_set`` to every consumer reachable from ``roots``; returns how many."""
    count = 0
    for consumer in iter_consumers(*roots):
        consumer.bind_modalities(modality_set)
        count += 1
    return count
