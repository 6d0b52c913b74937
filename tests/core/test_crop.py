"""A secondary that is an exact crop of the reference, and references far larger than the
secondary (a declared 100000 x 100000 grid): the output reaches past the secondary.

Truth comes from exact crops of a real band (shift 0) or crops whose geotransform is
moved by whole pixels, never from a resampled image.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from child import run_measured
from rasterio.windows import Window

from coreg.core.errors import CoregResourceError
from coreg.core.matching.align import align_image
from coreg.core.transforms import warp

BEIRUT = (Path(__file__).resolve().parents[2].parent / "shared" / "data" / "optical" / "oscd_s2"
          / "beirut_S2_20150820_B02-B03-B04-B08.tif")
NIR = 4


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_crop(path: Path, row: int, col: int, height: int, width: int,
               moved: tuple[int, int] = (0, 0)) -> Path:
    """All bands of BEIRUT rows row:row+height, cols col:col+width, pixels unchanged; the
    geotransform says they start ``moved`` (rows, cols) pixels further."""
    with rasterio.open(BEIRUT) as src:
        claimed = Window(col + moved[1], row + moved[0], width, height)
        profile = src.profile | {"width": width, "height": height,
                                 "transform": src.window_transform(claimed)}
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(src.read(window=Window(col, row, width, height)))
    return path


def check_on_reference(output: Path, row: int, col: int, height: int, width: int) -> None:
    """``output`` is on the reference grid, equal to it over the crop, nodata elsewhere."""
    with rasterio.open(BEIRUT) as ref, rasterio.open(output) as out:
        assert (out.crs, out.transform, out.shape, out.count) == (ref.crs, ref.transform,
                                                                   ref.shape, ref.count)
        reference, aligned = ref.read(), out.read()
        nodata = out.nodata
    inside = (slice(None), slice(row, row + height), slice(col, col + width))
    assert np.array_equal(aligned[inside], reference[inside])
    outside = np.ones(aligned.shape[1:], bool)
    outside[inside[1:]] = False
    assert (aligned[:, outside] == nodata).all()


@pytest.mark.parametrize("transform", ["translation", "rigid"])
def test_exact_crop_aligns_with_zero_shift(tmp_path, transform):
    secondary = write_crop(tmp_path / "crop.tif", 37, 53, 400, 400)
    before = sha256(secondary), sha256(BEIRUT)
    output = tmp_path / "aligned.tif"
    alignment = align_image(BEIRUT, secondary, output, reference_band=NIR, secondary_band=NIR,
                            transform=transform)
    assert abs(alignment.shift_x_px) <= 0.001 and abs(alignment.shift_y_px) <= 0.001
    assert abs(alignment.model.rotation_deg) <= 1e-4
    check_on_reference(output, 37, 53, 400, 400)
    assert (sha256(secondary), sha256(BEIRUT)) == before


#: (row, col, height, width) of crops at offsets within the 512-pixel output strips and
#: tiles, of sizes that are not multiples of them; the last one touches the far corner.
SUB_TILE_CROPS = [(1, 1, 300, 300), (100, 7, 257, 513), (511, 300, 130, 600),
                  (600, 509, 517, 200), (5, 900, 1100, 96), (780, 670, 400, 400)]


@pytest.mark.parametrize("row, col, height, width", SUB_TILE_CROPS)
def test_crops_at_sub_tile_offsets(tmp_path, row, col, height, width):
    secondary = write_crop(tmp_path / "crop.tif", row, col, height, width)
    output = tmp_path / "aligned.tif"
    alignment = align_image(BEIRUT, secondary, output, reference_band=NIR, secondary_band=NIR,
                            transform="translation")
    assert abs(alignment.shift_x_px) <= 0.001 and abs(alignment.shift_y_px) <= 0.001
    check_on_reference(output, row, col, height, width)


@pytest.mark.parametrize("row, col, height, width, moved", [
    (37, 53, 400, 400, (3, -2)), (600, 509, 517, 200, (-5, 4)), (100, 7, 257, 513, (1, 1))])
def test_crops_misplaced_by_whole_pixels(tmp_path, row, col, height, width, moved):
    """The crop's geotransform is wrong by whole pixels: the correction is exactly that
    many pixels the other way, and the output puts the pixels back where they belong."""
    secondary = write_crop(tmp_path / "crop.tif", row, col, height, width, moved)
    output = tmp_path / "aligned.tif"
    alignment = align_image(BEIRUT, secondary, output, reference_band=NIR, secondary_band=NIR,
                            transform="translation")
    assert alignment.shift_x_px == pytest.approx(-moved[1], abs=0.01)
    assert alignment.shift_y_px == pytest.approx(-moved[0], abs=0.01)
    with rasterio.open(BEIRUT) as ref, rasterio.open(output) as out:
        assert out.transform == ref.transform
        inside = Window(col + 2, row + 2, width - 4, height - 4)  # cubic edges left out
        a = ref.read(NIR, window=inside).astype(float)
        b = out.read(NIR, window=inside).astype(float)
    assert np.median(np.abs(a - b)) <= 0.01 * a.std()


# ------------------------------------------------------------- declared huge grids

HUGE = 100_000


def huge_reference(path: Path, size: int = HUGE, at: tuple[int, int] = (40_000, 50_000)
                   ) -> Path:
    """A VRT declaring ``size`` x ``size`` pixels whose only data is BEIRUT's NIR band at
    pixel (row, col) ``at``, on BEIRUT's own grid (a few hundred bytes on disk)."""
    with rasterio.open(BEIRUT) as src:
        crs = src.crs.to_wkt().replace('"', "&quot;")
        t = src.transform * Affine.translation(-at[1], -at[0])
        width, height = src.width, src.height
    path.write_text(f"""<VRTDataset rasterXSize="{size}" rasterYSize="{size}">
  <SRS>{crs}</SRS>
  <GeoTransform>{t.c!r}, {t.a!r}, 0, {t.f!r}, 0, {t.e!r}</GeoTransform>
  <VRTRasterBand dataType="UInt16" band="1">
    <SimpleSource>
      <SourceFilename relativeToVRT="0">{BEIRUT}</SourceFilename><SourceBand>{NIR}</SourceBand>
      <SrcRect xOff="0" yOff="0" xSize="{width}" ySize="{height}"/>
      <DstRect xOff="{at[1]}" yOff="{at[0]}" xSize="{width}" ySize="{height}"/>
    </SimpleSource>
  </VRTRasterBand>
</VRTDataset>""")
    return path


