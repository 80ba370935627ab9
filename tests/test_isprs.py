"""ISPRS Potsdam / Vaihingen: release layout, converter, datasets (synthetic releases).

The synthetic releases (``incomplete_fusion.testing.isprs``) use the real folder and
file names; tiles are 320×320 and cut into 128-pixel patches with stride 96, so
patches overlap and the last one is flush with the tile edge (3×3 per tile).
"""
import os.path as osp
import warnings

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from incomplete_fusion.datasets.isprs_convert import convert_isprs, patch_starts
from incomplete_fusion.datasets.isprs_labels import colours_to_index, index_to_colours
from incomplete_fusion.datasets.isprs_layout import (CLASSES, PALETTE, ISPRSLayoutError,
                                                     get_layout)
from incomplete_fusion.testing.isprs import make_isprs

SIZE, STRIDE, TILE = 128, 96, 320
MARKER = (100, 130)  # (row, col): inside patches y0/y96 × x96 (overlap), 8×8 pixels
CITIES = ('potsdam', 'vaihingen')


def _read(path, window=None):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        with rasterio.open(path) as src:
            return src.read(window=window), src.crs, src.transform


@pytest.fixture(scope='module', params=CITIES)
def converted(request, tmp_path_factory):
    city = request.param
    root = tmp_path_factory.mktemp(city)
    release = make_isprs(str(root / 'release'), city, size=TILE, marker=MARKER)
    summary = convert_isprs(str(root / 'release'), str(root / 'out'), city, size=SIZE,
                            stride=STRIDE, splits=release['splits'], modalities=None)
    return dict(city=city, release=str(root / 'release'), out=str(root / 'out'),
                files=release['files'], splits=release['splits'], summary=summary)


def _patches(conv, split='train'):
    with open(osp.join(conv['out'], 'splits', f'{split}.txt')) as f:
        return [line.strip().split('/', 1)[1] for line in f if line.strip()]


def _source(conv, tile, key):
    return osp.join(conv['release'], conv['files'][tile][key])


def test_patch_starts():
    assert patch_starts(320, 128, 96) == [0, 96, 192]
    assert patch_starts(300, 128, 128) == [0, 128, 172]
    assert patch_starts(100, 128, 128) == [0]
    assert patch_starts(256, 128, 128) == [0, 128]


def test_colour_round_trip_and_unknown_colours():
    index = np.array([[0, 1, 2, 3], [4, 5, 255, 0]], np.uint8)
    assert np.array_equal(colours_to_index(index_to_colours(index)), index)
    rgb = index_to_colours(index)
    rgb[:, 0, 0] = (12, 250, 3)
    with pytest.raises(ValueError, match=r'label\.tif: 1 pixel.*\(12, 250, 3\)'):
        colours_to_index(rgb, where='label.tif')
    assert colours_to_index(rgb, 'ignore')[0, 0] == 255
    rgb[:, 0, 0] = (250, 250, 3)  # JPEG-ish yellow → car
    assert colours_to_index(rgb, 'nearest')[0, 0] == CLASSES.index('car')


def test_counts_and_layout(converted):
    n = len(patch_starts(TILE, SIZE, STRIDE))**2
    for split, tiles in converted['splits'].items():
        names = _patches(converted, split)
        assert len(names) == n * len(tiles) == converted['summary']['splits'][split]['num_samples']
        for name in names:
            for folder in ('rgir', 'ndsm', 'label', 'label_eroded'):
                assert osp.isfile(osp.join(converted['out'], split, folder, name + '.tif'))
    assert converted['summary']['city'] == converted['city']


