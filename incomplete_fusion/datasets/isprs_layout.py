"""ISPRS Potsdam / Vaihingen release layouts, declared in ONE place.

Copies of the releases differ in folder nesting, zero padding (``dsm_potsdam_02_10``
vs ``top_potsdam_2_10``), nDSM flavours and extensions, so files are matched by
regular expressions on the file name (``tile`` groups give the canonical tile id:
Potsdam ``2_10``, Vaihingen ``area1``) and, where file names are ambiguous
(Vaihingen images and full labels share their names), on the parent folder's name.
The converter (:mod:`.isprs_convert`), the synthetic release writer
(:mod:`incomplete_fusion.testing.isprs`), the datasets and the docs all read these
tables; nothing else spells a release file name.

Colour table and split lists follow mmseg 1.2.2's converters
(``tools/dataset_converters/{potsdam,vaihingen}.py``): their ``train`` tiles are the
ISPRS training tiles, their ``val`` tiles the ISPRS test tiles.
"""
import os
import re
from dataclasses import dataclass, field, replace
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

CLASSES: Tuple[str, ...] = ('impervious_surface', 'building', 'low_vegetation', 'tree',
                            'car', 'clutter')
# RGB colours of the ISPRS label rasters, index = class index written by the converter.
PALETTE: List[List[int]] = [[255, 255, 255], [0, 0, 255], [0, 255, 255], [0, 255, 0],
                            [255, 255, 0], [255, 0, 0]]
CLUTTER_INDEX = 5
IGNORE_INDEX = 255
# Black marks the eroded boundaries of the ``noBoundary`` rasters: never scored.
BOUNDARY_COLOUR = (0, 0, 0)


class ISPRSLayoutError(FileNotFoundError):
    """The release folder does not hold what a requested tile needs."""


@dataclass(frozen=True)
class SourceSpec:
    """One kind of file of the release (one file per tile).

    ``files``: regexes on the file name, in order of preference; the named groups
    build the tile id with the city's ``tile_format``. ``folders``: regexes on the
    parent folder's name; ``None`` accepts any folder (used where file names alone
    are unambiguous). ``expected`` is the official release's folder and
    ``template`` its file name (fields from the tile id), quoted in messages and
    used by the synthetic release writer.
    """

    key: str
    files: Tuple[str, ...]
    expected: str
    template: str
    folders: Optional[Tuple[str, ...]] = None
    is_label: bool = False


@dataclass(frozen=True)
class Recipe:
    """An output modality: the source(s) it is cut from (first present wins), bands (1-based)."""

    sources: Tuple[str, ...]
    bands: Tuple[int, ...]
    doc: str


@dataclass(frozen=True)
class CityLayout:
    """Everything city-specific: sources, output modalities and default splits."""

    name: str
    tile_format: str
    tile_regex: str
    sources: Mapping[str, SourceSpec]
    recipes: Mapping[str, Recipe]
    splits: Mapping[str, Tuple[str, ...]]
    default_modalities: Tuple[str, ...] = ('rgir', 'ndsm')
    label_sources: Tuple[str, str] = ('label', 'label_eroded')
    extra: Mapping[str, str] = field(default_factory=dict)

    def tile_id(self, match: 're.Match') -> str:
        """Canonical tile id (zero padding removed) of a file-name match."""
        return self.tile_format.format(**{k: int(v) for k, v in match.groupdict().items()})

    def tile_fields(self, tile: str) -> Dict[str, int]:
        """Inverse of :meth:`tile_id`: ``'2_10'`` → ``{'a': 2, 'b': 10}``."""
        m = re.fullmatch(self.tile_regex, tile)
        if m is None:
            raise ValueError(f'{tile!r} is not a {self.name} tile id (like {self.tile_format})')
        return {k: int(v) for k, v in m.groupdict().items()}

    def example(self, source: str, tile: str) -> str:
        """The release's relative path of ``source`` for ``tile``."""
        spec = self.sources[source]
        return f'{spec.expected}/{spec.template.format(**self.tile_fields(tile))}'

    def with_patterns(self, overrides: Mapping[str, Sequence[str]]) -> 'CityLayout':
        """A copy whose listed sources match the given file regexes first."""
        unknown = set(overrides) - set(self.sources)
        if unknown:
            raise ValueError(f'unknown {self.name} source(s) {sorted(unknown)}; '
                             f'sources are {sorted(self.sources)}')
        sources = {k: (replace(s, files=tuple(overrides[k]) + s.files) if k in overrides else s)
                   for k, s in self.sources.items()}
        return replace(self, sources=sources)


