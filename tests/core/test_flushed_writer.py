"""core/io/flushed_writer.py: a raster written through flushes (closed and reopened as
it goes) holds what was written, its tags and band descriptions, compressed as created."""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.windows import Window

from coreg.core.io import flushed_writer
from coreg.core.io.flushed_writer import FlushedWriter


def test_flushed_writer__same_raster_as_one_write(tmp_path, monkeypatch):
    monkeypatch.setattr(flushed_writer, "FLUSH_PIXELS", 3 * 64 * 64)
    profile = dict(driver="GTiff", width=320, height=192, count=2, dtype="float32",
                   crs="EPSG:32631", transform=rasterio.Affine(10, 0, 0, 0, -10, 0),
                   nodata=float("nan"), tiled=True, blockxsize=64, blockysize=64,
                   compress="deflate", zlevel=1, predictor=3, num_threads="all_cpus")
    data = np.random.default_rng(0).normal(size=(2, 192, 320)).astype(np.float32)
    flushes = []
    with FlushedWriter(str(tmp_path / "f.tif"), profile) as dst:
        dst.dataset.update_tags(KIND="field")
        dst.dataset.set_band_description(1, "dx")
        flush = dst.flush
        monkeypatch.setattr(dst, "flush", lambda: (flushes.append(1), flush()))
        for row in range(0, 192, 64):  # tiles of 64 x 64, not in block-row order
            for col in reversed(range(0, 320, 64)):
                dst.write(data[:, row:row + 64, col:col + 64], window=Window(col, row, 64, 64))

    with rasterio.open(tmp_path / "f.tif") as src:
        assert np.array_equal(src.read(), data)
        assert src.tags()["KIND"] == "field" and src.descriptions[0] == "dx"
        assert src.compression.name == "deflate"
    assert len(flushes) == 5  # every 3 of the 15 blocks
