"""Checks of COCO ``segmentation`` entries, run once when a dataset reads its json.

:func:`checked_segmentation` guarantees the documented behaviour instead of a bare
``TypeError`` deep in a transform, a silently ignored instance or a mask of the
wrong size: a flat list of numbers (even count, >= 6) is one polygon; an empty list
is left as it is; anything that cannot be a polygon, polygons with fewer than three
points, RLE whose ``size`` differs from the image's and unknown image ids raise
:class:`CocoAnnotationError` naming the json, annotation id, image id and fix.
Only the json's numbers are read (no mask is decoded).
See docs/user_guides/datasets/dfc2023.md.
"""
from numbers import Real
from typing import Iterable, Mapping, Optional

__all__ = ['CocoAnnotationError', 'checked_segmentation', 'check_coco_annotations']

_POLYGON_FORM = 'a polygon is a flat list [x1, y1, x2, y2, x3, y3, ...] of at least 3 points'


class CocoAnnotationError(ValueError):
    """A COCO annotation that cannot be read as a mask."""


def _is_number(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _error(source: str, ann: dict, problem: str, fix: str) -> CocoAnnotationError:
    return CocoAnnotationError(
        f'{source}: annotation id {ann.get("id")!r} (image id {ann.get("image_id")!r}): '
        f'{problem}. Fix: {fix}.')


def _check_polygons(polygons: list, source: str, ann: dict) -> list:
    if all(_is_number(v) for v in polygons):  # one flat polygon, as several tools write it
        if len(polygons) % 2 or len(polygons) < 6:
            raise _error(source, ann, f'segmentation is a flat list of {len(polygons)} '
                         'number(s), which cannot be a polygon',
                         f'{_POLYGON_FORM}; correct or remove the annotation')
        return [polygons]
    for k, polygon in enumerate(polygons):
        if not isinstance(polygon, (list, tuple)) or not all(_is_number(v) for v in polygon):
            raise _error(source, ann, f'polygon {k} is {_describe(polygon)}, not a flat list '
                         'of numbers', f'{_POLYGON_FORM} (not a list of [x, y] pairs); '
                         'segmentation is a list of such polygons')
        if len(polygon) % 2:
            raise _error(source, ann, f'polygon {k} has an odd number of coordinates '
                         f'({len(polygon)})', f'{_POLYGON_FORM}; correct or remove it')
        if len(polygon) < 6:
            raise _error(source, ann, f'polygon {k} has {len(polygon) // 2} point(s), '
                         'fewer than 3', 'give it at least 3 points or remove the polygon '
                         '(or the annotation, if it is its only polygon)')
    return polygons


def _check_rle(rle: Mapping, source: str, ann: dict, image: dict) -> Mapping:
    missing = [key for key in ('size', 'counts') if key not in rle]
    if missing:
        raise _error(source, ann, f'RLE segmentation lacks {missing[0]!r}',
                     "RLE is {'size': [height, width], 'counts': ...}")
    expected = [image.get('height'), image.get('width')]
    size = rle['size']
    if not isinstance(size, (list, tuple)) or [int(v) for v in size] != expected:
        raise _error(source, ann, f'RLE size {size!r} differs from the image\'s '
                     f'[height, width] {expected}',
                     're-encode the mask at the image size (or correct the image\'s height and '
                     'width in "images")')
    counts = rle['counts']
    if not isinstance(counts, (list, str, bytes)):
        raise _error(source, ann, f'RLE counts is {_describe(counts)}',
                     'counts is a list of run lengths or a compressed RLE string')
    if isinstance(counts, list) and sum(counts) != expected[0] * expected[1]:
        raise _error(source, ann, f'uncompressed RLE counts sum to {sum(counts)}, not '
                     f'height x width = {expected[0] * expected[1]}',
                     're-encode the mask at the image size')
    return rle


def _describe(value) -> str:
    text = repr(value)
    return f'{type(value).__name__} {text[:40]}{"..." if len(text) > 40 else ""}'


def checked_segmentation(ann: dict, image: Optional[dict], source: str):
    """``ann['segmentation']`` in a form pycocotools and mmdet take, or raise.

    Args:
        ann: one entry of the json's ``annotations``.
        image: its ``images`` entry (``None`` if the image id is unknown: an error).
        source: the json file, for the message.
    """
    segmentation = ann.get('segmentation')
    if image is None:
        raise _error(source, ann, f'image id {ann.get("image_id")!r} is not in "images"',
                     'add the image or remove the annotation')
    if segmentation is None or (isinstance(segmentation, list) and not segmentation):
        return segmentation
    if isinstance(segmentation, list):
        return _check_polygons(segmentation, source, ann)
    if isinstance(segmentation, Mapping):
        return _check_rle(segmentation, source, ann, image)
    raise _error(source, ann, f'segmentation is {_describe(segmentation)}',
                 'use a list of polygons or an RLE dict')


def check_coco_annotations(annotations: Iterable[dict], images: Iterable[dict],
                           source: str) -> None:
    """Check every annotation's segmentation and store the accepted form in place."""
    by_id = {image['id']: image for image in images}
    for ann in annotations:
        if 'segmentation' in ann:
            ann['segmentation'] = checked_segmentation(ann, by_id.get(ann.get('image_id')),
                                                       source)