_IMG = r'\.tiff?$'


def _label_sources(stem: str, folder: str, eroded_folder: str, template: str,
                   folders: Optional[Tuple[str, ...]] = None) -> Dict[str, SourceSpec]:
    """The full and the eroded (``_noBoundary``) label rasters of a city."""
    return dict(
        label=SourceSpec('label', (stem + _IMG, ), folder, template + '.tif', folders=folders,
                         is_label=True),
        label_eroded=SourceSpec('label_eroded', (stem + '_noBoundary' + _IMG, ), eroded_folder,
                                template + '_noBoundary.tif', is_label=True))

_NDSM_EXT = r'\.(jpe?g|tiff?|png)$'
_P = r'(?P<a>\d+)_(?P<b>\d+)'
_V = r'area(?P<area>\d+)'

# both releases ship the same height products
_HEIGHT_RECIPES = dict(ndsm=Recipe(('ndsm', ), (1, ), 'normalised DSM, 8-bit as released'),
                       dsm=Recipe(('dsm', ), (1, ), 'DSM, float32 metres'))

POTSDAM = CityLayout('potsdam', '{a}_{b}', _P, sources={
        'rgbir': SourceSpec('rgbir', (rf'^top_potsdam_{_P}_RGBIR{_IMG}', ), '4_Ortho_RGBIR',
                            'top_potsdam_{a}_{b}_RGBIR.tif'),
        'rgb': SourceSpec('rgb', (rf'^top_potsdam_{_P}_RGB{_IMG}', ), '2_Ortho_RGB',
                          'top_potsdam_{a}_{b}_RGB.tif'),
        'dsm': SourceSpec('dsm', (rf'^dsm_potsdam_{_P}{_IMG}', ), '1_DSM',
                          'dsm_potsdam_{a:02d}_{b:02d}.tif'),
        'ndsm': SourceSpec('ndsm', (rf'^dsm_potsdam_{_P}_normali[sz]ed_lastools{_NDSM_EXT}',
                                    rf'^dsm_potsdam_{_P}_normali[sz]ed(_\w+)?{_NDSM_EXT}'),
                           '1_DSM_normalisation',
                           'dsm_potsdam_{a:02d}_{b:02d}_normalized_lastools.jpg'),
        **_label_sources(rf'^top_potsdam_{_P}_label', '5_Labels_all', '5_Labels_all_noBoundary',
                         'top_potsdam_{a}_{b}_label'),
    },
    recipes={
        'rgir': Recipe(('rgbir', ), (4, 1, 2), 'false colour IR-R-G from RGBIR bands 4, 1, 2'),
        'rgbir': Recipe(('rgbir', ), (1, 2, 3, 4), 'all four bands R, G, B, IR as released'),
        'rgb': Recipe(('rgbir', 'rgb'), (1, 2, 3), 'true colour R, G, B (bands 1-3 of RGBIR)'),
        **_HEIGHT_RECIPES,
    },
    splits={
        'train': ('2_10', '2_11', '2_12', '3_10', '3_11', '3_12', '4_10', '4_11', '4_12',
                  '5_10', '5_11', '5_12', '6_10', '6_11', '6_12', '6_7', '6_8', '6_9',
                  '7_10', '7_11', '7_12', '7_7', '7_8', '7_9'),
        'val': ('5_15', '6_15', '6_13', '3_13', '4_14', '6_14', '5_14', '2_13', '4_15',
                '2_14', '5_13', '4_13', '3_14', '7_13'),
    },
)

