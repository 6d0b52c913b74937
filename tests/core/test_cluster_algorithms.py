"""align_local, rectify_swath, align_dem, band_math and the co-registered stack on a real
Dask cluster (the session's ``dask scheduler`` + two ``dask worker`` processes with a
clean environment, scripts/dask_cluster.py): each gives what it gives in-process, within
1e-6, with the tiles or blocks computed on the workers from the paths."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest
import rasterio
import rasterio.windows
import synthetic
from local_synthetic import SCENE, write_pair
from threadpoolctl import threadpool_limits

from coreg.core.bandmath import raster_math
from coreg.core.bandmath.raster_math import band_math
from coreg.core.dem import block_tasks
from coreg.core.dem.dem import align_dem
from coreg.core.errors import CanceledError, CoregInputError, CoregResourceError
from coreg.core.io.raster_io import tile_side
from coreg.core.local import check_points, flow_tasks, flow_tiles, reader
from coreg.core.local.local import align_local
from coreg.core.stack import execution, shift_tasks
from coreg.core.stack.coregistered_stack import coregistered_stack
from coreg.core.swath import sampling, swath_tasks
from coreg.core.swath.swath import rectify_swath
from coreg.core.transforms import warp

#: What "the same output" means: the tiles are computed by the same code from the same
#: pixels, only in other processes.
TOLERANCE = 1e-6


@pytest.fixture
def cluster(real_dask_cluster):
    return real_dask_cluster[0]


@pytest.fixture(autouse=True)
def one_blas_thread():
    """A Dask worker's nanny runs BLAS on one thread: so does the in-process run."""
    with threadpool_limits(1, user_api="blas"):
        yield


def forbid_here(monkeypatch, *functions) -> None:
    """The tile functions fail in this process: the workers (which import the engine
    sent to them, not this one) must compute every tile."""
    def refuse(*args, **kwargs):
        raise AssertionError("a tile was computed in the client's process")

    for module, name in functions:
        monkeypatch.setattr(module, name, refuse)


def assert_same_rasters(a_path, b_path) -> None:
    with rasterio.open(a_path) as a, rasterio.open(b_path) as b:
        assert (a.crs, a.transform, a.shape, a.count) == (b.crs, b.transform, b.shape, b.count)
        a_data, b_data = a.read().astype(np.float64), b.read().astype(np.float64)
    np.testing.assert_array_equal(np.isnan(a_data), np.isnan(b_data))
    finite = np.isfinite(a_data)
    np.testing.assert_allclose(b_data[finite], a_data[finite], rtol=0, atol=TOLERANCE)


def test_align_local_dense_flow_on_the_cluster(shared_data, cluster, tmp_path, monkeypatch):
    monkeypatch.setattr(reader, "TILE", 96)  # 4 tiles (on the client, which cuts them)
    reference, secondary = write_pair(shared_data / SCENE, tmp_path, size=192)
    options = dict(method="dense_flow", grid_spacing=48, window_size=48, max_shift=10,
                   radius=4, levels=1, iterations=2)
    here = align_local(reference, secondary, tmp_path / "here.tif", tmp_path / "here_f.tif",
                       **options)
    forbid_here(monkeypatch, (flow_tasks, "flow_tile"), (flow_tiles, "flow_tile"),
                (warp, "_resample_strip"), (check_points, "measure_points"))
    there = align_local(reference, secondary, tmp_path / "there.tif", tmp_path / "there_f.tif",
                        dask_scheduler=cluster.address, **options)
    assert_same_rasters(tmp_path / "here_f.tif", tmp_path / "there_f.tif")
    assert_same_rasters(tmp_path / "here.tif", tmp_path / "there.tif")
    assert there.report()["n_kept"] == here.report()["n_kept"] > 0
    # The check points, measured on the workers (on the client's tiles), are these.
    assert there.point_records() == here.point_records()


