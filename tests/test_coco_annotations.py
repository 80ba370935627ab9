"""COCO segmentations as tools write them: flat lists accepted, malformed ones named.

Checked once when a DFC2023 dataset reads its json (instance and semantic), not per
sample; see ``incomplete_fusion/datasets/coco_checks.py`` and docs/user_guides/datasets/dfc2023.md.
"""
import json
import shutil

import cv2
import numpy as np
import pytest

from incomplete_fusion.datasets import DFC2023BuildingSegDataset, DFC2023InstanceDataset
from incomplete_fusion.datasets.coco_checks import CocoAnnotationError
from incomplete_fusion.datasets.dfc2023 import segmentation_to_mask
from incomplete_fusion.testing import polygon_to_rle
from test_data_datasets import det_pipeline, in_scope

POLYGON = [10.3, 12.0, 40.7, 15.2, 37.1, 44.9, 22.0, 50.5, 8.8, 30.1]
JSON = 'annotations/buildings_only_val.json'


def _with_annotations(tmp_path, dfc2023_root, make_segmentations):
    """A copy of the data whose val json holds one annotation per segmentation (ids 7, 8, ...)."""
    root = shutil.copytree(dfc2023_root, tmp_path / 'd')
    path = root / JSON
    coco = json.loads(path.read_text())
    image = coco['images'][0]
    segmentations = make_segmentations(image['height'], image['width'])
    coco['annotations'] = [
        dict(id=7 + i, image_id=image['id'], category_id=1, segmentation=seg, iscrowd=0,
             area=900.0, bbox=[8.8, 12.0, 31.9, 38.5]) for i, seg in enumerate(segmentations)]
    path.write_text(json.dumps(coco))
    return root, path, image


def _instance(root):
    return in_scope('mmdet', DFC2023InstanceDataset, data_root=str(root), ann_file=JSON,
                    data_prefix=dict(img='val/'), pipeline=det_pipeline())


def _semantic(root):
    return in_scope('mmseg', DFC2023BuildingSegDataset, data_root=str(root), ann_file=JSON,
                    data_prefix=dict(img_path='val/'), mask_cache_dir=str(root / 'cache'),
                    pipeline=[])


def test_flat_list_is_one_polygon_in_the_instance_dataset(tmp_path, dfc2023_root,
                                                          dfc2023_modality_specs, bound):
    root, _, _ = _with_annotations(tmp_path, dfc2023_root, lambda h, w: [POLYGON, [POLYGON]])
    ds = bound(_instance(root), dfc2023_modality_specs)
    masks = ds[0]['data_samples'].gt_instances.masks.masks  # pycocotools: bare TypeError before
    assert masks.shape[0] == 2 and masks[0].sum() > 500
    np.testing.assert_array_equal(masks[0], masks[1])


def test_flat_list_is_one_polygon_in_the_semantic_dataset(tmp_path, dfc2023_root):
    root, _, image = _with_annotations(tmp_path, dfc2023_root, lambda h, w: [POLYGON])
    ds = _semantic(root)
    info = next(ds.get_data_info(i) for i in range(len(ds))
                if ds.get_data_info(i)['img_id'] == image['id'])
    cached = cv2.imread(info['seg_map_path'], cv2.IMREAD_UNCHANGED)
    expected = segmentation_to_mask([POLYGON], image['height'], image['width'])
    assert expected.sum() > 500
    np.testing.assert_array_equal(cached, expected)


MALFORMED = {
    # name: (segmentations of annotations 7, 8; the bad one is 8), words the message holds
    'two-point polygon': (lambda h, w: [[POLYGON], [POLYGON, [1.0, 2.0, 5.0, 6.0]]],
                          ['polygon 1 has 2 point(s), fewer than 3', 'at least 3 points']),
    'short flat list': (lambda h, w: [POLYGON, [1.0, 2.0, 5.0, 6.0]],
                        ['flat list of 4 number(s), which cannot be a polygon',
                         'correct or remove the annotation']),
    'list of [x, y] points': (lambda h, w: [POLYGON, [[[1, 2], [5, 6], [9, 1]]]],
                              ['polygon 0 is list', 'not a list of [x, y] pairs']),
    'RLE of another size': (lambda h, w: [POLYGON, polygon_to_rle(POLYGON, h // 2, w)],
                            ['RLE size [32, 64] differs from', '[height, width] [64, 64]',
                             're-encode the mask at the image size']),
}


@pytest.mark.parametrize('build', [_instance, _semantic], ids=['instance', 'semantic'])
@pytest.mark.parametrize('case', list(MALFORMED))
def test_malformed_segmentation_is_named_when_the_dataset_is_built(tmp_path, dfc2023_root,
                                                                   case, build):
    segmentations, words = MALFORMED[case]
    root, path, image = _with_annotations(tmp_path, dfc2023_root, segmentations)
    with pytest.raises(CocoAnnotationError) as error:
        build(root)  # no sample read: the json is checked once, when it is read
    message = str(error.value)
    assert message.startswith(f'{path}: annotation id 8 (image id {image["id"]}):'), message
    for word in words + ['Fix:']:
        assert word in message, message
    assert isinstance(error.value, ValueError)


def test_valid_forms_pass_unchanged(tmp_path, dfc2023_root):
    """Polygon lists, compressed and uncompressed RLE and an empty list are accepted."""
    from incomplete_fusion.datasets.coco_checks import checked_segmentation
    image = dict(id=3, height=64, width=64)
    rle = polygon_to_rle(POLYGON, 64, 64)
    uncompressed = dict(size=[64, 64], counts=[100, 50, 64 * 64 - 150])
    for seg in ([POLYGON], rle, uncompressed, []):
        assert checked_segmentation(dict(id=1, image_id=3, segmentation=seg), image, 'x.json') \
            is seg
    assert segmentation_to_mask([], 64, 64).sum() == 0
    with pytest.raises(CocoAnnotationError, match='counts sum to 4095'):
        checked_segmentation(dict(id=1, image_id=3, segmentation=dict(
            size=[64, 64], counts=[100, 64 * 64 - 101])), image, 'x.json')
    with pytest.raises(CocoAnnotationError, match='image id 4 is not in "images"'):
        checked_segmentation(dict(id=1, image_id=4, segmentation=[POLYGON]), None, 'x.json')
