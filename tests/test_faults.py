"""Fault injection: hostile, careless and unlucky inputs, outputs and events.

Every case asserts three things: a clear message (an engine error, or a qgis_process
exit status other than 0 with no Python traceback), no file changed that the run was not
asked to write (hashes before and after), and nothing left in the output folder but the
outputs of runs that succeeded. Cases needing a tmpfs mount (disk full, read-only
folder) are skipped with the reason when the machine does not allow mounting.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic import crop

from coreg.core.errors import (
    CanceledError,
    CoregError,
    CoregInputError,
    CoregOutputError,
    CoregResourceError,
)
from coreg.core.io import outputs
from coreg.core.io.outputs import (
    TEMP_MARK,
    atomic_path,
    check_outputs,
    hold_outputs,
    temporary_name,
    terminate_cleanly,
)
from coreg.core.io.paths import local_input
from coreg.core.io.raster_io import read_info
from coreg.core.matching.align import align_image
from coreg.core.matching.fit import RigidModel
from coreg.core.stack.stack import align_stack
from coreg.core.swath.swath import rectify_swath
from coreg.core.transforms.apply import apply_to_rasters
from coreg.core.transforms.model import Rigid

OPTICAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "optical"
BEIRUT = OPTICAL / "oscd_s2" / "beirut_S2_20150820_B02-B03-B04-B08.tif"
#: Whole-pixel offset of the secondary's crop: its exact correction is (+3, +2) px.
OFFSET = (3, 2)


# ----------------------------------------------------------------------- helpers


def digest(folder: Path) -> dict[str, str]:
    """Hash of every file under ``folder`` (names relative to it)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(folder: Path) -> list[str]:
    """Temporaries of any run (current or older naming) under ``folder``."""
    return [p.name for p in folder.rglob("*") if TEMP_MARK in p.name or p.name.endswith(".tmp")]


@pytest.fixture(scope="module")
def scene_pair(tmp_path_factory) -> tuple[Path, Path]:
    """A 256 px reference and a secondary cropped 3, 2 px away: exact whole-pixel truth."""
    folder = tmp_path_factory.mktemp("faults_pair")
    reference = crop(BEIRUT, folder / "ref.tif", 300, 300, 256, bands=(4,))
    secondary = crop(BEIRUT, folder / "sec.tif", 300 - OFFSET[0], 300 - OFFSET[1], 256,
                     bands=(4,))
    with rasterio.open(reference) as ref, rasterio.open(secondary, "r+") as sec:
        sec.transform = ref.transform  # the content moves, the georeferencing does not
    return reference, secondary


@pytest.fixture
def pair(scene_pair, tmp_path) -> tuple[Path, Path]:
    """Fresh copies of the pair in this test's folder (cases may try to damage them)."""
    copies = []
    for path in scene_pair:
        copy = tmp_path / path.name
        copy.write_bytes(path.read_bytes())
        copies.append(copy)
    return copies[0], copies[1]