def test_check_points_are_shared_by_the_workers_by_whole_tiles():
    """Each worker measures the points of whole tiles, about as many points as the
    others; every point is measured once; a point off the tiles goes with the first."""
    from affine import Affine
    from rasterio.crs import CRS

    from coreg.core.grid import Grid

    overlap = Grid(CRS.from_epsg(32633), Affine(10, 0, 0, 0, -10, 0), 300, 200)
    sources = flow_tasks.TileSources("r.tif", 1, None, "s.tif", 1, None, overlap, (),
                                     tile=100)  # 6 tiles
    rows, cols = np.meshgrid(np.arange(10, 200, 20), np.arange(10, 300, 20), indexing="ij")
    rows, cols = np.append(rows.ravel(), 250), np.append(cols.ravel(), 10)  # one off them
    shares = flow_tasks._shares(sources, (rows, cols, 16, None), workers=2)
    assert len(shares) == 2
    everything = np.sort(np.concatenate([index for _, index in shares]))
    assert np.array_equal(everything, np.arange(rows.size))
    assert rows.size - 1 in shares[0][1]
    for cores, index in shares:
        inside = [any(r0 <= r < r1 and c0 <= c < c1 for r0, r1, c0, c1 in cores)
                  for r, c in zip(rows[index], cols[index])]
        assert sum(inside) == len(cores) * 25  # whole tiles of 5 x 5 points
    assert sorted(len(cores) for cores, _ in shares) == [3, 3]
    parts = [{"dx": rows[index] * 1.0} for _, index in shares]
    merged = flow_tasks._merged(parts, [index for _, index in shares], rows.size)
    assert np.array_equal(merged["dx"], rows * 1.0)


@pytest.mark.parametrize("run", [
    lambda tmp, address: align_local(tmp / "r.tif", tmp / "s.tif", tmp / "o.tif",
                                     dask_scheduler=address),
    lambda tmp, address: rectify_swath(str(tmp / "s.nc"), str(tmp / "o.tif"),
                                       dask_scheduler=address),
    lambda tmp, address: align_dem(tmp / "r.tif", tmp / "d.tif", tmp / "o.tif",
                                   method="blockwise", dask_scheduler=address),
    lambda tmp, address: band_math([tmp / "a.tif"], "(+ 1.b1 1)", tmp / "o.tif",
                                   dask_scheduler=address),
    lambda tmp, address: coregistered_stack([tmp / "a.tif"], "1.1", "1.1", tmp / "out",
                                            dask_scheduler=address),
], ids=["align_local", "rectify_swath", "align_dem", "band_math", "coregistered_stack"])
def test_a_malformed_scheduler_address_is_refused_first(run, tmp_path):
    with pytest.raises(CoregInputError, match="'localhost:8786' is not tcp://host:port"):
        run(tmp_path, "localhost:8786")
    assert list(tmp_path.iterdir()) == []


def test_a_wrong_scheduler_address_is_told(shared_data, tmp_path, monkeypatch):
    monkeypatch.setattr(execution, "DASK_CONNECT_TIMEOUT", 2)
    reference, secondary = write_pair(shared_data / SCENE, tmp_path, size=64)
    with pytest.raises(CoregInputError, match="is not tcp://host:port"):
        align_local(reference, secondary, tmp_path / "out.tif", dask_scheduler="host:8786")
    start = time.monotonic()
    with pytest.raises(CoregResourceError, match=r"No Dask scheduler answers at tcp://127\.0"):
        align_local(reference, secondary, tmp_path / "out.tif",
                    dask_scheduler="tcp://127.0.0.1:9")
    assert time.monotonic() - start < 10
    assert not (tmp_path / "out.tif").exists()


def corner(path, out, size: int):
    """The top left ``size`` x ``size`` pixels of ``path``."""
    with rasterio.open(path) as src:
        window = rasterio.windows.Window(0, 0, size, size)
        profile = dict(src.profile, width=size, height=size,
                       transform=src.window_transform(window))
        data = src.read(window=window)
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(data)
    return out


def test_align_dem_blockwise_on_the_cluster(shared_data, cluster, tmp_path, monkeypatch):
    folder = shared_data / "dem" / "longyearbyen"
    reference = corner(folder / "aligned_elev.tif", tmp_path / "reference.tif", 512)
    dem = corner(folder / "DEM_1995.tif", tmp_path / "dem.tif", 512)
    options = dict(method="blockwise", block_size=256)
    here = align_dem(reference, dem, tmp_path / "here.tif", **options)
    forbid_here(monkeypatch, (warp, "_resample_strip"), (block_tasks, "collect_samples"))
    there = align_dem(reference, dem, tmp_path / "there.tif", dask_scheduler=cluster.address,
                      **options)
    assert len(there.blocks) == 4 and there.report() == here.report()
    assert_same_rasters(tmp_path / "here.tif", tmp_path / "there.tif")
    with rasterio.open(tmp_path / "there.tif") as ds:  # tiles the workers compressed
        assert ds.compression == rasterio.enums.Compression.deflate and not ds.overviews(1)
        assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"


