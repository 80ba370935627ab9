"""Instance polygons out: a GeoJSON FeatureCollection or a GeoPackage layer.

Features are handed over one at a time (GeoJSON-like dicts in map coordinates of
the output CRS) and written as they come: streamed into the GeoJSON, or buffered
and appended to the GeoPackage layer in chunks of :data:`GPKG_CHUNK` features
(pyogrio, i.e. GDAL's GPKG driver), so memory does not grow with the number of
instances. Both are written under a temporary name and appear only complete.
"""
import importlib.util
import json
import os
from typing import List, Optional

__all__ = ['FeatureWriter', 'VECTOR_FORMATS', 'VECTOR_SUFFIX']

VECTOR_FORMATS = ('geojson', 'gpkg')
VECTOR_SUFFIX = {'geojson': '.geojson', 'gpkg': '.gpkg'}
GPKG_CHUNK = 1024
# attribute name -> (GPKG type): every feature carries these properties
FIELDS = (('id', 'int64'), ('score', 'float64'), ('label', 'int64'), ('class', 'str'),
          ('pixels', 'int64'), ('area', 'float64'))


def _geojson_crs(crs) -> Optional[dict]:
    epsg = crs.to_epsg() if crs is not None else None
    name = f'urn:ogc:def:crs:EPSG::{epsg}' if epsg else crs.to_wkt()
    return dict(type='name', properties=dict(name=name))


class FeatureWriter:
    """Write features to ``path`` as ``format`` (``'geojson'`` or ``'gpkg'``) in ``crs``.

    GeoPackage: one layer (``layer``, default the file's stem), geometry type
    MultiPolygon (a single polygon is stored as a one-part MultiPolygon, as GDAL's
    ``PROMOTE_TO_MULTI`` does), fields :data:`FIELDS`.
    """

    def __init__(self, path, crs, format: str = 'geojson', layer: Optional[str] = None):
        if format not in VECTOR_FORMATS:
            raise ValueError(f'vector format must be one of {VECTOR_FORMATS}, got {format!r}')
        if format == 'gpkg':
            if importlib.util.find_spec('pyogrio') is None:
                raise ImportError('GeoPackage output needs pyogrio (pinned in requirements.txt; '
                                  'run tools/setup_env.sh)')
        self.path, self.crs, self.format = os.fspath(path), crs, format
        self.layer = layer or os.path.splitext(os.path.basename(self.path))[0]
        folder, name = os.path.split(self.path)
        self.part_path = os.path.join(folder, f'.{name}.part-{os.getpid()}{VECTOR_SUFFIX[format]}')
        self.count = 0
        self._chunk: List[dict] = []
        self._file = None

    def __enter__(self) -> 'FeatureWriter':
        os.makedirs(os.path.dirname(os.path.abspath(self.path)) or '.', exist_ok=True)
        if self.format == 'geojson':
            self._file = open(self.part_path, 'w')
            header = dict(type='FeatureCollection', crs=_geojson_crs(self.crs))
            self._file.write(json.dumps(header)[:-1] + ', "features": [\n')
        return self

    def write(self, feature: dict) -> None:
        """One ``{'type': 'Feature', 'id', 'geometry', 'properties'}`` dict."""
        if self.format == 'geojson':
            if self.count:
                self._file.write(',\n')
            self._file.write(json.dumps(feature))
        else:
            self._chunk.append(feature)
            if len(self._chunk) >= GPKG_CHUNK:
                self._write_chunk()
        self.count += 1

    def _write_chunk(self) -> None:
        import numpy as np
        import shapely.geometry
        from pyogrio.raw import write
        features, self._chunk = self._chunk, []
        geometries = []
        for f in features:
            geom = shapely.geometry.shape(f['geometry'])
            if geom.geom_type == 'Polygon':
                geom = shapely.geometry.MultiPolygon([geom])
            geometries.append(shapely.to_wkb(geom))
        columns = []
        for name, kind in FIELDS:
            values = [f['properties'].get(name) for f in features]
            if kind == 'str':
                columns.append(np.array(['' if v is None else str(v) for v in values],
                                        dtype=object))
            else:
                columns.append(np.array(values, dtype=kind))
        write(self.part_path, np.array(geometries, dtype=object), columns,
              [n for n, _ in FIELDS], layer=self.layer, driver='GPKG',
              geometry_type='MultiPolygon', crs=self.crs.to_wkt() if self.crs else None,
              append=os.path.exists(self.part_path))

    def __exit__(self, exc_type, *exc) -> None:
        try:
            if self.format == 'geojson':
                self._file.write('\n]}\n')
                self._file.close()
            elif exc_type is None and (self._chunk or not os.path.exists(self.part_path)):
                self._write_chunk()  # also creates the (empty) layer
            if exc_type is None:
                os.replace(self.part_path, self.path)
        finally:
            if os.path.exists(self.part_path):
                os.remove(self.part_path)
