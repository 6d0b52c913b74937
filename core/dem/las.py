"""Lidar point clouds (LAS/LAZ) as the reference of a DEM alignment, read with laspy.

Ground returns (ASPRS class 2) are what a DEM models, so they are kept when the file
classifies any; otherwise every point but those classified noise (7 and 18) and water
(9), whose elevations are no terrain. laspy is optional: without it, a clear message
says what to install (LAZ also needs laspy's lazrs backend).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import CoregInputError

GROUND = 2
NOT_TERRAIN = (7, 9, 18)


def read_las(path: Path, crs: str | None = None):
    """The points of a LAS/LAZ file (CRS: ``crs``, else the file's own, else the DEM's)."""
    from .points import PointCloud

    try:
        import laspy
    except ImportError:
        raise CoregInputError("Reading LAS/LAZ points needs the Python package laspy "
                              "(and lazrs for .laz): pip install laspy lazrs") from None
    try:
        las = laspy.read(path)
    except (OSError, laspy.errors.LaspyException) as exc:
        raise CoregInputError(f"Cannot read the points of '{path}': {exc}") from exc
    classes = np.asarray(las.classification)
    keep = (classes == GROUND) if np.any(classes == GROUND) else ~np.isin(classes, NOT_TERRAIN)
    if not keep.any():
        raise CoregInputError(f"'{path}' holds no ground or unclassified points.")
    if crs is None:
        parsed = las.header.parse_crs()
        crs = parsed.to_wkt() if parsed is not None else ""
    return PointCloud(np.asarray(las.x)[keep], np.asarray(las.y)[keep],
                      np.asarray(las.z)[keep], crs)