def test_band_math_on_the_cluster(shared_data, cluster, tmp_path, monkeypatch):
    monkeypatch.setattr(raster_math, "BLOCK", 48)  # 4 strips, cut on the client
    first, second = write_pair(shared_data / SCENE, tmp_path, size=192)
    expression = "anomaly:(- (norm_diff 1.b1 2.b1) (mean (norm_diff 1.b1 2.b1)))"
    band_math([first, second], expression, tmp_path / "here.tif")
    forbid_here(monkeypatch, (raster_math, "evaluate_strip"))
    band_math([first, second], expression, tmp_path / "there.tif",
              dask_scheduler=cluster.address)
    assert_same_rasters(tmp_path / "here.tif", tmp_path / "there.tif")


def test_coregistered_stack_on_the_cluster(shared_data, cluster, tmp_path, monkeypatch):
    monkeypatch.setattr(warp, "BLOCK", 64)  # strips cut on the client
    monkeypatch.setattr(raster_math, "BLOCK", 64)
    beirut = shared_data / "optical" / "oscd_s2" / "beirut_S2_20150820_B02-B03-B04-B08.tif"
    first = synthetic.crop(beirut, tmp_path / "first.tif", 300, 400, 256)
    inputs = [first]
    for k, case in enumerate((synthetic.Case(2.4, -1.7, seed=2),
                              synthetic.Case(-1.6, 1.2, seed=3)), start=2):
        synthetic.make_secondary(first, 3, tmp_path / f"input{k}.tif", case, extra_bands=(4,))
        inputs.append(tmp_path / f"input{k}.tif")
    options = dict(assets="1.3,1.4,2.1,2.2,3.1", reference_asset="1.3",
                   expressions="ndvi:(norm_diff 2.b2 2.b1); anomaly:(- 3.b1 (mean 3.b1))")
    here = coregistered_stack(inputs, output_folder=tmp_path / "here", **options)
    forbid_here(monkeypatch, (warp, "_resample_strip"), (raster_math, "evaluate_strip"),
                (shift_tasks, "estimate_alignment"))
    there = coregistered_stack(inputs, output_folder=tmp_path / "there",
                               dask_scheduler=cluster.address, **options)
    assert there.shifts == here.shifts
    assert [s["status"] for s in there.shifts.values()] == ["reference", "aligned", "aligned"]
    names = sorted(p.name for p in (tmp_path / "here").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "there").iterdir())
    for name in (n for n in names if n.endswith(".tif")):
        assert_same_rasters(tmp_path / "here" / name, tmp_path / "there" / name)


def test_rectify_swath_on_the_cluster(shared_data, cluster, tmp_path, monkeypatch):
    """OLCI (netCDF subdatasets) onto a 417 x 268 grid in 5 strips of 64 target rows, one
    task each."""
    monkeypatch.setattr(swath_tasks, "BLOCK", 64)
    monkeypatch.setattr(swath_tasks, "TASK_STRIPS", 1)
    nc = shared_data / "swath" / "O_L2_0001_SNS_2017104102450_v1.0.nc"
    res, x0, y0 = 0.0005832, 1.152138, 52.32967
    options = dict(interpolation="bilinear", prefilter=True, target_crs="EPSG:4326",
                   pixel_size=2 * res, extent=(x0, x0 + 834 * res, y0, y0 + 535 * res))
    source = f'NETCDF:"{nc}":rtoa_8'
    here = rectify_swath(source, str(tmp_path / "here.tif"),
                         lookup_output=str(tmp_path / "here_lookup.tif"), **options)
    forbid_here(monkeypatch, (sampling, "paint_lookup"))
    there = rectify_swath(source, str(tmp_path / "there.tif"),
                          lookup_output=str(tmp_path / "there_lookup.tif"),
                          dask_scheduler=cluster.address, **options)
    assert there.painted_pixels == here.painted_pixels > 50000
    assert (there.grid, there.notes, there.warnings) == (here.grid, here.notes, here.warnings)
    assert_same_rasters(tmp_path / "here.tif", tmp_path / "there.tif")
    assert_same_rasters(tmp_path / "here_lookup.tif", tmp_path / "there_lookup.tif")


