"""Polygon masks from vector files other than GeoJSON (GeoPackage, Shapefile, FlatGeobuf,
...), read with fiona when it is installed: glacier outlines come as RGI Shapefiles or
GeoPackages, and a user should not have to convert them."""

from __future__ import annotations

import os

from ..errors import CoregInputError
from .masks import PolygonMask

#: Suffixes that name vector data only; anything else may be a raster (a GeoPackage can
#: hold either, so ``.gpkg`` is tried as vector first and falls back to a raster).
VECTOR_ONLY_SUFFIXES = (".shp", ".fgb", ".kml", ".gml", ".sqlite", ".gdb", ".tab", ".mif")


def vector_mask(path: str | os.PathLike) -> PolygonMask | None:
    """The polygons of the vector file ``path`` in its CRS, or None when it holds no
    vector layer (a raster mask). All layers are read; other geometries are refused."""
    path = os.fspath(path)
    try:
        import fiona
        from fiona.errors import DriverError
    except ImportError:
        if path.lower().endswith(VECTOR_ONLY_SUFFIXES):
            raise CoregInputError(
                f"Mask '{path}' is a vector file, and reading it needs fiona (Debian: "
                f"python3-fiona; pip install fiona), or save the polygons as GeoJSON."
            ) from None
        return None
    try:
        layers = fiona.listlayers(path)
    except (DriverError, ValueError, OSError):
        if path.lower().endswith(VECTOR_ONLY_SUFFIXES):
            raise CoregInputError(f"Mask '{path}' cannot be read as a vector file.") from None
        return None
    geometries: list[dict] = []
    crs = None
    for layer in layers:
        with fiona.open(path, layer=layer) as source:
            crs = crs or (source.crs_wkt or None)
            geometries.extend(_polygon(feature, path) for feature in source
                              if feature["geometry"] is not None)
    if not layers:
        return None
    return PolygonMask(tuple(geometries), crs or "EPSG:4326")


def _polygon(feature, path: str) -> dict:
    geometry = feature["geometry"]
    kind = geometry["type"]
    if kind not in ("Polygon", "MultiPolygon"):
        raise CoregInputError(f"Mask '{path}' holds a {kind!r}; masks are polygons.")
    return {"type": kind, "coordinates": geometry["coordinates"]}