def sparse_reference(path: Path, at: tuple[int, int] = (40_000, 50_000)) -> Path:
    """The same as a sparse GeoTIFF: only the tiles holding BEIRUT's NIR band exist."""
    with rasterio.open(BEIRUT) as src:
        data, t = src.read(NIR), src.transform * Affine.translation(-at[1], -at[0])
        profile = dict(driver="GTiff", width=HUGE, height=HUGE, count=1, dtype="uint16",
                       crs=src.crs, transform=t, tiled=True, blockxsize=512, blockysize=512,
                       compress="deflate", sparse_ok=True, bigtiff="yes")
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1, window=Window(at[1], at[0], data.shape[1], data.shape[0]))
    return path


HUGE_RUN = """
import time
from coreg.core.matching.align import align_image
start = time.perf_counter()
a = align_image(sys.argv[1], sys.argv[2], sys.argv[3], secondary_band=4, transform="translation")
result = {"dx": a.shift_x_px, "dy": a.shift_y_px, "seconds": time.perf_counter() - start}
"""


@pytest.mark.parametrize("make", [huge_reference, sparse_reference], ids=["vrt", "sparse"])
def test_reference_declaring_100000_pixels_a_side(tmp_path, make):
    """Only the overlap is read and resampled, the 10^10-pixel output written where the
    secondary covers it (GDAL fills the other tiles): seconds and a few hundred MB."""
    at = (40_000, 50_000)
    reference = make(tmp_path / ("reference.vrt" if make is huge_reference else "reference.tif"),
                     at=at)
    secondary = write_crop(tmp_path / "crop.tif", 37, 53, 400, 400)
    before = sha256(reference), sha256(secondary)
    output = tmp_path / "aligned.tif"
    result = run_measured(HUGE_RUN, reference, secondary, output)
    assert abs(result["dx"]) <= 0.001 and abs(result["dy"]) <= 0.001
    assert result["rss_mib"] < 512 and result["seconds"] < 30
    with rasterio.open(reference) as ref, rasterio.open(output) as out:
        assert (out.width, out.height, out.transform) == (HUGE, HUGE, ref.transform)
        window = Window(at[1], at[0], 600, 600)
        aligned, truth = out.read(NIR, window=window), ref.read(1, window=window)
        nodata = out.nodata
    crop = (slice(37, 437), slice(53, 453))
    assert np.array_equal(aligned[crop], truth[crop])
    aligned[crop] = nodata
    assert (aligned == nodata).all()
    assert (sha256(reference), sha256(secondary)) == before


