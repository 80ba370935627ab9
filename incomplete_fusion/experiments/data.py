"""The generated DFC2023-style dataset of the demo and the studies, through the one
entry point :func:`incomplete_fusion.testing.generate`, with an optional test split
carved from the generated validation tiles. docs/results.md, "Robustness study".
"""
import json
import os
import os.path as osp


def make_dfc2023_data(data_root: str, num_train: int, num_val: int, tile_size: int,
                      seed: int, num_test: int = 0) -> None:
    """The generated DFC2023-style dataset of the demo and the studies (reused if present).

    A fifth of the RGB tiles get a cloud hole (nodata), so partial absence is
    part of the data, not only whole missing modalities. With ``num_test``, the
    generated validation tiles are ``num_val + num_test`` and the last ``num_test``
    of them form a test split (``annotations/buildings_only_test.json``, images in
    ``val/``): tiles of the same seed that no run selects anything on. The settings
    are kept in ``data.json``; a folder made with other settings is refused.
    """
    from incomplete_fusion.testing import generate
    settings = dict(layout='dfc2023', num_train=num_train, num_val=num_val,
                    num_test=num_test, size=tile_size, seed=seed, cloud_holes=0.2)
    marker = osp.join(data_root, 'data.json')
    if osp.isdir(data_root):
        if osp.exists(marker):
            with open(marker) as f:
                found = json.load(f)
            if found != settings:
                raise RuntimeError(f'{data_root} was generated with {found}, not {settings}; '
                                   f'use another work dir or remove it')
        elif num_test:
            raise RuntimeError(f'{data_root} has no test split; remove it to regenerate')
        print(f'reusing the generated dataset in {data_root}')
        return
    print(f'generating {num_train}+{num_val}+{num_test} synthetic DFC2023 tiles of '
          f'{tile_size} px in {data_root}', flush=True)
    partial = data_root.rstrip('/') + '.partial'
    generate('dfc2023', partial, overwrite=True, num_train=num_train,
             num_val=num_val + num_test, size=tile_size, seed=seed, cloud_holes=0.2)
    if num_test:
        _split_test(osp.join(partial, 'annotations'), num_val)
    with open(osp.join(partial, 'data.json'), 'w') as f:
        json.dump(settings, f)
    os.rename(partial, data_root.rstrip('/'))


def _split_test(annotations: str, num_val: int) -> None:
    """Move the images after the first ``num_val`` of the val COCO file to a test file."""
    path = osp.join(annotations, 'buildings_only_val.json')
    with open(path) as f:
        coco = json.load(f)
    for split, images in (('val', coco['images'][:num_val]), ('test', coco['images'][num_val:])):
        ids = {image['id'] for image in images}
        part = dict(coco, images=images,
                    annotations=[a for a in coco['annotations'] if a['image_id'] in ids])
        with open(osp.join(annotations, f'buildings_only_{split}.json'), 'w') as f:
            json.dump(part, f)
