"""Modality specs: the one declaration of which inputs exist, in which order.

A config declares an ordered list of modalities once (``modality_specs``); the
loading transform, the backbone, visualisation and evaluation all read that same
list, so nothing hard-codes "rgb". The image tensor holds the channels of all
declared modalities concatenated in declared order; pixels without data are NaN.
"""
from dataclasses import dataclass
from itertools import combinations
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

KINDS = ('continuous', 'categorical')
# What a modality's values are (``ModalitySpec.units``); the value check of each is in
# ``incomplete_fusion.datasets.value_checks`` (docs/user_guides/datasets/real_products.md).
UNITS = ('amplitude', 'power', 'db', 'reflectance', 'reflectance_10000', 'dn8', 'metres',
         'classes')


class UnknownModalityError(ValueError):
    """A modality name that is not among the declared modality specs."""


@dataclass(frozen=True)
class ModalitySpec:
    """One input modality.

    Args:
        name: unique name used in configs and on the command line (``sar``).
        channels: number of image channels of this modality.
        kind: ``'continuous'`` (normalised reals) or ``'categorical'`` (class
            indices, embedded by the backbone, never normalised).
        num_classes: number of classes of a categorical modality.
        norm: normalisation preset name or explicit statistics (see
            ``incomplete_fusion.datasets.transforms``); ``None`` keeps raw values.
        nodata: value treated as missing, overriding the file's own nodata.
        units: what the file's values are, one of :data:`UNITS` (``'amplitude'``,
            ``'power'`` or ``'db'`` = 10·log10 power for SAR; ``'reflectance'`` (1 =
            100 %) or ``'reflectance_10000'``; ``'dn8'`` 8-bit digital numbers;
            ``'metres'``; ``'classes'`` = codes ``0..num_classes-1``). Declared units
            are checked against the ``norm`` preset when the run is bound and against
            each file's values on first read; ``None`` checks nothing.
        bands: 1-based band indexes of the file to read (as GDAL), one per channel;
            ``None`` reads all bands (their count must equal ``channels``).
        convert: with ``units`` that differ from those the ``norm`` preset expects,
            convert the values (e.g. dB → amplitude) instead of failing.
    """

    name: str
    channels: int
    kind: str = 'continuous'
    num_classes: Optional[int] = None
    norm: Union[str, Mapping, None] = None
    nodata: Optional[float] = None
    units: Optional[str] = None
    bands: Optional[Sequence[int]] = None
    convert: bool = False

    def __post_init__(self):
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f'modality name must be a non-empty string, got {self.name!r}')
        if int(self.channels) < 1:
            raise ValueError(f'modality {self.name!r}: channels must be >= 1, got {self.channels}')
        if self.kind not in KINDS:
            raise ValueError(f'modality {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}')
        if self.kind == 'categorical':
            if not self.num_classes or int(self.num_classes) < 2:
                raise ValueError(f'categorical modality {self.name!r} needs num_classes >= 2')
            if self.channels != 1:
                raise ValueError(f'categorical modality {self.name!r} must have 1 channel')
        self._check_units_and_bands()

    def _check_units_and_bands(self):
        if self.units is not None:
            if self.units not in UNITS:
                raise ValueError(f'modality {self.name!r}: units must be one of {UNITS}, '
                                 f'got {self.units!r}')
            if (self.units == 'classes') != self.is_categorical:
                raise ValueError(f"modality {self.name!r}: units='classes' is for, and the "
                                 'only units of, a categorical modality')
        elif self.convert:
            raise ValueError(f'modality {self.name!r}: convert=True needs the file\'s units')
        if self.bands is not None:
            if isinstance(self.bands, (int, str)) or not isinstance(self.bands, Iterable):
                raise ValueError(f'modality {self.name!r}: bands must be a list of 1-based '
                                 f'band indexes, got {self.bands!r}')
            bands = tuple(self.bands)
            if len(bands) != int(self.channels) or not all(
                    isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in bands):
                raise ValueError(
                    f'modality {self.name!r}: bands must be {self.channels} 1-based band '
                    f'index(es) (as GDAL: the first band is 1), got {list(bands)}')
            object.__setattr__(self, 'bands', bands)

    @property
    def is_categorical(self) -> bool:
        return self.kind == 'categorical'


SpecLike = Union[ModalitySpec, Mapping]


def parse_modalities(specs: Sequence[SpecLike]) -> Tuple[ModalitySpec, ...]:
    """Turn config dicts into validated :class:`ModalitySpec` objects, order kept."""
    if isinstance(specs, (str, bytes)) or not isinstance(specs, Iterable):
        raise TypeError(f'modality specs must be a list of dicts, got {type(specs).__name__}')
    parsed = tuple(s if isinstance(s, ModalitySpec) else ModalitySpec(**dict(s)) for s in specs)
    if not parsed:
        raise ValueError('at least one modality must be declared')
    names = [s.name for s in parsed]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f'modality names must be unique, repeated: {duplicates}')
    return parsed


def modality_names(specs: Sequence[SpecLike]) -> Tuple[str, ...]:
    return tuple(s.name for s in parse_modalities(specs))


def channel_slices(specs: Sequence[SpecLike]) -> Dict[str, slice]:
    """The channel range of each modality inside the concatenated image."""
    slices, start = {}, 0
    for spec in parse_modalities(specs):
        slices[spec.name] = slice(start, start + spec.channels)
        start += spec.channels
    return slices