def test_patches_share_the_grid_and_cut_the_same_window(converted):
    layout = get_layout(converted['city'])
    optical = 'rgbir' if converted['city'] == 'potsdam' else 'top'
    bands = layout.recipes['rgir'].bands
    for name in _patches(converted)[:5]:
        tile, rest = name.split('_y')
        y, x = (int(v) for v in rest.split('_x'))
        win = Window(x, y, SIZE, SIZE)
        grids = {}
        for folder in ('rgir', 'ndsm', 'label', 'label_eroded'):
            data, crs, transform = _read(osp.join(converted['out'], 'train', folder,
                                                  name + '.tif'))
            grids[folder] = (data.shape[1:], crs, transform)
            src = {'rgir': optical, 'ndsm': 'ndsm', 'label': 'label',
                   'label_eroded': 'label_eroded'}[folder]
            if folder == 'rgir':
                expected = _read(_source(converted, tile, src), win)[0][[b - 1 for b in bands]]
            elif folder == 'ndsm':
                import cv2
                expected = cv2.imread(_source(converted, tile, src),
                                      cv2.IMREAD_UNCHANGED)[None, y:y + SIZE, x:x + SIZE]
            else:
                expected = colours_to_index(_read(_source(converted, tile, src), win)[0])[None]
            np.testing.assert_array_equal(data, expected, err_msg=f'{folder} {name}')
        assert len(set(grids.values())) == 1, grids


def test_marker_lands_on_the_same_pixels_everywhere(converted):
    r, c = MARKER
    hits = 0
    for name in _patches(converted):
        tile, rest = name.split('_y')
        y, x = (int(v) for v in rest.split('_x'))
        if not (y <= r and r + 8 <= y + SIZE and x <= c and c + 8 <= x + SIZE):
            continue
        hits += 1
        rr, cc = slice(r - y, r - y + 8), slice(c - x, c - x + 8)
        out = lambda f: _read(osp.join(converted['out'], 'train', f, name + '.tif'))[0]  # noqa
        rgir, ndsm, label, eroded = (out(f) for f in ('rgir', 'ndsm', 'label', 'label_eroded'))
        assert (rgir[:, rr, cc] == np.array([255, 255, 0])[:, None, None]).all()  # IR, R, G
        assert ndsm[0, rr, cc].min() > 230  # 25.5 m in an 8-bit JPEG
        assert (label[0, rr, cc] == CLASSES.index('clutter')).all()
        assert (eroded[0, r - y + 2:r - y + 6, c - x + 2:c - x + 6] == 5).all()
    assert hits >= 2 * len(converted['splits']['train'])  # overlapping patches, every tile


def test_colour_mapping_exact_on_known_pixels(converted):
    tile = converted['splits']['train'][0]
    colours = _read(_source(converted, tile, 'label'))[0]
    eroded_src = _read(_source(converted, tile, 'label_eroded'))[0]
    name = f'{tile}_y0_x0'
    label = _read(osp.join(converted['out'], 'train', 'label', name + '.tif'))[0][0]
    eroded = _read(osp.join(converted['out'], 'train', 'label_eroded', name + '.tif'))[0][0]
    seen = set()
    for index, colour in enumerate(PALETTE):
        ys, xs = np.nonzero((colours[:, :SIZE, :SIZE] == np.array(colour)[:, None, None]).all(0))
        for yy, xx in list(zip(ys, xs))[:3]:
            assert label[yy, xx] == index
            seen.add(index)
    assert seen >= {0, 1, 2, 3}
    black = (eroded_src[:, :SIZE, :SIZE] == 0).all(0)
    assert black.any() and (eroded[black] == 255).all() and (label[black] != 255).all()
    assert (eroded[~black] == label[~black]).all()


def test_modalities_are_complementary(converted):
    """Height separates buildings from streets, infrared vegetation from pavement."""
    lab, ir, nd = [], [], []
    for name in _patches(converted)[::3]:
        out = lambda f: _read(osp.join(converted['out'], 'train', f, name + '.tif'))[0]  # noqa
        lab.append(out('label')[0].ravel())
        ir.append(out('rgir')[0].ravel())
        nd.append(out('ndsm')[0].ravel())
    lab, ir, nd = (np.concatenate(v).astype(float) for v in (lab, ir, nd))
    assert nd[lab == 1].mean() > 40 > 5 > nd[lab == 0].mean()
    assert ir[lab == 2].mean() > 170 > 110 > ir[lab == 0].mean()


