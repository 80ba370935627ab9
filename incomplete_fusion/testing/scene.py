"""One larger synthetic scene whose modalities lie on DIFFERENT grids (scene inference)."""
import os.path as osp
from typing import Dict

import numpy as np
from affine import Affine

from .dfc2023 import DFC_PIXEL_M, dfc2023_content
from .quadruplet import IGNORE_INDEX, QUAD_PIXEL_M, quadruplet_content
from .rasters import ellipse_hole, tile_transform, write_tif

def make_scene(out_dir: str,
               layout: str = 'dfc2023',
               size: int = 1024,
               seed: int = 0,
               coarse_factor: int = 2,
               nodata_hole: bool = True,
               hole_fraction: float = 0.08) -> Dict[str, str]:
    """Write one larger scene, one GeoTIFF per modality, on DIFFERENT grids.

    DFC2023 layout: ``rgb.tif`` (0.5 m, full extent, optional cloud hole = nodata),
    ``sar.tif`` at ``coarse_factor`` × coarser resolution covering the scene minus a
    strip on the west, ``dsm.tif`` at full resolution covering the scene minus a strip
    on the south, and ``buildings.tif`` (uint8 instance-free ground truth, 1 = building).
    Quadruplet layout: ``s2.tif``, ``s1.tif`` (coarser), ``dem.tif`` (offset extent),
    ``dw.tif`` and ``label.tif``. Areas a modality does not cover are missing (NaN
    after loading onto the reference grid).

    Returns:
        Modality name (and ``'label'``/``'buildings'``) → file path.
    """
    rng = np.random.default_rng([seed, 7, size])
    if layout == 'dfc2023':
        content = dfc2023_content(rng, size)
        pixel = DFC_PIXEL_M
        arrays = dict(rgb=(content['rgb'].transpose(2, 0, 1), 0, False),
                      sar=(content['sar'], None, True),
                      dsm=(content['dsm'], -9999.0, False),
                      buildings=((content['buildings'] > 0).astype(np.uint8), None, False))
        optical, coarse_name, cropped_name, label_name = 'rgb', 'sar', 'dsm', 'buildings'
    elif layout == 'quadruplet':
        content = quadruplet_content(rng, size)
        pixel = QUAD_PIXEL_M
        arrays = dict(s2=(content['s2'], 0, False), s1=(content['s1'], None, True),
                      dem=(content['dem'], -9999.0, False), dw=(content['dw'], None, False),
                      label=(content['label'], IGNORE_INDEX, False))
        optical, coarse_name, cropped_name, label_name = 's2', 's1', 'dem', 'label'
    else:
        raise ValueError(f"layout must be 'dfc2023' or 'quadruplet', got {layout!r}")
    transform = tile_transform(rng, pixel)
    if nodata_hole:
        hole = ellipse_hole(rng, (size, size), hole_fraction)
        arrays[optical][0][:, hole] = 0
    paths = {}
    strip = size // 8
    for name, (data, nodata, coarse) in arrays.items():
        path = osp.join(out_dir, f'{name}.tif')
        arr = data[None] if data.ndim == 2 else data
        if name == coarse_name:
            # Coarser pixels (block average), and the western strip is not covered.
            f = coarse_factor
            arr = arr[:, :, strip:]
            c, hh, ww = arr.shape
            arr = arr[:, :hh - hh % f, :ww - ww % f]
            arr = arr.reshape(c, hh // f, f, ww // f, f).mean((2, 4)).astype(data.dtype)
            t = transform @ Affine.translation(strip, 0) @ Affine.scale(f)
        elif name == cropped_name:
            arr = arr[:, :size - strip]
            t = transform
        else:
            t = transform
        write_tif(path, arr, t, nodata=nodata)
        paths[name] = path
    paths['label'] = paths.pop(label_name)
    return paths