@contextlib.contextmanager
def tmpfs(folder: Path, size: str, readonly: bool = False):
    """A small tmpfs at ``folder`` (root only), unmounted afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if readonly else "")
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({result.stderr.strip() or 'not root'}): "
                    "the disk-full and read-only cases need one")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path, leave: int) -> None:
    """Fill the file system of ``folder`` up to ``leave`` free bytes."""
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    (folder / "ballast").write_bytes(b"\0" * max(0, free - leave))


UTM_10M = Affine(10, 0, 500000, 0, -10, 4e6)


def write_raster(path: Path, data: np.ndarray, transform=UTM_10M, crs="EPSG:32633",
                 **extra) -> Path:
    profile = dict(driver="GTiff", width=data.shape[-1], height=data.shape[-2],
                   count=1 if data.ndim == 2 else data.shape[0], dtype=str(data.dtype),
                   crs=crs, transform=transform, **extra)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data if data.ndim == 3 else data[None])
    return path


# ------------------------------------------------------------- hostile input files


def _empty(folder):
    (folder / "empty.tif").write_bytes(b"")
    return folder / "empty.tif", "empty"


def _text(folder):
    (folder / "notes.tif").write_text("this is not a raster\n")
    return folder / "notes.tif", "does not recognise its format|not recognized as"


def _no_georef(folder):
    return write_raster(folder / "plain.tif", np.ones((8, 8), np.float32), Affine.identity(),
                        crs=None), "no georeferencing"


def _zero_pixel(folder):
    source = write_raster(folder / "source.tif", np.ones((8, 8), np.float32))
    vrt = folder / "zero.vrt"
    subprocess.run(["gdal_translate", "-q", "-of", "VRT", "-a_ullr", "500000", "4000000",
                    "500000", "3999920", str(source), str(vrt)], check=True)
    return vrt, "zero pixel size"


def _complex(folder):
    return write_raster(folder / "slc.tif", np.ones((8, 8), np.complex64)), "complex values"


def _missing(folder):
    return folder / "nowhere.tif", "no such file"


def _folder(folder):
    (folder / "a_folder").mkdir()
    return folder / "a_folder", "folder"


def _netcdf_passwd(folder):
    return 'NETCDF:"/etc/passwd":x', "cannot be read as a raster"


def _vsicurl(folder):
    return "/vsicurl?list_dir=no&url=http%3A%2F%2F127.0.0.1%3A9%2Fa.tif", "not a local file"


def _url(folder):
    return "https://example.com/a.tif", "not a local file"


HOSTILE_FILES = [_empty, _text, _no_georef, _zero_pixel, _complex, _missing, _folder,
                 _netcdf_passwd, _vsicurl, _url]


@pytest.mark.parametrize("make", HOSTILE_FILES, ids=[f.__name__[1:] for f in HOSTILE_FILES])
def test_hostile_secondary__clear_input_error(make, pair, tmp_path):
    reference, _ = pair
    secondary, words = make(tmp_path)
    before = digest(tmp_path)
    with pytest.raises(CoregInputError, match=words):
        align_image(reference, secondary, tmp_path / "out.tif")
    assert digest(tmp_path) == before


@pytest.mark.parametrize("band", [0, -1, 2, 1.5, True])
def test_band_out_of_range__names_the_band(band, pair):
    with pytest.raises(CoregInputError, match="does not exist"):
        read_info(pair[0], "Reference").check_band(band, "Reference")


@pytest.mark.parametrize("max_shift", [float("nan"), float("inf"), -1.0, 0.0])
def test_max_shift_not_finite_positive__refused(max_shift, pair, tmp_path):
    with pytest.raises(CoregInputError, match="maximum shift"):
        align_image(*pair, tmp_path / "out.tif", max_shift=max_shift)
    assert not (tmp_path / "out.tif").exists()


def test_remote_path__refused_without_contacting_anyone():
    # A closed port on loopback: a request would fail slowly or loudly; a refusal is
    # instant and names the rule.
    started = time.perf_counter()
    with pytest.raises(CoregInputError, match="only reads local files"):
        local_input("/vsicurl/http://127.0.0.1:9/a.tif", "Secondary")
    assert time.perf_counter() - started < 0.1


def test_remote_secondary__no_request_reaches_the_server(pair, tmp_path):
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    port = server.getsockname()[1]
    try:
        for secondary in (f"/vsicurl/http://127.0.0.1:{port}/a.tif",
                          f"/vsicurl?list_dir=no&url=http%3A%2F%2F127.0.0.1%3A{port}%2Fa.tif"):
            with pytest.raises(CoregInputError, match="not a local file"):
                align_image(pair[0], secondary, tmp_path / "out.tif")
        with pytest.raises(socket.timeout):
            server.accept()  # nobody called
    finally:
        server.close()


# ---------------------------------------------------------- outputs and collisions


@pytest.mark.parametrize("output", ["", "   ", "/vsimem/x.tif", "s3://bucket/x.tif",
                                    'GPKG:"x.gpkg":t'])
def test_output_path_not_a_local_file__refused(output, pair):
    with pytest.raises(CoregOutputError):
        align_image(*pair, output)


def test_output_naming_a_folder__refused(pair, tmp_path):
    (tmp_path / "dir").mkdir()
    with pytest.raises(CoregOutputError, match="existing folder"):
        align_image(*pair, tmp_path / "dir")


def test_output_through_a_symlink_to_the_input__refused(pair, tmp_path):
    reference, secondary = pair
    (tmp_path / "link.tif").symlink_to(secondary)
    before = digest(tmp_path)
    with pytest.raises(CoregOutputError, match="would replace the input 'Secondary'"):
        align_image(reference, secondary, tmp_path / "link.tif")
    assert digest(tmp_path) == before


def test_vrt_whose_source_is_the_output__refused(pair, tmp_path):
    reference, secondary = pair
    vrt = tmp_path / "sec.vrt"
    subprocess.run(["gdalbuildvrt", "-q", str(vrt), str(secondary)], check=True)
    before = digest(tmp_path)
    with pytest.raises(CoregOutputError, match="reads through"):
        align_image(reference, vrt, secondary)
    assert digest(tmp_path) == before


def test_apply_to_name_collisions(pair, tmp_path):
    reference, secondary = pair
    grid = read_info(reference).grid
    alignment = Rigid(RigidModel(30.0, -20.0), grid.crs, grid.bounds)
    # A protected file named like an APPLY_TO output is refused before anything is written.
    protected = tmp_path / "sec_coreg.tif"
    protected.write_bytes(reference.read_bytes())
    before = digest(tmp_path)
    with pytest.raises(CoregOutputError, match="sec_coreg.tif"):
        apply_to_rasters(alignment, [secondary], tmp_path, protected={"Reference": protected})
    assert digest(tmp_path) == before
    # Two rasters with the same name from different folders: two outputs, none lost.
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "scene.tif").write_bytes(secondary.read_bytes())
    out = tmp_path / "out"
    paths = apply_to_rasters(alignment, [tmp_path / "a" / "scene.tif",
                                         tmp_path / "b" / "scene.tif"], out)
    assert [Path(p).name for p in paths] == ["scene_coreg.tif", "scene_coreg_2.tif"]
    assert all(Path(p).is_file() for p in paths)


def test_stack_scenes_with_one_name__both_delivered(pair, tmp_path):
    reference, secondary = pair
    inputs = []
    for sub, source in (("d1", reference), ("d2", secondary), ("d3", secondary)):
        (tmp_path / sub).mkdir()
        inputs.append(tmp_path / sub / "scene.tif")
        inputs[-1].write_bytes(source.read_bytes())
    results = align_stack(inputs, inputs[0], tmp_path / "out", workers=1)
    outputs = [r.output_file for r in results]
    assert len(set(outputs)) == 3 and all(Path(o).is_file() for o in outputs)


def test_sidecar_made_after_a_check__still_an_input(tmp_path):
    """The inputs' file lists are cached between runs: an overview file made since the
    last check (here the output path itself) is still seen as read by the input."""
    source = write_raster(tmp_path / "a.tif", np.ones((1, 32, 32), np.float32))
    sidecar = tmp_path / "a.tif.ovr"
    check_outputs({"Output": sidecar}, {"Reference": source})  # no sidecar yet: allowed
    with rasterio.open(sidecar, "w", driver="GTiff", width=16, height=16, count=1,
                       dtype="float32") as ovr:
        ovr.write(np.ones((1, 16, 16), np.float32))
    with pytest.raises(CoregOutputError, match="would replace the input 'Reference'"):
        check_outputs({"Output": sidecar}, {"Reference": source})


def test_rectify_swath_output_equal_to_input__refused(tmp_path):
    lon, lat = np.meshgrid(np.linspace(10, 11, 20), np.linspace(45, 46, 20))
    source = write_raster(tmp_path / "swath.tif", np.stack([lon, lat, lon * 0 + 1]).astype(
        np.float32), Affine.identity(), crs=None)
    before = digest(tmp_path)
    with pytest.raises(CoregOutputError, match="would replace the input"):
        rectify_swath(str(source), str(source), x_coords=str(source), y_coords=str(source),
                      x_band=1, y_band=2, bands=[3])
    with pytest.raises(CoregOutputError, match="same file"):
        rectify_swath(str(source), str(tmp_path / "o.tif"), x_coords=str(source),
                      y_coords=str(source), x_band=1, y_band=2, bands=[3],
                      lookup_output=str(tmp_path / "o.tif"))
    assert digest(tmp_path) == before


# --------------------------------------------------------------- concurrent runs


def test_concurrent_run_on_the_same_output__refused(pair, tmp_path):
    output = tmp_path / "out.tif"
    holding, release = threading.Event(), threading.Event()

    def other_run():
        with hold_outputs([output]):
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=other_run)
    thread.start()
    try:
        assert holding.wait(30)
        with pytest.raises(CoregOutputError, match="Another run is writing"):
            align_image(*pair, output)
    finally:
        release.set()
        thread.join()
    align_image(*pair, output)  # free again
    assert output.is_file()


def test_concurrent_run_in_another_process__refused(pair, tmp_path):
    output = tmp_path / "out.tif"
    code = ("import sys, time; from coreg.core.io.outputs import hold_outputs\n"
            f"with hold_outputs([{str(output)!r}]):\n"
            "    print('held', flush=True); time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(CoregOutputError, match="Another run is writing"):
            align_image(*pair, output)
    finally:
        child.kill()
        child.wait()
    assert not output.exists()


# ------------------------------------------------------ failed writes, temporaries


def test_stale_temporaries_of_a_killed_run__removed(pair, tmp_path):
    output = tmp_path / "out.tif"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = temporary_name(output, int(dead), "0123abcd")
    stale = [stale, stale.with_name(stale.name + ".gtiff.tmp")]
    alive = temporary_name(output, os.getppid(), "89abcdef")  # a live run's
    other_host = tmp_path / f".out{TEMP_MARK}ffffff-{dead}-0123abcd.tif"  # a shared folder
    for path in [*stale, alive, other_host]:
        path.write_bytes(b"partial")
    align_image(*pair, output)
    assert output.is_file() and alive.exists() and other_host.exists()
    assert not any(p.exists() for p in stale)


def test_a_folder_is_listed_again_only_once_another_run_changed_it(tmp_path, monkeypatch):
    """A batch writing thousands of outputs into one folder lists it for a killed run's
    temporaries when something else changed it, not at every write."""
    listed = []
    scandir = os.scandir

    def counted(path="."):
        listed.append(Path(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", counted)
    output = tmp_path / "out.bin"
    for _ in range(3):
        with atomic_path(output) as tmp:
            Path(tmp).write_bytes(b"out")
    assert listed.count(tmp_path) == 1
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = temporary_name(tmp_path / "another.tif", int(dead), "0123abcd")
    stale.write_bytes(b"partial")
    later = tmp_path.stat().st_mtime_ns + 10**9  # as a killed run's later write leaves it
    os.utime(tmp_path, ns=(later, later))
    with atomic_path(output) as tmp:
        Path(tmp).write_bytes(b"out")
    assert listed.count(tmp_path) == 2 and not stale.exists()
    monkeypatch.setattr(outputs, "SWEEP_SECONDS", 0.0)
    with atomic_path(output) as tmp:  # listed anyway once a while has passed
        Path(tmp).write_bytes(b"out")
    assert listed.count(tmp_path) == 3


def test_failed_write__keeps_the_earlier_output(tmp_path):
    output = tmp_path / "out.tif"
    output.write_bytes(b"an earlier, valid output")
    with pytest.raises(RuntimeError), atomic_path(output) as tmp:
        Path(tmp).write_bytes(b"half")
        raise RuntimeError("the run failed")
    assert output.read_bytes() == b"an earlier, valid output"
    assert leftovers(tmp_path) == []


def test_outputs_follow_the_umask(pair, tmp_path):
    previous = os.umask(0o022)
    try:
        align_image(*pair, tmp_path / "out.tif")
    finally:
        os.umask(previous)
    assert (tmp_path / "out.tif").stat().st_mode & 0o777 == 0o644


def test_disk_full__earlier_output_kept_and_not_enough_space_said(pair, tmp_path):
    with tmpfs(tmp_path / "small", "3m") as folder:
        output = folder / "out.tif"
        output.write_bytes(b"an earlier, valid output")
        fill(folder, 80_000)  # passes the up-front estimate (65 kB), not the write (100 kB)
        with pytest.raises(CoregResourceError, match="Not enough space"):
            align_image(*pair, output)
        assert output.read_bytes() == b"an earlier, valid output"
        assert leftovers(folder) == []
        (folder / "ballast").unlink()
        fill(folder, 20_000)  # refused before any work
        with pytest.raises(CoregResourceError, match="Not enough space"):
            align_image(*pair, output)
        assert output.read_bytes() == b"an earlier, valid output"


def test_read_only_folder__refused_before_work(pair, tmp_path):
    with tmpfs(tmp_path / "ro", "1m", readonly=True) as folder:
        with pytest.raises(CoregOutputError, match="not writable"):
            align_image(*pair, folder / "out.tif")


# ------------------------------------------------------------------ qgis_process


def _run(runner, algorithm, **parameters):
    args = [f"{key}={value}" for key, value in parameters.items()]
    return runner("run", algorithm, "--", *args, timeout=300)


def _clear_failure(code, stdout, stderr):
    assert code != 0, stdout
    assert "Traceback" not in stdout + stderr, stdout + stderr


def test_qgis_process__report_naming_the_reference__refused(pair, tmp_path,
                                                           qgis_process_runner):
    reference, secondary = pair
    before = digest(tmp_path)
    code, out, err = _run(qgis_process_runner, "coreg:align_image", REFERENCE=reference,
                          SECONDARY=secondary, OUTPUT=tmp_path / "out.tif",
                          SHIFT_VECTORS=tmp_path / "v.gpkg", REPORT=reference)
    _clear_failure(code, out, err)
    assert "would replace the input" in out + err
    assert digest(tmp_path) == before


def test_qgis_process__two_outputs_on_one_path__refused(pair, tmp_path, qgis_process_runner):
    reference, secondary = pair
    code, out, err = _run(qgis_process_runner, "coreg:align_image", REFERENCE=reference,
                          SECONDARY=secondary, OUTPUT=tmp_path / "out.tif",
                          SHIFT_VECTORS=tmp_path / "v.gpkg", REPORT=tmp_path / "out.tif")
    _clear_failure(code, out, err)
    assert "are the same file" in out + err
    assert not (tmp_path / "out.tif").exists()


def test_qgis_process__disk_full__exit_status_and_words(pair, tmp_path, qgis_process_runner):
    reference, secondary = pair
    with tmpfs(tmp_path / "small", "3m") as folder:
        output = folder / "out.tif"
        output.write_bytes(b"an earlier, valid output")
        fill(folder, 80_000)
        code, out, err = _run(qgis_process_runner, "coreg:align_image", REFERENCE=reference,
                              SECONDARY=secondary, OUTPUT=output,
                              SHIFT_VECTORS=tmp_path / "v.gpkg", REPORT=tmp_path / "r.json")
        _clear_failure(code, out, err)
        assert "not enough space" in (out + err).lower()
        assert output.read_bytes() == b"an earlier, valid output"
        assert leftovers(folder) == []


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_qgis_process__signal_while_writing__no_temporaries(stop, tmp_path,
                                                           qgis_process_runner):
    big = write_raster(tmp_path / "big.tif",
                       np.random.default_rng(0).random((6000, 6000), np.float32))
    out = tmp_path / "out"
    out.mkdir()
    before = digest(tmp_path)
    args = ["run", "coreg:band_math", "--", f"INPUTS={big}", "EXPRESSION=(* 1.b1 2)",
            f"OUTPUT={out / 'twice.tif'}"]
    process = subprocess.Popen([qgis_process_runner.env.get("COREG_QGIS_PROCESS",
                                                            "/usr/bin/qgis_process.bin"), *args],
                               env=qgis_process_runner.env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not any(out.iterdir()) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if process.poll() is not None:
        pytest.fail("the run ended before it started writing: make the input larger")
    process.send_signal(stop)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode != 0
    assert "Traceback" not in stdout + stderr
    assert list(out.iterdir()) == []
    assert {k: v for k, v in digest(tmp_path).items() if k.startswith("big")} == {
        k: v for k, v in before.items() if k.startswith("big")}


def test_a_first_signal_sets_the_cancel_flag_a_second_stops_at_once():
    """The first signal only raises the run's cancel flag, which the engine polls at safe
    points (an exception raised at an arbitrary point can land in an import or a
    finaliser, which print it); a second one stops the run where it is."""
    flags: list[int] = []
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN in a job a shell started with &
    with pytest.raises(CanceledError, match="SIGINT"):
        with terminate_cleanly(lambda: flags.append(1)):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            assert flags == [1]
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
    assert flags == [1]
    assert signal.getsignal(signal.SIGINT) is before



def test_an_ignored_signal_stays_ignored():
    """``nohup`` starts a run with SIGHUP ignored so that closing the terminal does not
    end it: the run must not turn that signal into a cancellation."""
    before = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    flags: list[int] = []
    try:
        with terminate_cleanly(lambda: flags.append(1)) as received:
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)
            time.sleep(0.05)
        assert (flags, received) == ([], [])
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, before)

def test_report_json_written_atomically_is_valid(pair, tmp_path):
    # A JSON output passes through the same gate: a half-written report never replaces
    # a good one.
    report = tmp_path / "report.json"
    with atomic_path(report) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        json.dump({"ok": True}, handle)
    assert json.loads(report.read_text()) == {"ok": True}


# ------------------------------------------------------------------ STAC items


def _stac_item(path: Path, href: str) -> Path:
    path.write_text(json.dumps({
        "type": "Feature", "stac_version": "1.0.0", "id": path.stem, "properties": {},
        "geometry": None, "links": [],
        "assets": {"image": {"href": href, "eo:bands": [{"name": "B08"}]}}}))
    return path


@pytest.mark.parametrize("href", [
    "/vsicurl?list_dir=no&url=http%3A%2F%2F127.0.0.1%3A9%2Fa.tif",
    "/vsicurl/http://127.0.0.1:9/a.tif", "http://127.0.0.1:9/a.tif",
    "/vsizip//vsicurl/http://127.0.0.1:9/a.zip/a.tif", 'NETCDF:"/vsicurl/http://x/a.nc":v'])
def test_stac_asset_on_the_network__refused(href, tmp_path):
    from coreg.core.stac.stac import read_item

    item = _stac_item(tmp_path / "item.json", href)
    with pytest.raises(CoregInputError, match="not a local file"):
        read_item(item)


def test_stack_into_a_stac_items_folder__item_and_asset_kept(pair, tmp_path):
    from coreg.core.stack.coregistered_stack import coregistered_stack

    reference, secondary = pair
    folder = tmp_path / "item"
    folder.mkdir()
    # The item's asset is named as the stack would name its output (2.B08.tif), and the
    # item itself is item.json: both would be replaced.
    asset = folder / "2.B08.tif"
    asset.write_bytes(secondary.read_bytes())
    item = _stac_item(folder / "item.json", "./2.B08.tif")
    before = digest(folder)
    with pytest.raises(CoregOutputError, match="would replace the input"):
        coregistered_stack([reference, item], "1.b1,2.B08", "1.b1", folder)
    assert digest(folder) == before


# ------------------------------------------------------- meaningless results refused


def test_dem_fit_on_noise__not_converged_is_a_failure(tmp_path):
    from coreg.core.dem.dem import align_dem
    from coreg.core.errors import CoregistrationError

    rng = np.random.default_rng(3)
    reference = write_raster(tmp_path / "ref_dem.tif",
                             (rng.random((300, 300)) * 50).astype(np.float32))
    dem = write_raster(tmp_path / "dem.tif", (rng.random((300, 300)) * 50).astype(np.float32))
    output = tmp_path / "aligned.tif"
    with pytest.raises(CoregistrationError, match="did not converge"):
        align_dem(reference, dem, output)
    assert not output.exists() and leftovers(tmp_path) == []
    result = align_dem(reference, dem, output, keep_unreliable=True)
    assert not result.converged and output.is_file()


def test_dense_flow_on_unrelated_images__a_failure(pair, tmp_path):
    from coreg.core.errors import CoregistrationError
    from coreg.core.local.local import align_local

    reference, _ = pair
    with rasterio.open(reference) as ref:
        noise = np.random.default_rng(5).integers(0, 4000, (ref.height, ref.width))
        other = write_raster(tmp_path / "noise.tif", noise.astype(np.uint16), ref.transform,
                             crs=ref.crs)
    output = tmp_path / "warped.tif"
    with pytest.raises(CoregistrationError, match="check points confirm"):
        align_local(reference, other, output, method="dense_flow")
    assert not output.exists() and leftovers(tmp_path) == []


# ------------------------------------------- every algorithm: one gate before any work


def _collisions(reference: Path, secondary: Path, folder: Path):
    report = folder / "report.json"
    report.write_text("{}")
    out = folder / "out.tif"
    pair = {"REFERENCE": reference, "SECONDARY": secondary}
    return [
        ("align_image", {**pair, "OUTPUT": out, "REPORT": out}, "same file"),
        ("align_image", {**pair, "OUTPUT": out, "REPORT": reference}, "would replace"),
        ("align_local", {**pair, "OUTPUT": out, "DISPLACEMENT": out}, "same file"),
        ("align_local", {**pair, "OUTPUT": out, "REPORT": reference}, "would replace"),
        ("align_dem", {"REFERENCE": reference, "DEM": secondary, "OUTPUT": out,
                       "DH_OUTPUT": out}, "same file"),
        ("align_dem", {"REFERENCE": reference, "DEM": secondary, "OUTPUT": out,
                       "REPORT": secondary}, "would replace"),
        ("align_stack", {"INPUTS": [reference, secondary], "ANCHOR": reference,
                         "OUTPUT_FOLDER": folder / "stack", "SUMMARY": secondary},
         "would replace"),
        ("apply_alignment", {"ALIGNMENT": report, "INPUT": secondary, "OUTPUT": report},
         "would replace"),
        ("rectify_swath", {"INPUT": secondary, "OUTPUT": secondary}, "would replace"),
        ("rectify_swath", {"INPUT": secondary, "OUTPUT": out, "LOOKUP_OUTPUT": out},
         "same file"),
        ("band_math", {"INPUTS": [reference], "EXPRESSION": "(* 1.b1 2)",
                       "OUTPUT": reference}, "would replace"),
    ]


@pytest.mark.parametrize("case", range(11))
def test_algorithm_outputs_colliding__refused_before_any_work(case, pair, tmp_path,
                                                              coreg_provider):
    import processing
    from qgis.core import QgsProcessingException

    algorithm, parameters, words = _collisions(*pair, tmp_path)[case]
    parameters = {k: [str(p) for p in v] if isinstance(v, list) else str(v)
                  for k, v in parameters.items()}
    before = digest(tmp_path)
    with pytest.raises(QgsProcessingException, match=words):
        processing.run(f"coreg:{algorithm}", parameters)
    assert digest(tmp_path) == before


# --------------------------------------------------------------- parameter fuzzing

def _mostly(valid: list[str]) -> st.SearchStrategy:
    """A valid choice three times in four, else odd text."""
    return st.one_of(*[st.sampled_from(valid)] * 3, st.text(max_size=12))


NUMBERS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**9, 10**9),
                    st.floats(0.5, 50), st.floats(0.5, 50))


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[
    HealthCheck.function_scoped_fixture])
@given(max_shift=NUMBERS, band=st.integers(-1, 2),
       transform=_mostly(["translation", "rigid"]),
       output_mode=_mostly(["resample", "geotransform"]),
       resampling=_mostly(["nearest", "bilinear", "cubic"]))
def test_align_image_parameters_fuzzed__engine_errors_only(pair, tmp_path, max_shift, band,
                                                           transform, output_mode, resampling):
    """Whatever the parameters, a result or one of the engine's errors: never a raw
    IndexError, TypeError or numpy error, and the inputs unchanged."""
    reference, secondary = pair
    before = digest(reference.parent)
    output = tmp_path / "fuzz" / "out.tif"
    try:
        align_image(reference, secondary, output, max_shift=max_shift, secondary_band=band,
                    transform=transform, output_mode=output_mode, resampling=resampling)
    except CoregError:
        pass
    assert {k: v for k, v in digest(reference.parent).items() if k in before} == before
    assert leftovers(tmp_path) == []


def test_output_naming_an_input_in_a_read_only_folder__the_collision_is_said(pair, tmp_path):
    with tmpfs(tmp_path / "ro", "1m") as folder:
        reference = folder / "ref.tif"
        reference.write_bytes(pair[0].read_bytes())
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        with pytest.raises(CoregOutputError, match="would replace the input"):
            align_image(reference, pair[1], reference)


def test_file_name_with_a_colon__is_a_plain_path(pair, tmp_path):
    output = tmp_path / "run:2.tif"
    align_image(*pair, output)
    assert output.is_file()
