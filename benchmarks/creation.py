"""GeoTIFF creation options of Coreg's own output, for the peers and the copies the
benchmarks time beside it: each writes exactly the same kind of file (tiling,
compression, level, threads) as Coreg does at that size."""

from __future__ import annotations

import sys
from types import SimpleNamespace

from affine import Affine

#: Fallback (Coreg's output profile at the time of writing) for a tree without
#: ``output_profile`` (an older checkout measured with ``--checkout``).
DEFAULT_CREATION = {"tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "deflate",
                    "zlevel": 1, "predictor": 2, "num_threads": "all_cpus"}
#: Profile keys that describe the raster rather than how it is written.
LAYOUT = {"driver", "width", "height", "count", "dtype", "crs", "transform", "nodata"}


def creation_options(width: int = 4096, height: int = 4096) -> dict:
    """rasterio creation options of Coreg's integer output of ``width`` x ``height``
    (its tiles depend on the size), from ``coreg.core.io.raster_io.output_profile``."""
    try:
        from coreg.core.io.raster_io import output_profile

        grid = SimpleNamespace(width=width, height=height, crs=None,
                               transform=Affine.identity())
        profile = output_profile(grid, count=1, dtype="uint16", nodata=None)
    except Exception as e:  # the private helper changed: keep going with the fallback
        print(f"creation options: using the fallback ({type(e).__name__}: {e})",
              file=sys.stderr, flush=True)
        return dict(DEFAULT_CREATION)
    return {k: v for k, v in profile.items() if k not in LAYOUT}


def gdal_co(options: dict) -> list[str]:
    """rasterio-style creation options as GDAL KEY=VALUE strings."""
    def value(v):
        return ("YES" if v else "NO") if isinstance(v, bool) else str(v).upper()
    return [f"{k.upper()}={value(v)}" for k, v in options.items()]
