"""Band math on rasters refuses results without data and leaves no temporary behind."""

from __future__ import annotations

import os

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from coreg.core.bandmath import raster_math
from coreg.core.bandmath.raster_math import band_math, write_expressions
from coreg.core.errors import CanceledError, CoregInputError, CoregResourceError
from coreg.core.io.cog_tiles import CogAssembler

#: Three strips of BLOCK rows, wide enough for the COG driver to build overviews.
HEIGHT, WIDTH = 1100, 600


def _raster(path, x0=500_000.0, *, values=None, crs="EPSG:32631"):
    data = np.arange(HEIGHT * WIDTH, dtype=np.float32).reshape(HEIGHT, WIDTH) % 97 + 1
    with rasterio.open(path, "w", driver="GTiff", width=WIDTH, height=HEIGHT, count=1,
                       dtype="float32", crs=crs, transform=from_origin(x0, 4_000_000, 10, 10),
                       nodata=-9999) as dst:
        dst.write(data if values is None else values, 1)
    return str(path)


@pytest.fixture
def folder(tmp_path):
    """A folder holding two overlapping inputs and one far away."""
    _raster(tmp_path / "a.tif")
    _raster(tmp_path / "b.tif", x0=502_000.0)  # overlaps a by two thirds
    _raster(tmp_path / "far.tif", x0=700_000.0)
    return tmp_path


def _files(folder) -> set[str]:
    return {p.name for p in folder.iterdir()}


INPUTS = {"a.tif", "b.tif", "far.tif"}


def test_overlapping_inputs_give_the_result(folder):
    band_math([folder / "a.tif", folder / "b.tif"], "s:(+ 1.b1 2.b1)", folder / "s.tif")
    assert _files(folder) == INPUTS | {"s.tif"}
    with rasterio.open(folder / "s.tif") as ds:
        result = ds.read(1)
    assert np.isnan(result[:, :200]).all() and not np.isnan(result[:, 200:]).any()


@pytest.mark.parametrize("expression, names", [
    ("(+ 1.b1 2.b1)", "Input 2 ('far.tif') does not"),
    ("(+ 1.b1 3.b1 2.b1)", "Inputs 3 ('elsewhere.tif'), 2 ('far.tif') do not"),
    ("(- 1.b1 (mean 2.b1))", "Input 2 ('far.tif') does not"),
])
def test_an_input_outside_the_output_is_refused_before_writing(folder, expression, names,
                                                               monkeypatch):
    other = folder / "other"
    other.mkdir()
    far = _raster(other / "elsewhere.tif", x0=-300_000.0)
    monkeypatch.setattr(raster_math, "write_expressions",
                        lambda *a, **k: pytest.fail("evaluated despite no overlap"))
    with pytest.raises(CoregInputError, match="overlap the output's extent") as info:
        band_math([folder / "a.tif", folder / "far.tif", far], expression, folder / "x.tif")
    assert names in str(info.value)
    assert _files(folder) == INPUTS | {"other"}


def test_an_input_the_expression_does_not_read_may_lie_elsewhere(folder):
    band_math([folder / "a.tif", folder / "far.tif"], "(* 1.b1 2)", folder / "x.tif")
    assert _files(folder) == INPUTS | {"x.tif"}


@pytest.mark.parametrize("expression", ["(/ 1.b1 0)", "(+ 1.b1 (mean (/ 1 0)))"])
def test_a_result_without_valid_pixel_is_an_error_and_not_written(folder, expression):
    with pytest.raises(CoregInputError, match="The result has no valid pixel: '.*' is nodata"):
        band_math([folder / "a.tif"], expression, folder / "x.tif")
    assert _files(folder) == INPUTS


def test_an_input_of_nodata_only_is_an_error(folder):
    _raster(folder / "empty.tif", values=np.full((HEIGHT, WIDTH), -9999, np.float32))
    with pytest.raises(CoregInputError, match="no valid pixel"):
        band_math([folder / "a.tif", folder / "empty.tif"], "(+ 1.b1 2.b1)", folder / "x.tif")
    assert _files(folder) == INPUTS | {"empty.tif"}