@pytest.mark.parametrize("cog", [False, True], ids=["gtiff", "cog"])
def test_rectify_swath_on_the_cluster_writes_the_workers_tiles(shared_data, cluster, tmp_path,
                                                               monkeypatch, cog):
    """The workers compress the tiles (strips of 64 rows here: the outputs' tile rows);
    the files hold the in-process pixels bit for bit, tiled and DEFLATE-compressed, with
    overviews for a COG only."""
    monkeypatch.setattr(swath_tasks, "BLOCK", 64)
    monkeypatch.setattr(swath_tasks, "TASK_STRIPS", 2)
    nc = shared_data / "swath" / "O_L2_0001_SNS_2017104102450_v1.0.nc"
    res, x0, y0 = 0.0005832, 1.152138, 52.32967
    options = dict(interpolation="bilinear", target_crs="EPSG:4326", pixel_size=2 * res,
                   extent=(x0, x0 + 834 * res, y0, y0 + 535 * res), cog=cog)
    source = f'NETCDF:"{nc}":rtoa_8'
    here = rectify_swath(source, str(tmp_path / "here.tif"),
                         lookup_output=str(tmp_path / "here_lookup.tif"), **options)
    there = rectify_swath(source, str(tmp_path / "there.tif"),
                          lookup_output=str(tmp_path / "there_lookup.tif"),
                          dask_scheduler=cluster.address, **options)
    assert there.painted_pixels == here.painted_pixels > 50000
    for name in ("", "_lookup"):
        with rasterio.open(tmp_path / f"here{name}.tif") as a, \
                rasterio.open(tmp_path / f"there{name}.tif") as b:
            assert (b.crs, b.transform, b.shape, b.dtypes, b.descriptions) == \
                (a.crs, a.transform, a.shape, a.dtypes, a.descriptions)
            assert np.array_equal(b.nodata, a.nodata, equal_nan=True)
            np.testing.assert_array_equal(b.read(), a.read())  # NaN where a has NaN
            assert b.compression == rasterio.enums.Compression.deflate
            assert b.is_tiled and set(b.block_shapes) == {(64, tile_side(b.width))}
            assert bool(b.overviews(1)) == cog  # (GDAL's COG of one tile has none)
            assert b.height > 4 * 64  # 5 strips in 4 tasks of the 2 workers
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{w}{n}.tif" for w in ("here", "there") for n in ("", "_lookup"))


def test_rectify_swath_on_the_cluster_covering_nothing_writes_nothing(shared_data, cluster,
                                                                      tmp_path):
    nc = shared_data / "swath" / "O_L2_0001_SNS_2017104102450_v1.0.nc"
    with pytest.raises(CoregInputError, match="does not cover"):
        rectify_swath(f'NETCDF:"{nc}":rtoa_8', str(tmp_path / "o.tif"),
                      target_crs="EPSG:4326", pixel_size=0.01, extent=(40, 41, 10, 11),
                      lookup_output=str(tmp_path / "lookup.tif"),
                      dask_scheduler=cluster.address)
    assert list(tmp_path.iterdir()) == []


def test_a_cancel_stops_the_run_while_its_tasks_are_still_computing(cluster):
    """Each task takes 2 s; the run is canceled after 0.3 s and ends well before any task
    could have finished (the cancel was polled only as tasks finished)."""
    from coreg.core.distributed import cluster_client, cluster_map

    with cluster_client(cluster.address, []) as client:
        start = time.monotonic()
        with pytest.raises(CanceledError):
            for _ in cluster_map(client, time.sleep, [(2.0,)] * 4,
                                 lambda: time.monotonic() > start + 0.3):
                pass
        assert time.monotonic() - start < 1.0


def test_an_input_one_worker_cannot_read_is_told_first(shared_data, real_dask_cluster,
                                                       tmp_path):
    """The workers check the paths before any tile: the one that does not see an input
    (as on another host) is named, within 10 s, and nothing is written."""
    cluster, hidden = real_dask_cluster
    if hidden is None:
        pytest.skip("no unprivileged user namespaces (unshare) to hide a folder from a worker")
    (hidden / "band_math").mkdir(exist_ok=True)
    unseen, _ = write_pair(shared_data / SCENE, hidden / "band_math", size=64)
    start = time.monotonic()
    with pytest.raises(CoregInputError, match=r"^On Dask worker tcp://127\.0\.0\.1:\d+ \(\S+\) "
                       f"the input '{re.escape(str(unseen))}' cannot be read there"):
        band_math([unseen], "(+ 1.b1 1)", tmp_path / "out.tif", dask_scheduler=cluster.address)
    assert time.monotonic() - start < 10
    assert not (tmp_path / "out.tif").exists()
