"""Applying an alignment: move the secondary's georeferencing, or resample it."""

from __future__ import annotations

import os

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT

from .fit import RigidModel
from .grid import Grid, crs_transformer
from .raster_io import IsCanceled, Progress, copy_by_blocks

RESAMPLING = {"nearest": Resampling.nearest, "bilinear": Resampling.bilinear,
              "cubic": Resampling.cubic}


def secondary_transform(model: RigidModel, secondary: Grid, reference_crs) -> Affine:
    """The secondary's geotransform corrected by ``model`` (given in the reference CRS).

    Across CRSs the correction is the affine map, fitted on a 5 x 5 grid of points
    over the secondary, that best reproduces the model in the secondary's CRS; its
    error is far below a millimetre for shifts of metres over a scene.
    """
    if secondary.crs == reference_crs:
        return _model_affine(model) * secondary.transform
    cols, rows = np.meshgrid(np.linspace(0, secondary.width, 5), np.linspace(0, secondary.height, 5))
    x, y = secondary.transform * (cols.ravel(), rows.ravel())
    to_ref = crs_transformer(secondary.crs, reference_crs)
    to_sec = crs_transformer(reference_crs, secondary.crs)
    moved = to_sec.transform(*model.forward(*to_ref.transform(x, y)))
    design = np.column_stack([x, y, np.ones_like(x)])
    coef_x = np.linalg.lstsq(design, moved[0], rcond=None)[0]
    coef_y = np.linalg.lstsq(design, moved[1], rcond=None)[0]
    return Affine(*coef_x, *coef_y) * secondary.transform


def translation_in_secondary_crs(model: RigidModel, secondary: Grid,
                                 reference_crs) -> tuple[float, float]:
    """The model's shift at its pivot, expressed in the secondary CRS (map units)."""
    if secondary.crs == reference_crs:
        return model.shift_x, model.shift_y
    to_sec = crs_transformer(reference_crs, secondary.crs)
    x0, y0 = to_sec.transform(model.pivot_x, model.pivot_y)
    x1, y1 = to_sec.transform(*model.forward(model.pivot_x, model.pivot_y))
    return x1 - x0, y1 - y0


def _model_affine(model: RigidModel) -> Affine:
    return (Affine.translation(model.pivot_x + model.shift_x, model.pivot_y + model.shift_y)
            * Affine.rotation(model.rotation_deg)
            * Affine.translation(-model.pivot_x, -model.pivot_y))


def output_nodata(dtype: str, nodata: float | None) -> float | None:
    """Nodata for a resampled output: the secondary's, else NaN (float) or 0."""
    if nodata is not None:
        return nodata
    return float("nan") if np.issubdtype(np.dtype(dtype), np.floating) else 0


def write_shifted(
    secondary_path: str | os.PathLike,
    output_path: str,
    model: RigidModel,
    reference_crs,
    *,
    cog: bool = False,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> None:
    """Copy every pixel of the secondary unchanged, with its geotransform translated."""
    if model.rotation_deg != 0.0:
        raise ValueError("Moving the geotransform only is possible for a pure translation; "
                         "choose the translation model or resample onto the reference grid.")
    with rasterio.open(secondary_path) as src:
        grid = Grid(src.crs, src.transform, src.width, src.height)
        dx, dy = translation_in_secondary_crs(model, grid, reference_crs)
        copy_by_blocks(src, output_path, nodata=src.nodata, cog=cog,
                       transform=Affine.translation(dx, dy) * src.transform,
                       progress=progress, is_canceled=is_canceled)


def write_resampled(
    secondary_path: str | os.PathLike,
    output_path: str,
    model: RigidModel,
    reference: Grid,
    *,
    resampling: str = "cubic",
    nodata: float | None = None,
    cog: bool = False,
    progress: Progress | None = None,
    is_canceled: IsCanceled | None = None,
) -> float | None:
    """Resample every band of the secondary, aligned by ``model``, onto ``reference``.

    One GDAL warp from the native pixels through the corrected georeferencing, read
    and written by blocks. Returns the nodata value of the output.
    """
    with rasterio.open(secondary_path) as src:
        grid = Grid(src.crs, src.transform, src.width, src.height)
        src_nodata = src.nodata if nodata is None else nodata
        out_nodata = output_nodata(src.dtypes[0], src_nodata)
        with WarpedVRT(src, src_transform=secondary_transform(model, grid, reference.crs),
                       src_nodata=src_nodata, crs=reference.crs, transform=reference.transform,
                       width=reference.width, height=reference.height, nodata=out_nodata,
                       resampling=RESAMPLING[resampling], NUM_THREADS="ALL_CPUS") as vrt:
            copy_by_blocks(vrt, output_path, nodata=out_nodata, cog=cog, progress=progress,
                           is_canceled=is_canceled, metadata_source=src)
    return out_nodata