VAIHINGEN = CityLayout('vaihingen', 'area{area}', _V, sources={
        'top': SourceSpec('top', (rf'^top_mosaic_09cm_{_V}{_IMG}', ), 'top',
                          'top_mosaic_09cm_area{area}.tif',
                          folders=(r'^(top|irrg|images?)$', )),
        'dsm': SourceSpec('dsm', (rf'^dsm_09cm_matching_{_V}{_IMG}', ), 'dsm',
                          'dsm_09cm_matching_area{area}.tif'),
        'ndsm': SourceSpec('ndsm', (rf'^dsm_09cm_matching_{_V}_normali[sz]ed(_\w+)?{_NDSM_EXT}',
                                    rf'^n_?dsm_09cm_matching_{_V}{_NDSM_EXT}'), 'ndsm',
                           'dsm_09cm_matching_area{area}_normalized.jpg'),
        # the full labels share the TOP's file names: the folder tells them apart
        **_label_sources(rf'^top_mosaic_09cm_{_V}', 'gts_for_participants',
                         'gts_eroded_for_participants', 'top_mosaic_09cm_area{area}',
                         folders=(r'^(?!.*(eroded|noboundary)).*(gts|ground_?truth|label)', )),
    },
    recipes={
        'rgir': Recipe(('top', ), (1, 2, 3), 'false colour IR-R-G, the TOP as released'),
        **_HEIGHT_RECIPES,
    },
    splits={
        'train': ('area1', 'area11', 'area13', 'area15', 'area17', 'area21', 'area23',
                  'area26', 'area28', 'area3', 'area30', 'area32', 'area34', 'area37',
                  'area5', 'area7'),
        'val': ('area6', 'area24', 'area35', 'area16', 'area14', 'area22', 'area10',
                'area4', 'area2', 'area20', 'area8', 'area31', 'area33', 'area27',
                'area38', 'area12', 'area29'),
    },
)

LAYOUTS: Dict[str, CityLayout] = {'potsdam': POTSDAM, 'vaihingen': VAIHINGEN}


def get_layout(city: str) -> CityLayout:
    try:
        return LAYOUTS[city.lower()]
    except KeyError:
        raise ValueError(f'unknown ISPRS city {city!r}; choose from {sorted(LAYOUTS)}') from None


@dataclass
class ReleaseIndex:
    """What a release folder holds: ``files[tile][source]`` → path, plus what was seen."""

    root: str
    layout: CityLayout
    files: Dict[str, Dict[str, str]]
    folders: List[str]
    unmatched: int

    def describe_tile(self, tile: str) -> str:
        found = self.files.get(tile, {})
        return ', '.join(f'{k}: {os.path.relpath(v, self.root)}' for k, v in sorted(found.items())
                         ) or 'nothing'

    def tiles_with(self, source: str) -> List[str]:
        return sorted(t for t, f in self.files.items() if source in f)


def _match(spec: SourceSpec, folder: str, name: str) -> Optional[Tuple[int, 're.Match']]:
    if spec.folders is not None and not any(re.search(p, folder, re.I) for p in spec.folders):
        return None
    for rank, pattern in enumerate(spec.files):
        m = re.search(pattern, name, re.I)
        if m:
            return rank, m
    return None


def index_release(root: str, layout: CityLayout) -> ReleaseIndex:
    """Walk ``root`` once and file every release file under its tile and source.

    Two files of the same tile and source matched by equally preferred patterns
    are an error (the message lists both), since picking one silently could mix
    copies of the release.
    """
    if not os.path.isdir(root):
        raise ISPRSLayoutError(f'release folder {root} does not exist')
    best: Dict[Tuple[str, str], Tuple[int, List[str]]] = {}
    folders, unmatched = [], 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith('.'))
        folders.append(os.path.relpath(dirpath, root))
        parent = os.path.basename(dirpath)
        for name in sorted(filenames):
            hit = False
            for key, spec in layout.sources.items():
                found = _match(spec, parent, name)
                if found is None:
                    continue
                hit = True
                rank, m = found
                slot = (layout.tile_id(m), key)
                path = os.path.join(dirpath, name)
                old = best.get(slot)
                if old is None or rank < old[0]:
                    best[slot] = (rank, [path])
                elif rank == old[0]:
                    old[1].append(path)
            unmatched += not hit
    files: Dict[str, Dict[str, str]] = {}
    for (tile, key), (_, paths) in sorted(best.items()):
        if len(paths) > 1:
            raise ISPRSLayoutError(
                f'{layout.name} tile {tile}: several {key!r} files match equally well: '
                f'{paths}; remove the extra copies or pass a more specific pattern')
        files.setdefault(tile, {})[key] = paths[0]
    return ReleaseIndex(root, layout, files, folders, unmatched)
