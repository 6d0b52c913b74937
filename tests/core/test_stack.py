"""Time series to one anchor: statuses, names, quality JSON, shifts; processes and Dask."""

from __future__ import annotations

import csv
import logging
import socket
import time
from pathlib import Path

import pytest
import rasterio
from stack_fixture import build_stack, check_results

from coreg.core.errors import CoregInputError, CoregistrationError, CoregResourceError
from coreg.core.stack import execution
from coreg.core.stack.stack import align_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    items = build_stack(tmp_path_factory.mktemp("stack_in"))
    inputs = [path for name, path in items.items() if name != "mask"]
    return items, inputs


def test_align_stack__in_process(stack, tmp_path):
    items, inputs = stack
    results = align_stack(inputs, items["anchor"], tmp_path, masks=[items["mask"]],
                          summary=tmp_path / "summary.csv", workers=1)
    check_results(items, tmp_path, results, reproject=False)
    rows = list(csv.DictReader((tmp_path / "summary.csv").open()))
    assert [Path(r["input"]).name for r in rows] == [Path(p).name for p in inputs]
    with rasterio.open(tmp_path / "t5_utm_coreg.tif") as out:
        assert out.crs.to_epsg() == 32636  # not reprojected


def test_align_stack__two_processes_reprojected(stack, tmp_path):
    items, inputs = stack
    results = align_stack(inputs, items["anchor"], tmp_path, masks=[items["mask"]], workers=2,
                          reproject=True)
    check_results(items, tmp_path, results, reproject=True)
    with rasterio.open(items["anchor"]) as anchor, \
            rasterio.open(tmp_path / "t5_utm_coreg.tif") as out:
        assert out.crs == anchor.crs and out.res == pytest.approx(anchor.res)
        col, row = ~anchor.transform * (out.transform.c, out.transform.f)
        assert col == pytest.approx(round(col), abs=1e-6)  # on the anchor's pixel grid
        assert row == pytest.approx(round(row), abs=1e-6)


def test_align_stack__dask_local_cluster(stack, tmp_path):
    import distributed  # installed by make deps (python3-distributed)
    items, inputs = stack
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        results = align_stack(inputs, items["anchor"], tmp_path, masks=[items["mask"]],
                              dask_scheduler=cluster.scheduler_address)
    check_results(items, tmp_path, results, reproject=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_align_stack__no_dask_scheduler_is_a_resource_error_in_seconds(stack, tmp_path,
                                                                         monkeypatch):
    """Nothing listens at the address: a clear error after the connection timeout (not
    Dask's 30 s and a traceback), before anything is written (the timeout shortened from
    DASK_CONNECT_TIMEOUT: the suite need not wait 10 s)."""
    timeout = 2
    monkeypatch.setattr(execution, "DASK_CONNECT_TIMEOUT", timeout)
    items, inputs = stack
    address = f"tcp://127.0.0.1:{_free_port()}"
    start = time.perf_counter()
    with pytest.raises(CoregResourceError, match=f"No Dask scheduler answers at {address} .*"
                                                 "`dask scheduler`"):
        align_stack(inputs, items["anchor"], tmp_path / "out", dask_scheduler=address)
    assert time.perf_counter() - start < timeout + 5
    assert not (tmp_path / "out").exists()


MALFORMED = {"no scheme": "127.0.0.1:8786", "http": "http://127.0.0.1:8786",
             "no port": "tcp://127.0.0.1", "no host": "tcp://:8786",
             "port 0": "tcp://127.0.0.1:0", "port too large": "tcp://127.0.0.1:99999",
             "a path": "tcp://127.0.0.1:8786/path", "a space": "tcp://a host:8786",
             "inproc": "inproc://127.0.0.1/1/1", "ucx": "ucx://127.0.0.1:8786",
             "a command after": "tcp://127.0.0.1:8786\n; rm -rf /",
             "a 100 000-character host": "tcp://" + "a" * 100_000 + ":1"}


@pytest.mark.parametrize("address", MALFORMED.values(), ids=MALFORMED.keys())
def test_align_stack__malformed_dask_address_is_an_input_error(stack, tmp_path, address):
    items, inputs = stack
    start = time.perf_counter()
    with pytest.raises(CoregInputError, match="is not tcp://host:port or tls://host:port"):
        align_stack(inputs, items["anchor"], tmp_path / "out", dask_scheduler=address)
    assert time.perf_counter() - start < 1.0
    assert not (tmp_path / "out").exists()


def test_align_stack__tls_without_certificates_is_an_input_error(stack, tmp_path):
    items, inputs = stack
    with pytest.raises(CoregInputError, match="no TLS certificates are configured"):
        align_stack(inputs, items["anchor"], tmp_path / "out",
                    dask_scheduler=f"tls://127.0.0.1:{_free_port()}")
    assert not (tmp_path / "out").exists()


def test_align_stack__unreadable_item_does_not_stop_the_stack(stack, tmp_path):
    items, inputs = stack
    broken = tmp_path / "in" / "t7_truncated.tif"
    broken.parent.mkdir()
    broken.write_bytes(items["t1_shifted"].read_bytes()[:5000])
    results = align_stack([items["anchor"], broken, items["t2_shifted"]], items["anchor"],
                          tmp_path / "out", workers=1)
    assert [r.status for r in results] == ["anchor", "failed", "aligned"]
    assert "t7_truncated" in results[1].input and results[1].reason


def test_align_stack__errors(stack, tmp_path):
    items, inputs = stack
    with pytest.raises(ValueError, match="anchor must be one of the inputs"):
        align_stack(inputs[1:], items["anchor"], tmp_path)
    with pytest.raises(ValueError, match="in the output folder"):
        align_stack(inputs, items["anchor"], items["anchor"].parent)


def test_align_stack__every_scene_failed_is_an_error(stack, tmp_path):
    """Only the anchor delivered: the run failed, and says why (the reports are written)."""
    items, _ = stack
    with pytest.raises(CoregistrationError, match=r"^Every scene failed, nothing was aligned: "
                       r"1 of 1 scenes failed: t6_elsewhere\.tif \(.*overlap"):
        align_stack([items["anchor"], items["t6_elsewhere"]], items["anchor"], tmp_path,
                    summary=tmp_path / "summary.csv", workers=1)
    assert (tmp_path / "t6_elsewhere_quality.json").is_file()
    assert (tmp_path / "summary.csv").is_file()


def test_align_stack__some_scenes_failed_is_a_warning(stack, tmp_path, caplog):
    items, _ = stack
    with caplog.at_level(logging.WARNING):
        results = align_stack([items["anchor"], items["t2_shifted"], items["t6_elsewhere"]],
                              items["anchor"], tmp_path, workers=1)
    assert [r.status for r in results] == ["anchor", "aligned", "failed"]
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"1 of 2 scenes failed: t6_elsewhere.tif ({results[2].reason})."]
