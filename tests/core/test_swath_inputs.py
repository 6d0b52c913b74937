"""rectify_swath refuses what it cannot honour: a CRS that is not one (it used to become
EPSG:4326 in the algorithm) and a target grid that cannot fit in memory (MemoryError)."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio

from coreg.core import resources
from coreg.core.errors import CoregInputError, CoregResourceError
from coreg.core.swath.swath import rectify_swath


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@pytest.fixture
def tiny_swath(tmp_path) -> Path:
    """A 12 x 10 swath: band 1 longitude, band 2 latitude (0.01 degree steps), band 3 data."""
    lon, lat = np.meshgrid(10 + 0.01 * np.arange(12), 45 + 0.01 * np.arange(10))
    path = tmp_path / "swath.tif"
    with rasterio.open(path, "w", driver="GTiff", width=12, height=10, count=3,
                       dtype="float64") as dst:
        dst.write(np.stack([lon, lat, lon * lat]))
    return path


@pytest.mark.parametrize("which", ["source_crs", "target_crs"])
@pytest.mark.parametrize("value", ["EPSG:999999", "garbage"])
def test_invalid_crs_is_refused_naming_it(tiny_swath, tmp_path, which, value):
    before = sha256(tiny_swath)
    output = tmp_path / "out.tif"
    with pytest.raises(CoregInputError, match=re.escape(f"CRS '{value}' is not a CRS")):
        rectify_swath(str(tiny_swath), str(output), x_band=1, y_band=2, bands=[3],
                      **{which: value})
    assert not output.exists()
    assert sha256(tiny_swath) == before


def test_empty_target_crs_means_automatic(tiny_swath, tmp_path):
    result = rectify_swath(str(tiny_swath), str(tmp_path / "out.tif"), x_band=1, y_band=2,
                           bands=[3], target_crs="")
    assert result.grid.crs.to_epsg() == 4326


def test_target_grid_beyond_memory_is_refused(tiny_swath, tmp_path):
    """A 0.11 x 0.09 degree swath at 1e-7 degree pixels: a 1.1e6 x 0.9e6 grid (30 TB);
    np.full used to raise MemoryError (or the machine to swap)."""
    before = sha256(tiny_swath)
    output, lookup = tmp_path / "out.tif", tmp_path / "lookup.tif"
    with pytest.raises(CoregResourceError) as error:
        rectify_swath(str(tiny_swath), str(output), x_band=1, y_band=2, bands=[3],
                      pixel_size=1e-7, lookup_output=str(lookup))
    message = str(error.value)
    assert re.search(r"target grid of 1100002 x 900002 pixels needs about [\d.]+ TB of "
                     r"memory, but only [\d.]+ [kMGT]B is available: give a larger PIXEL_SIZE "
                     r"or a smaller EXTENT", message), message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["swath.tif"]
    assert sha256(tiny_swath) == before


def test_memory_error_becomes_a_resource_error(tiny_swath, tmp_path, monkeypatch):
    """Should the estimate be too low (or memory be taken meanwhile), the MemoryError of
    an allocation is reported the same way."""
    import coreg.core.swath.sampling as swath

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(swath, "paint_lookup", no_memory)
    with pytest.raises(CoregResourceError, match="Not enough memory for a target grid of "
                                                 r"\d+ x \d+ pixels .*PIXEL_SIZE"):
        rectify_swath(str(tiny_swath), str(tmp_path / "out.tif"), x_band=1, y_band=2,
                      bands=[3])
    assert not (tmp_path / "out.tif").exists()


def test_available_memory_reads_proc_meminfo(tmp_path, monkeypatch):
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  16000000 kB\nMemFree:  100 kB\nMemAvailable:  2048 kB\n")
    monkeypatch.setattr(resources, "MEMINFO", str(meminfo))
    monkeypatch.setattr(resources, "CGROUP_FILES", ())
    assert resources.available_memory() == 2048 * 1024
    with pytest.raises(CoregResourceError, match=r"needs about 4\.0 MB of memory, but only "
                                                 r"2\.0 MB is available: do less"):
        resources.require_memory(4 << 20, "Test", "do less")
    resources.require_memory(1 << 20, "Test")  # fits in 80 % of 2 MB


def test_available_memory_unknown_refuses_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(resources, "MEMINFO", str(tmp_path / "missing"))
    monkeypatch.setattr(resources, "CGROUP_FILES", ())
    monkeypatch.setattr(resources, "_psutil_available", lambda: None)
    assert resources.available_memory() is None
    resources.require_memory(1e18, "Test")


def test_cgroup_limit_lowers_available_memory(tmp_path, monkeypatch):
    meminfo, limit, usage = (tmp_path / name for name in ("meminfo", "max", "current"))
    meminfo.write_text("MemAvailable:  8000000 kB\n")
    limit.write_text(f"{3 << 30}\n")
    usage.write_text(f"{1 << 30}\n")
    monkeypatch.setattr(resources, "MEMINFO", str(meminfo))
    monkeypatch.setattr(resources, "CGROUP_FILES", ((str(limit), str(usage)),))
    assert resources.available_memory() == 2 << 30
    limit.write_text("max\n")
    assert resources.available_memory() == 8000000 * 1024


def test_swath_bands_are_read_with_a_64_megabyte_block_cache(tiny_swath):
    """rasterio gives GDAL_CACHEMAX to GDAL in bytes: 64 there would be 64 bytes."""
    from coreg.core.swath.inputs import open_swath

    with open_swath(str(tiny_swath)):
        assert rasterio.env.getenv()["GDAL_CACHEMAX"] == 64 * 2**20
