"""Reading swath inputs: the bands, their coordinate images (given, or the input's own
geolocation)."""

from __future__ import annotations

import contextlib
import warnings as pywarnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError, RasterioIOError

from ..errors import CoregInputError

#: GDAL block cache while reading swath bands, in bytes: rasterio hands GDAL_CACHEMAX to
#: GDALSetCacheMax64, which takes bytes (a plain 64 there is a 64-byte cache).
READ_CACHE_BYTES = 64 * 2**20



@contextlib.contextmanager
def open_swath(path: str):
    """``rasterio.open`` for swath rasters: netCDF rows in their native order (as the
    coordinate variables), and no warning that there is no geotransform (there never is)."""
    with pywarnings.catch_warnings():
        pywarnings.simplefilter("ignore", NotGeoreferencedWarning)
        # Whole bands are read once: GDAL's block cache would only hold a second copy.
        with rasterio.Env(GDAL_NETCDF_BOTTOMUP="NO", GDAL_CACHEMAX=READ_CACHE_BYTES), \
                rasterio.open(path) as ds:
            yield ds



def checked_bands(ds, bands: Sequence[int] | None, path: str, label: str = "Input"
                  ) -> list[int]:
    """``bands`` of the open swath ``ds`` (all of them if None), each checked to exist."""
    bands = list(bands) if bands else list(range(1, ds.count + 1))
    for band in bands:
        if not 1 <= band <= ds.count:
            raise CoregInputError(f"{label} band {band} does not exist: '{path}' has "
                                  f"{ds.count} band(s).")
    return bands


def read_band_array(path: str, band: int, label: str) -> np.ndarray:
    """Band ``band`` of ``path`` as float64, NaN where nodata or not finite."""
    try:
        with open_swath(path) as ds:
            checked_bands(ds, [band], path, label)
            values = ds.read(band).astype(np.float64, copy=False)
            nodata = ds.nodata
    except (RasterioError, RasterioIOError) as exc:
        raise CoregInputError(f"{label} '{path}' cannot be read: {exc}") from exc
    if nodata is not None:
        values[values == nodata] = np.nan
    values[~np.isfinite(values)] = np.nan
    return values



def geolocation_of(source: str, x_band: int, y_band: int) -> tuple[str, int, str, int]:
    """(x raster, x band, y raster, y band) named by the GDAL GEOLOCATION metadata of
    ``source`` (netCDF ``coordinates``, HDF, VRT), else ``source`` itself with the bands
    given."""
    try:
        with open_swath(source) as ds:
            geo = ds.tags(ns="GEOLOCATION")
    except (RasterioError, RasterioIOError) as exc:
        raise CoregInputError(f"Input '{source}' cannot be read: {exc}") from exc
    if not geo.get("X_DATASET") or not geo.get("Y_DATASET"):
        return source, x_band, source, y_band
    folder = Path(source).parent if Path(source).is_file() else None
    return (_beside(geo["X_DATASET"], folder), int(geo.get("X_BAND", 1)),
            _beside(geo["Y_DATASET"], folder), int(geo.get("Y_BAND", 1)))



def _beside(dataset: str, folder: Path | None) -> str:
    """A relative geolocation file name resolved next to the input (as GDAL does)."""
    if folder is None or ":" in dataset or Path(dataset).is_absolute():
        return dataset
    return str(folder / dataset)



def read_measurements(path: str, bands: Sequence[int] | None):
    """(float32 stack with NaN nodata, dtype, nodata, band descriptions) of ``path``."""
    try:
        with open_swath(path) as ds:
            bands = checked_bands(ds, bands, path)
            data = ds.read(bands)
            descriptions = [ds.descriptions[b - 1] for b in bands]
            return data, ds.nodata, descriptions
    except (RasterioError, RasterioIOError) as exc:
        raise CoregInputError(f"Input '{path}' cannot be read: {exc}") from exc