def total_channels(specs: Sequence[SpecLike]) -> int:
    return sum(s.channels for s in parse_modalities(specs))


def resolve_active(active: Optional[Iterable[str]], specs: Sequence[SpecLike]) -> Tuple[str, ...]:
    """Validate an active subset and return it in declared order.

    ``None`` means all declared modalities. Unknown names raise
    :class:`UnknownModalityError` listing the declared names.
    """
    declared = modality_names(specs)
    if active is None:
        return declared
    if isinstance(active, str):
        active = [active]
    active = [str(a) for a in active]
    unknown = [a for a in active if a not in declared]
    if unknown:
        raise UnknownModalityError(
            f'unknown modality name(s) {unknown}; declared modalities are {list(declared)}')
    if not active:
        raise ValueError(f'the active modality subset is empty; declared: {list(declared)}')
    return tuple(n for n in declared if n in active)


def nonempty_subsets(names: Sequence[str]) -> List[Tuple[str, ...]]:
    """All 2**M - 1 non-empty subsets, ordered by size, then declared order."""
    names = tuple(names)
    return [c for k in range(1, len(names) + 1) for c in combinations(names, k)]


def keep_only(image, keep: Iterable[str], specs: Sequence[SpecLike], channel_dim: int = 0):
    """Set the channels of every modality not in ``keep`` to NaN, in place.

    Works on torch tensors and numpy arrays alike; ``channel_dim`` is the axis
    that holds the concatenated channels (0 for ``(C, H, W)``, -1 for ``(H, W, C)``).
    """
    keep = set(resolve_active(keep, specs))
    index = [slice(None)] * image.ndim
    for name, channels in channel_slices(specs).items():
        if name not in keep:
            index[channel_dim] = channels
            image[tuple(index)] = float('nan')
    return image


@dataclass(frozen=True)
class ModalitySet:
    """The declared modalities of a run and the active subset, in one value.

    Built once per run from the top-level config keys ``modality_specs`` (the
    declarations, ordered) and ``modalities`` (the active names) and handed to every
    component that needs either (see :mod:`incomplete_fusion.engine.binding`), so no
    component re-derives slices or channel counts from raw spec lists.
    """

    specs: Tuple[ModalitySpec, ...]
    active: Tuple[str, ...]

    @classmethod
    def from_config(cls, modality_specs: Sequence[SpecLike],
                    modalities: Union[None, str, Iterable[str]] = None) -> 'ModalitySet':
        """Validate specs and active names (``None`` = all; ``'a,b'`` as from the CLI)."""
        specs = parse_modalities(modality_specs)
        if isinstance(modalities, str):
            modalities = [m for m in modalities.split(',') if m]
        return cls(specs, resolve_active(modalities, specs))

    def __post_init__(self):
        resolve_active(self.active, self.specs)  # unknown or empty -> error

    @property
    def names(self) -> Tuple[str, ...]:
        """All declared names, in channel order."""
        return tuple(s.name for s in self.specs)

    @property
    def inactive(self) -> Tuple[str, ...]:
        return tuple(n for n in self.names if n not in self.active)

    @property
    def slices(self) -> Dict[str, slice]:
        return channel_slices(self.specs)

    @property
    def total_channels(self) -> int:
        return sum(s.channels for s in self.specs)

    @property
    def categorical_channels(self) -> List[int]:
        """Channel indices holding class codes (resized with nearest, never normalised)."""
        slices = self.slices
        return [c for s in self.specs if s.is_categorical
                for c in range(slices[s.name].start, slices[s.name].stop)]

    def spec(self, name: str) -> ModalitySpec:
        for spec in self.specs:
            if spec.name == name:
                return spec
        raise UnknownModalityError(f'unknown modality {name!r}; declared: {list(self.names)}')

    def resolve(self, names: Union[None, str, Iterable[str]]) -> Tuple[str, ...]:
        """Validate declared names, return them in declared order (``None`` = active)."""
        return self.active if names is None else resolve_active(names, self.specs)

    def with_active(self, names: Union[None, str, Iterable[str]]) -> 'ModalitySet':
        """The same declarations with another active subset (``None`` = all declared)."""
        return ModalitySet.from_config(self.specs, names)

    def keep_only(self, image, keep: Union[None, Iterable[str]] = None, channel_dim: int = 0):
        """NaN every channel outside ``keep`` (default: the active set), in place."""
        return keep_only(image, self.resolve(keep), self.specs, channel_dim)

    def same_declaration(self, specs: Sequence[SpecLike]) -> bool:
        """Whether ``specs`` declare the same names, channels and kinds in the same order."""
        def key(seq):
            return [(s.name, int(s.channels), s.kind, s.num_classes) for s in seq]
        return key(parse_modalities(specs)) == key(self.specs)

    def describe(self) -> str:
        """One line for the start of a run: active, inactive and declared modalities."""
        declared = ', '.join(f'{s.name}[{s.channels}]' for s in self.specs)
        line = f'active modalities: {", ".join(self.active)} (declared: {declared})'
        if self.inactive:
            line += f'; inactive (all-NaN, files not read): {", ".join(self.inactive)}'
        return line