def test_georeferencing_kept(converted):
    tile = converted['splits']['train'][0]
    _, src_crs, src_transform = _read(_source(converted, tile,
                                             'rgbir' if converted['city'] == 'potsdam'
                                             else 'top'))
    assert src_crs is not None
    name = f'{tile}_y96_x192'
    for folder in ('rgir', 'ndsm', 'label'):  # nDSM JPEG (and Vaihingen labels): no georef
        _, crs, transform = _read(osp.join(converted['out'], 'train', folder, name + '.tif'))
        assert crs == src_crs
        assert transform.almost_equals(window_transform(Window(192, 96, SIZE, SIZE),
                                                        src_transform))


def test_whole_tiles_and_ungeoreferenced_release(tmp_path):
    rel = make_isprs(str(tmp_path / 'rel'), 'vaihingen', tiles=['area1'], size=(150, 170),
                     georeferenced=False)
    convert_isprs(str(tmp_path / 'rel'), str(tmp_path / 'out'), 'vaihingen', size=64,
                  splits={'val': ['area1']}, whole_tiles=['val'], modalities=['rgir', 'dsm'])
    data, crs, transform = _read(str(tmp_path / 'out' / 'val' / 'dsm' / 'area1.tif'))
    source = _read(osp.join(str(tmp_path / 'rel'), rel['files']['area1']['dsm']))[0]
    assert crs is None and data.dtype == np.float32 and np.array_equal(data, source)
    patches = convert_isprs(str(tmp_path / 'rel'), str(tmp_path / 'out2'), 'vaihingen', size=64,
                            splits={'train': ['area1']})
    assert patches['splits']['train']['num_samples'] == 9
    _, crs, transform = _read(str(tmp_path / 'out2' / 'train' / 'rgir' / 'area1_y86_x64.tif'))
    assert crs is None and (transform.c, transform.f) == (64, 86)  # pixel offsets in the tile


def test_tile_missing_its_ndsm_names_tile_and_modality(tmp_path):
    make_isprs(str(tmp_path / 'rel'), 'potsdam', tiles=['2_10', '2_11'], size=64,
               omit={'2_11': ['ndsm']})
    with pytest.raises(ISPRSLayoutError) as info:
        convert_isprs(str(tmp_path / 'rel'), str(tmp_path / 'out'), 'potsdam', size=32,
                      splits={'train': ['2_10', '2_11']})
    message = str(info.value)
    assert "tile 2_11 (split train) is missing modality 'ndsm'" in message
    assert 'dsm_potsdam_02_11_normalized_lastools.jpg' in message  # what was expected
    assert 'top_potsdam_2_11_RGBIR.tif' in message  # what was found for the tile
    assert '2_10' in message  # the nDSM exists for other tiles
    # a listed tile absent from the copy is skipped with a warning; odd names via patterns
    with pytest.warns(UserWarning, match='2_12'):
        s = convert_isprs(str(tmp_path / 'rel'), str(tmp_path / 'out'), 'potsdam', size=32,
                          splits={'train': ['2_10', '2_12']})
    assert s['splits']['train']['num_samples'] == 4