def test_write_expressions_counts_valid_pixels(folder):
    from coreg.core.bandmath.band_math import parse_definitions
    from coreg.core.bandmath.raster_math import raster_assets
    from coreg.core.io.raster_io import read_info
    definitions = parse_definitions("all:(+ 1.b1 1); none:(/ 1.b1 0); half:(+ 1.b1 2.b1)")
    assets = raster_assets([folder / "a.tif", folder / "b.tif"])
    outputs = {d.name: folder / f"{d.name}.tif" for d in definitions}
    counts = write_expressions(definitions, assets, read_info(folder / "a.tif").grid, outputs)
    assert counts == {"all": HEIGHT * WIDTH, "none": 0, "half": HEIGHT * 400}
    assert _files(folder) == INPUTS | {"all.tif", "none.tif", "half.tif"}


# ------------------------------------------------------------------------ interruptions


def _interrupt_on_strip(monkeypatch, strip: int, error: BaseException):
    real, calls = raster_math.evaluate_block, []

    def evaluate(*args):
        calls.append(1)
        if len(calls) == strip:
            raise error
        return real(*args)

    monkeypatch.setattr(raster_math, "evaluate_block", evaluate)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), CanceledError("stop"),
                                   MemoryError()], ids=lambda e: type(e).__name__)
def test_an_interrupted_evaluation_leaves_nothing(folder, monkeypatch, error):
    _interrupt_on_strip(monkeypatch, 2, error)
    with pytest.raises(type(error)):
        band_math([folder / "a.tif", folder / "b.tif"], "bm:(+ 1.b1 2.b1)", folder / "bm.tif")
    assert _files(folder) == INPUTS


def test_a_cancel_leaves_nothing(folder):
    asked = []
    with pytest.raises(CanceledError):
        band_math([folder / "a.tif"], "bm:(+ 1.b1 1)", folder / "bm.tif",
                  is_canceled=lambda: asked.append(1) or len(asked) > 2)
    assert _files(folder) == INPUTS


@pytest.mark.parametrize("error", [KeyboardInterrupt(), OSError("No space left on device")],
                         ids=lambda e: type(e).__name__)
def test_a_cog_write_that_fails_leaves_nothing(folder, monkeypatch, error):
    """The COG half written, and the scratch files of its tiles, go too."""
    def failing_finish(self):
        with open(self.path, "wb") as handle:
            handle.write(b"partial")
        raise error

    monkeypatch.setattr(CogAssembler, "finish", failing_finish)
    # A full disk is reported in words (CoregResourceError), not as a bare OSError.
    expected = KeyboardInterrupt if isinstance(error, KeyboardInterrupt) else CoregResourceError
    with pytest.raises(expected):
        band_math([folder / "a.tif"], "bm:(+ 1.b1 1)", folder / "bm.tif")
    assert _files(folder) == INPUTS


def test_a_failure_in_the_second_output_leaves_neither(folder, monkeypatch):
    """Outputs appear together: the first, written already, is not moved into place."""
    from coreg.core.bandmath.band_math import parse_definitions
    from coreg.core.bandmath.raster_math import raster_assets
    from coreg.core.io.raster_io import read_info
    real, written = CogAssembler.finish, []

    def finish(self):
        written.append(self.path)
        if len(written) == 2:
            raise KeyboardInterrupt
        real(self)

    monkeypatch.setattr(CogAssembler, "finish", finish)
    definitions = parse_definitions("one:(+ 1.b1 1); two:(+ 1.b1 2)")
    with pytest.raises(KeyboardInterrupt):
        write_expressions(definitions, raster_assets([folder / "a.tif"]),
                          read_info(folder / "a.tif").grid,
                          {d.name: folder / f"{d.name}.tif" for d in definitions})
    assert len(written) == 2
    assert _files(folder) == INPUTS


def test_the_scratch_file_of_a_mostly_empty_result_is_small(folder, monkeypatch):
    """Six 512 x 512 float32 tiles are 6 MiB; the scratch file of a result valid in one
    corner holds them compressed (a nodata tile is a few hundred bytes)."""
    corner = np.full((HEIGHT, WIDTH), -9999, np.float32)
    corner[:100, :100] = 5
    _raster(folder / "corner.tif", values=corner)
    real, sizes = CogAssembler.finish, []

    def finish(self):
        sizes.append(os.path.getsize(self.path + ".tiles.tmp"))
        real(self)

    monkeypatch.setattr(CogAssembler, "finish", finish)
    band_math([folder / "corner.tif"], "(+ 1.b1 1)", folder / "x.tif")
    assert sizes[0] < 512 * 512 * 4 / 8
    with rasterio.open(folder / "x.tif") as ds:
        result = ds.read(1)
    assert (result[:100, :100] == 6).all() and np.isnan(result).sum() == result.size - 100 * 100
