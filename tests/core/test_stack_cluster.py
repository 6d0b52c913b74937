"""The time series on a real Dask cluster: a ``dask scheduler`` and two ``dask worker``
processes started by scripts/dask_cluster.py with a clean environment (their own working
folder, no PYTHONPATH: they cannot import this checkout unless Coreg sends it)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from conftest import REPO_ROOT, dask_cluster
from stack_fixture import build_stack, check_results
from threadpoolctl import threadpool_limits

from coreg.core.errors import CoregInputError, CoregOutputError, CoregResourceError
from coreg.core.stack import cluster as cluster_module
from coreg.core.stack.stack import align_stack

#: Seconds within which a worker problem must be told (the issue's promise).
TOLD_WITHIN = 10
WORKER = r"Dask worker tcp://127\.0\.0\.1:\d+ \(\S+\)"


def _hidden_or_skip(hidden):
    if hidden is None:
        pytest.skip("no unprivileged user namespaces (unshare) to hide a folder from a worker")
    return hidden


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    items = build_stack(tmp_path_factory.mktemp("stack_in"))
    inputs = [path for name, path in items.items() if name != "mask"]
    return items, inputs


@pytest.fixture
def cluster(real_dask_cluster):
    return real_dask_cluster[0]


@pytest.fixture
def hidden(real_dask_cluster):
    """A folder the client sees and the second worker does not (as on another host)."""
    return _hidden_or_skip(real_dask_cluster[1])


def test_plugin_and_report_unpickle_where_the_engine_is_missing(tmp_path):
    """Plain pickle, whatever Dask chooses: a Python without the engine gets them whole."""
    import pickle

    cluster_module.register_by_value()
    plugin = cluster_module.EnginePlugin("coreg-x", "0-abc", b"zip")
    (tmp_path / "plugin.pkl").write_bytes(pickle.dumps(plugin))
    (tmp_path / "report.pkl").write_bytes(pickle.dumps(cluster_module.ByValue(
        cluster_module.worker_report)))
    script = textwrap.dedent("""
        import pickle, sys
        plugin = pickle.load(open("plugin.pkl", "rb"))
        report = pickle.load(open("report.pkl", "rb"))
        print(type(plugin).__name__, plugin.name, plugin.stamp, plugin.archive.decode(),
              report("coreg", [], ".", "no-token")["error"], "coreg" in sys.modules)
        """)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                               cwd=tmp_path, env=dask_cluster.clean_environment(), timeout=60)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.split() == ["EnginePlugin", "coreg-engine-coreg-x", "0-abc", "zip",
                                        "ModuleNotFoundError:", "No", "module", "named",
                                        "'coreg'", "False"]


def test_real_cluster_aligns_the_stack_as_in_process(stack, cluster, tmp_path):
    items, inputs = stack
    # A Dask worker's nanny runs BLAS on one thread (OPENBLAS_NUM_THREADS=1); BLAS on more
    # threads changes the last bits of a fit, and then a few pixels by 1 DN.
    with threadpool_limits(1, user_api="blas"):
        reference = align_stack(inputs, items["anchor"], tmp_path / "in_process",
                                masks=[items["mask"]], workers=1)
    results = align_stack(inputs, items["anchor"], tmp_path / "cluster", masks=[items["mask"]],
                          summary=tmp_path / "summary.csv", dask_scheduler=cluster.address)
    check_results(items, tmp_path / "cluster", results, reproject=False)
    assert len(results) == 7
    assert [r.status for r in results] == [r.status for r in reference]
    for got, expected in zip(results, reference):
        assert Path(got.input).name == Path(expected.input).name
        assert got.pixel_shift["x"] == pytest.approx(expected.pixel_shift["x"], abs=0.05)
        assert got.pixel_shift["y"] == pytest.approx(expected.pixel_shift["y"], abs=0.05)
    names = sorted(p.name for p in (tmp_path / "in_process").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "cluster").iterdir())
    for name in (n for n in names if n.endswith(".tif")):
        with rasterio.open(tmp_path / "in_process" / name) as a, \
                rasterio.open(tmp_path / "cluster" / name) as b:
            assert (a.crs, a.transform, a.shape) == (b.crs, b.transform, b.shape), name
            np.testing.assert_array_equal(a.read(), b.read(), err_msg=name)
    shipped = list(cluster.folder.glob("worker-*/**/coreg-engine-*/coreg/core/stack/stack.py"))
    assert len({p.parts[len(cluster.folder.parts)] for p in shipped}) == 2  # both workers


def test_workers_without_the_engine_when_it_is_not_sent(stack, tmp_path):
    from distributed import Client

    items, inputs = stack
    with dask_cluster.running_cluster(2) as bare:
        with Client(bare.address, timeout=10) as client:  # the checkout is not theirs
            found = client.run(lambda: __import__("importlib.util").util.find_spec("coreg"))
        assert len(found) == 2 and all(spec is None for spec in found.values())
        start = time.monotonic()
        with pytest.raises(CoregResourceError) as info:
            align_stack(inputs, items["anchor"], tmp_path / "out", dask_scheduler=bare.address,
                        ship_engine=False)
        assert time.monotonic() - start < TOLD_WITHIN
    message = str(info.value)
    assert len(re.findall(WORKER + " cannot import the Coreg engine as 'coreg': "
                          "ModuleNotFoundError: No module named 'coreg'", message)) == 2
    assert "pip install 'coreg[dask]==" in message and "let Coreg send it" in message
    assert not (tmp_path / "out").exists()


def test_a_plugin_folder_of_another_name_is_sent_under_that_name(stack, cluster, tmp_path):
    """QGIS imports the plugin by its folder name (here 'coreg-main'): the tasks name that
    package, and the workers get the engine under it."""
    items, _ = stack
    packages = tmp_path / "plugins"
    packages.mkdir()
    (packages / "coreg-main").symlink_to(REPO_ROOT, target_is_directory=True)
    script = textwrap.dedent(f"""
        import importlib, sys
        sys.path.insert(0, {str(packages)!r})
        coreg = importlib.import_module("coreg-main")
        results = coreg.align_stack([{str(items['anchor'])!r}, {str(items['t2_shifted'])!r}],
                                    {str(items['anchor'])!r}, {str(tmp_path / 'out')!r},
                                    dask_scheduler={cluster.address!r})
        print(results[1].status, type(results[1]).__module__, results[1].pixel_shift["x"])
        """)
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                               cwd=tmp_path, env=dask_cluster.clean_environment(), timeout=120)
    assert completed.returncode == 0, completed.stderr[-3000:]
    status, module, shift = completed.stdout.split()
    assert (status, module) == ("aligned", "coreg-main.core.stack.stack")
    assert float(shift) == pytest.approx(-3.1, abs=0.05)


def test_an_input_one_worker_cannot_read(stack, cluster, hidden, tmp_path):
    items, _ = stack
    (hidden / "inputs").mkdir(exist_ok=True)
    unseen = Path(shutil.copy(items["t1_shifted"], hidden / "inputs"))
    start = time.monotonic()
    with pytest.raises(CoregInputError) as info:
        align_stack([items["anchor"], unseen], items["anchor"], tmp_path / "out",
                    dask_scheduler=cluster.address)
    assert time.monotonic() - start < TOLD_WITHIN
    message = str(info.value)
    assert len(re.findall(WORKER, message)) == 1  # the worker that does not see it
    assert re.match(f"On {WORKER} the input '{re.escape(str(unseen))}' cannot be read "
                    r"there \(No such file or directory\)\.", message), message
    assert "a shared file system" in message
    assert not (tmp_path / "out").exists()


def test_an_output_folder_one_worker_does_not_see(stack, cluster, hidden):
    items, inputs = stack
    out = hidden / "out" / "run"
    start = time.monotonic()
    with pytest.raises(CoregOutputError) as info:
        align_stack(inputs, items["anchor"], out, dask_scheduler=cluster.address)
    assert time.monotonic() - start < TOLD_WITHIN
    message = str(info.value)
    assert len(re.findall(WORKER, message)) == 1
    assert re.match(f"On {WORKER} the output folder '{re.escape(str(out))}' is not the "
                    "client's folder there", message), message
    assert not (hidden / "out").exists()  # nothing written (the folder is shared by tests)


def test_a_scheduler_without_workers(stack, tmp_path, monkeypatch):
    monkeypatch.setattr(cluster_module, "WORKER_TIMEOUT", 2)
    items, inputs = stack
    with dask_cluster.running_cluster(0) as empty:
        start = time.monotonic()
        with pytest.raises(CoregResourceError, match=re.escape(
                f"The Dask scheduler at {empty.address} has no workers (waited 2 s): start "
                f"some with `dask worker {empty.address}`")):
            align_stack(inputs, items["anchor"], tmp_path / "out", dask_scheduler=empty.address)
        assert time.monotonic() - start < 2 + 5
    assert not (tmp_path / "out").exists()


def _installed(folder: Path, version: str | None) -> dict[str, str]:
    """A worker environment with the engine 'installed' as ``coreg`` (the checkout, or a
    copy claiming another ``version``), as ``pip install coreg`` would."""
    folder.mkdir()
    if version is None:
        (folder / "coreg").symlink_to(REPO_ROOT, target_is_directory=True)
    else:
        (folder / "coreg").mkdir()
        shutil.copy(REPO_ROOT / "__init__.py", folder / "coreg")
        shutil.copytree(REPO_ROOT / "core", folder / "coreg" / "core",
                        ignore=shutil.ignore_patterns("__pycache__"))
        (folder / "coreg" / "metadata.txt").write_text(f"[general]\nversion={version}\n")
    return {"PYTHONPATH": str(folder)}


def test_workers_with_the_same_engine_installed(stack, tmp_path):
    items, _ = stack
    with dask_cluster.running_cluster(2, env=_installed(tmp_path / "site", None)) as c:
        results = align_stack([items["anchor"], items["t2_shifted"]], items["anchor"],
                              tmp_path / "out", dask_scheduler=c.address, ship_engine=False)
        assert not list(c.folder.glob("worker-*/**/coreg-engine-*"))  # nothing was sent
    assert results[1].status == "aligned"
    assert results[1].pixel_shift["x"] == pytest.approx(-3.1, abs=0.05)


def test_workers_with_another_version_installed(stack, tmp_path):
    """Not sent: the message names both versions. Sent: the sent engine replaces the one a
    worker had imported."""
    from distributed import Client

    items, _ = stack
    with dask_cluster.running_cluster(2, env=_installed(tmp_path / "site", "0.0.1")) as c:
        with Client(c.address, timeout=10) as client:  # the old engine, imported already
            assert set(client.run(lambda: __import__("coreg").__version__).values()) == {
                "0.0.1"}
        with pytest.raises(CoregResourceError) as info:
            align_stack([items["anchor"], items["t2_shifted"]], items["anchor"],
                        tmp_path / "refused", dask_scheduler=c.address, ship_engine=False)
        version = cluster_module.engine_version()
        assert len(re.findall(f"{WORKER} has Coreg 0\\.0\\.1, this is Coreg "
                              f"{re.escape(version)}\\.", str(info.value))) == 2
        assert not (tmp_path / "refused").exists()
        results = align_stack([items["anchor"], items["t2_shifted"]], items["anchor"],
                              tmp_path / "out", dask_scheduler=c.address)
    assert results[1].status == "aligned"
