"""A VRT mosaic of many scene rasters, written as XML (no GDAL tools needed)."""
import os
from typing import List, Sequence, Tuple
from xml.sax.saxutils import escape

import rasterio

__all__ = ['write_vrt']


def write_vrt(paths: Sequence[str], out_path: str) -> Tuple[str, List[str]]:
    """A VRT mosaic of single-band rasters sharing the first one's CRS and pixel size
    (written as XML, no GDAL tools needed); returns it and the rasters left out."""
    infos, left_out = [], []
    for path in paths:
        with rasterio.open(path) as src:
            infos.append((path, src.crs, src.transform, src.width, src.height, src.nodata,
                          src.dtypes[0], src.colormap(1) if src.dtypes[0] == 'uint8' and
                          src.tags(1).get('CLASS_NAMES') else None, src.descriptions[0]))
    first = infos[0]
    res = (first[2].a, first[2].e)
    kept = [i for i in infos if i[1] == first[1] and (i[2].a, i[2].e) == res]
    left_out = [i[0] for i in infos if i not in kept]
    left = min(i[2].c for i in kept)
    top = max(i[2].f for i in kept)
    right = max(i[2].c + i[3] * res[0] for i in kept)
    bottom = min(i[2].f + i[4] * res[1] for i in kept)
    width, height = round((right - left) / res[0]), round((bottom - top) / res[1])
    gt = f'{left!r}, {res[0]!r}, 0.0, {top!r}, 0.0, {res[1]!r}'
    dtype = {'uint8': 'Byte', 'uint32': 'UInt32', 'float32': 'Float32'}[first[6]]
    folder = os.path.dirname(os.path.abspath(out_path))
    lines = [f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}">',
             f'  <SRS>{escape(first[1].to_wkt())}</SRS>', f'  <GeoTransform>{gt}</GeoTransform>',
             f'  <VRTRasterBand dataType="{dtype}" band="1">']
    if first[8]:
        lines.append(f'    <Description>{escape(first[8])}</Description>')
    if first[5] is not None:
        lines.append(f'    <NoDataValue>{first[5]!r}</NoDataValue>')
    if first[7]:
        lines += ['    <ColorInterp>Palette</ColorInterp>', '    <ColorTable>']
        lines += [f'      <Entry c1="{c[0]}" c2="{c[1]}" c3="{c[2]}" c4="{c[3]}"/>'
                  for _, c in sorted(first[7].items())]
        lines.append('    </ColorTable>')
    for path, _, t, w, h, nodata, *_ in kept:
        x0, y0 = round((t.c - left) / res[0]), round((t.f - top) / res[1])
        rel = os.path.relpath(os.path.abspath(path), folder)
        lines += ['    <ComplexSource>',
                  f'      <SourceFilename relativeToVRT="1">{escape(rel)}</SourceFilename>',
                  '      <SourceBand>1</SourceBand>',
                  f'      <SrcRect xOff="0" yOff="0" xSize="{w}" ySize="{h}"/>',
                  f'      <DstRect xOff="{x0}" yOff="{y0}" xSize="{w}" ySize="{h}"/>']
        if nodata is not None:
            lines.append(f'      <NODATA>{nodata!r}</NODATA>')
        lines.append('    </ComplexSource>')
    lines += ['  </VRTRasterBand>', '</VRTDataset>', '']
    with open(out_path, 'w') as f:
        f.write('\n'.join(lines))
    return out_path, left_out