def test_overlap_too_large_for_memory_is_refused_before_any_work(tmp_path):
    """Reference and secondary both declaring 10^9 x 10^9 pixels on one grid: one output
    strip alone would take terabytes; refused with the figures, nothing written."""
    reference = huge_reference(tmp_path / "reference.vrt", size=10**9)
    secondary = huge_reference(tmp_path / "secondary.vrt", size=10**9)
    before = sha256(reference), sha256(secondary)
    output = tmp_path / "aligned.tif"
    with pytest.raises(CoregResourceError) as error:
        align_image(reference, secondary, output)
    message = str(error.value)
    assert "'secondary.vrt' onto the 1000000000 x 1000000000 pixel grid" in message
    assert re.search(r"needs about [\d.]+ TB of memory, but only [\d.]+ [kMGT]B is "
                     r"available: clip the reference .* or choose a coarser grid", message)
    assert not output.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reference.vrt", "secondary.vrt"]
    assert (sha256(reference), sha256(secondary)) == before


def test_memory_error_while_resampling_becomes_a_resource_error(tmp_path, monkeypatch):
    """An allocation failing in the strip worker (an estimate too low, memory taken by
    another program meanwhile) is reported as such; no partial output is left."""
    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(warp, "_resample_part", no_memory)
    secondary = write_crop(tmp_path / "crop.tif", 37, 53, 400, 400)
    output = tmp_path / "aligned.tif"
    with pytest.raises(CoregResourceError, match=r"Not enough memory for resampling onto the "
                                                 r"output grid \([\d.]+ [kMGT]B available\): "
                                                 "clip the reference"):
        align_image(BEIRUT, secondary, output, reference_band=NIR, secondary_band=NIR)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crop.tif"]


def test_secondary_in_another_crs_onto_a_much_larger_grid(tmp_path):
    """Across CRSs, positions are bilinear between nodes every 16 pixels, and only the
    node cells that reach the secondary are computed: onto a 20000 x 20000 grid holding
    the reference grid (at an offset of whole node cells) the output is the one on the
    reference grid, and nodata elsewhere."""
    from rasterio.warp import Resampling, calculate_default_transform, reproject

    from coreg.core.grid import Grid
    from coreg.core.transforms.model import identity
    from coreg.core.transforms.warp import write_resampled

    crop = write_crop(tmp_path / "crop.tif", 37, 53, 400, 400)
    utm = tmp_path / "utm.tif"
    with rasterio.open(crop) as src:
        transform, width, height = calculate_default_transform(
            src.crs, "EPSG:32636", src.width, src.height, *src.bounds, resolution=10.0)
        with rasterio.open(utm, "w", **(src.profile | {"crs": "EPSG:32636", "width": width,
                                                       "height": height,
                                                       "transform": transform})) as dst:
            reproject(rasterio.band(src, 4), rasterio.band(dst, 4),
                      resampling=Resampling.nearest)
    with rasterio.open(BEIRUT) as ref:
        small = Grid(ref.crs, ref.transform, ref.width, ref.height)
    at = (16 * 400, 16 * 500)  # rows, cols: whole node cells and 512-row strips apart
    big = Grid(small.crs, small.transform * Affine.translation(-at[1], -at[0]), 20_000, 20_000)
    write_resampled(utm, str(tmp_path / "small.tif"), identity(small.crs), small)
    write_resampled(utm, str(tmp_path / "big.tif"), identity(big.crs), big)
    with rasterio.open(tmp_path / "small.tif") as a, rasterio.open(tmp_path / "big.tif") as b:
        expected = a.read(4)
        window = Window(at[1] - 64, at[0] - 64, small.width + 128, small.height + 128)
        around = b.read(4, window=window)
        nodata = b.nodata
    inner = (slice(64, -64), slice(64, -64))
    assert (expected != nodata).sum() > 100_000
    assert np.array_equal(around[inner], expected)
    around[inner] = nodata
    assert (around == nodata).all()


def test_patches_too_large_for_memory_are_refused(tmp_path):
    """Patches grow with MAX_SHIFT (at least four times it): on a huge overlap, 64 patches
    of 524288 pixels a side are refused before any is read."""
    from coreg.core.matching.align import estimate_alignment

    reference = huge_reference(tmp_path / "reference.vrt", size=10**9)
    secondary = huge_reference(tmp_path / "secondary.vrt", size=10**9)
    with pytest.raises(CoregResourceError, match=r"Matching 64 patches of 524288 x 524288 "
                                                 r"pixels needs about [\d.]+ TB of memory.*"
                                                 "choose a smaller MAX_SHIFT"):
        estimate_alignment(reference, secondary, max_shift=100_000)
