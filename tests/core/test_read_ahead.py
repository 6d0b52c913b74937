"""The secondary read ahead, beside the matching: the writer reads the same pixels as
from the file, and a raster that is not read ahead (or fails to be) costs nothing."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import rasterio
from affine import Affine
from corpus import OPTICAL
from rasterio.windows import Window

from coreg.core.io import window_reads
from coreg.core.io.window_reads import ReadAhead
from coreg.core.matching.align import align_image

NANJING = OPTICAL / "landsat_pairs" / "nanjing_LT05_20000503_B1-5_7.tif"


def _raster(path, count=3, side=96):
    data = np.random.default_rng(1).integers(1, 4000, (count, side, side)).astype(np.uint16)
    with rasterio.open(path, "w", driver="GTiff", width=side, height=side, count=count,
                       dtype="uint16", crs="EPSG:32650", compress="deflate",
                       transform=Affine(10, 0, 600000, 0, -10, 3500000)) as dst:
        dst.write(data)
    return data


def _moved_secondary(tmp_path):
    """The Nanjing scene with its georeference moved by (0.6, -0.4) px: a secondary."""
    secondary = tmp_path / "secondary.tif"
    with rasterio.open(NANJING) as src:
        with rasterio.open(secondary, "w", **src.profile | {
                "transform": src.transform * Affine.translation(0.6, -0.4)}) as dst:
            dst.write(src.read())
    return secondary


def test_read_ahead_serves_every_band_of_the_file(tmp_path, monkeypatch):
    data = _raster(tmp_path / "r.tif")
    with ReadAhead(tmp_path / "r.tif", data.nbytes) as ahead:
        source = ahead.source()
        window = Window(5, 7, 40, 30)
        assert np.array_equal(source.read([1, 2, 3], window=window),
                              data[:, 7:37, 5:45])
        assert np.array_equal(source.read([3, 1], window=window), data[[2, 0], 7:37, 5:45])
        assert source.count == 3 and source.crs.to_epsg() == 32650
    assert source.closed


@pytest.mark.parametrize("thread_bytes, on_a_thread", [(2**40, False), (0, True)])
def test_a_small_raster_is_read_when_needed_by_the_thread_needing_it(tmp_path, monkeypatch,
                                                                     thread_bytes,
                                                                     on_a_thread):
    """Below THREAD_BYTES no thread: the first source() reads, here, and an unused read
    ahead reads nothing; above, a thread of its own reads at once."""
    monkeypatch.setattr(window_reads, "THREAD_BYTES", thread_bytes)
    data = _raster(tmp_path / "r.tif")
    readers = []
    whole = window_reads._WindowCache.__init__

    def recorded(self, *args):
        readers.append(threading.get_ident())
        whole(self, *args)

    monkeypatch.setattr(window_reads._WindowCache, "__init__", recorded)
    with ReadAhead(tmp_path / "r.tif", data.nbytes) as ahead:
        source = ahead.source()
        assert source is ahead.source() and not source.closed
    assert source.closed
    assert len(readers) == 1 and (readers[0] != threading.get_ident()) == on_a_thread
    with ReadAhead(tmp_path / "r.tif", data.nbytes):
        pass
    assert len(readers) == 1 + on_a_thread


@pytest.mark.parametrize("where, limits", [("r.tif", 2**15),
                                           ("missing.tif", 2**30),
                                           ("/vsicurl/http://127.0.0.1:9/r.tif", 2**30)])
def test_nothing_read_ahead_for_large_missing_or_remote_rasters(tmp_path, monkeypatch, where,
                                                                 limits):
    monkeypatch.setattr(window_reads, "READ_AHEAD_BYTES", limits)
    data = _raster(tmp_path / "r.tif")
    path = where if where.startswith("/vsi") else tmp_path / where
    with ReadAhead(path, data.nbytes) as ahead:
        assert ahead.source() is None


def test_a_resampled_output_is_the_same_read_ahead_or_not(tmp_path, monkeypatch):
    path = NANJING
    secondary = _moved_secondary(tmp_path)
    outputs, models = [], []
    for limits in (0, 2**40):  # never, always (the matching then reads it too)
        monkeypatch.setattr(window_reads, "READ_AHEAD_BYTES", limits)
        outputs.append(tmp_path / f"aligned_{limits}.tif")
        models.append(align_image(path, secondary, outputs[-1], reference_band=4,
                                  secondary_band=4, transform="translation").model)
    assert models[0] == models[1]
    with rasterio.open(outputs[0]) as a, rasterio.open(outputs[1]) as b:
        assert np.array_equal(a.read(), b.read())


def test_a_small_secondary_read_ahead_is_decoded_once(tmp_path, monkeypatch):
    """The matching reads the secondary's pixels from the read ahead, not from its own
    read of the file."""
    secondary = _moved_secondary(tmp_path)
    reads = []
    whole = window_reads._WindowCache.__init__

    def counted(self, ds, bands, window):
        reads.append((ds.name, tuple(bands)))
        whole(self, ds, bands, window)

    monkeypatch.setattr(window_reads._WindowCache, "__init__", counted)
    align_image(NANJING, secondary, tmp_path / "aligned.tif", reference_band=4,
                secondary_band=4, transform="translation")
    assert [bands for name, bands in reads if name == str(secondary)] == [(1, 2, 3, 4, 5, 6)]