def test_cli_patterns_and_list(tmp_path, capsys):
    import importlib.util
    import shutil
    path = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools', 'convert_isprs.py')
    spec = importlib.util.spec_from_file_location('tool_convert_isprs', path)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    main = tool.main
    rel = tmp_path / 'rel'
    make_isprs(str(rel), 'potsdam', tiles=['2_10', '2_11'], size=64, omit={'2_11': ['ndsm']})
    with pytest.raises(SystemExit, match=r"tile 2_11 .* missing modality 'ndsm'"):
        main(['potsdam', str(rel), str(tmp_path / 'out'), '--split', 'train=2_10,2_11'])
    shutil.copy(rel / '1_DSM_normalisation' / 'dsm_potsdam_02_10_normalized_lastools.jpg',
                rel / '1_DSM_normalisation' / 'nDSM-2-11.jpg')  # a copy with its own names
    pattern = 'ndsm=^nDSM-(?P<a>\\d+)-(?P<b>\\d+)\\.jpg$'
    assert set(main(['potsdam', str(rel), '--list', '--pattern', pattern])['2_11']) == {
        'rgbir', 'rgb', 'dsm', 'ndsm', 'label', 'label_eroded'}
    summary = main(['potsdam', str(rel), str(tmp_path / 'out'), '--size', '32', '--split',
                    'train=2_10,2_11', '--pattern', pattern, '--modalities', 'rgir', 'ndsm',
                    'rgbir'])
    assert summary['splits']['train']['num_samples'] == 8
    assert summary['splits']['train']['tiles']['2_11']['ndsm'].endswith('nDSM-2-11.jpg')
    assert len(summary['stats']['rgbir']['mean']) == 4


def _dataset_class(city):
    from incomplete_fusion.registry import DATASETS
    return DATASETS.get(f'ISPRS{city.capitalize()}Multimodal')


def _bound(dataset, names=('rgir', 'ndsm')):
    """The dataset with the run's modalities bound, as the loops do."""
    from incomplete_fusion.binding import bind
    from incomplete_fusion.modalities import ModalitySet
    channels = dict(rgir=3, ndsm=1, dsm=1)
    bind(ModalitySet.from_config([dict(name=n, channels=channels[n]) for n in names]), dataset)
    return dataset


def test_datasets_yield_paths_labels_and_classes(converted):
    cls = _dataset_class(converted['city'])
    ds = _bound(cls(data_root=converted['out'], ann_file='splits/val.txt', test_mode=True))
    assert len(ds) == len(_patches(converted, 'val'))
    info = ds.get_data_info(0)
    assert set(info['modality_paths']) == {'rgir', 'ndsm'}
    assert all(osp.isfile(p) for p in info['modality_paths'].values())
    assert info['seg_map_path'].endswith(osp.join('val', 'label', osp.basename(info['img_path'])))
    assert ds.metainfo['classes'] == CLASSES[:5] and len(ds.metainfo['palette']) == 5
    assert info['label_lut'][5] == 255 and info['label_map'][5] == 255
    assert not info['reduce_zero_label'] and info['tile'] == converted['splits']['val'][0]
    eroded = _bound(cls(data_root=converted['out'], ann_file='splits/val.txt', labels='eroded',
                        ignore_clutter=False))
    info = eroded.get_data_info(0)
    assert osp.join('val', 'label_eroded') in info['seg_map_path']
    assert eroded.metainfo['classes'] == CLASSES and info['label_map'] is None
    with pytest.raises(ValueError, match='reduce_zero_label'):
        cls(data_root=converted['out'], reduce_zero_label=True)
    # a declared modality the converter did not write: the error lists what was found
    with pytest.raises(FileNotFoundError, match=r"'dsm'.*folders found: \['label', "):
        _bound(cls(data_root=converted['out'], ann_file='splits/val.txt'),
               ('rgir', 'ndsm', 'dsm'))


def test_both_label_loaders_ignore_clutter_alike(converted):
    from mmseg.datasets.transforms import LoadAnnotations

    from incomplete_fusion.datasets.transforms import LoadLabelRaster
    ds = _bound(_dataset_class(converted['city'])(data_root=converted['out'],
                                                  ann_file='splits/val.txt'))
    names = [osp.basename(ds.get_data_info(i)['img_path']) for i in range(len(ds))]
    info = ds.get_data_info(names.index(f"{converted['splits']['val'][0]}_y96_x96.tif"))
    raw = _read(info['seg_map_path'])[0][0]
    ours = LoadLabelRaster()(dict(info))['gt_seg_map']
    stock = LoadAnnotations()(dict(info))['gt_seg_map']
    np.testing.assert_array_equal(ours, stock)
    assert (raw == 5).any() and (ours[raw == 5] == 255).all()
    assert np.array_equal(ours[raw < 5], raw[raw < 5])
