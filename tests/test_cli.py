"""The command line ``coreg`` (cli.py), run as ``python -m coreg`` by Debian's Python from a
folder where ``coreg`` is importable only through a symlink to this checkout (no install,
no PYTHONPATH): exit codes, messages, outputs and reports against the library's own.

The same command from a fresh virtual environment that installed the package from PyPI
is in tests/test_library.py.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from stack_fixture import build_stack

from coreg import cli

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
OSCD = DATA / "optical" / "oscd_s2"
REFERENCE = OSCD / "abudhabi_S2_20160120_B02-B03-B04-B08.tif"
SECONDARY = OSCD / "abudhabi_S2_20180328_B02-B03-B04-B08.tif"
NIR = 4
LYB_REF = DATA / "dem" / "longyearbyen" / "aligned_elev.tif"
LYB_DEM = DATA / "dem" / "longyearbyen" / "DEM_1995.tif"
SERIES = DATA / "optical" / "s2_timeseries_eolearn" / "l1c_13band"
SWATH_VRT = DATA / "swath" / "ssmis_tb37v_swath.vrt"
LNGLEY = DATA / "sar_optical" / "lngley_05521_09059_000_090813_L090_CX_01_pauli_x016_y020"
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
COMMANDS = ("align-image", "align-local", "align-dem", "align-stack", "align-items", "apply",
            "band-math", "rectify-swath")
TIMEOUT = 600


@pytest.fixture(scope="module")
def home(tmp_path_factory, repo_root):
    """A folder holding only a ``coreg`` symlink to the checkout: the CLI's working
    folder, so ``python -m coreg`` imports this checkout and nothing else."""
    folder = tmp_path_factory.mktemp("cli-home")
    (folder / "coreg").symlink_to(repo_root, target_is_directory=True)
    return folder


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(extra)
    return env


def run(home: Path, *args, env: dict | None = None,
        python: str = PYTHON) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-m", "coreg", *map(str, args)], cwd=home,
                          env=env or environment(), capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_one_line_error(completed: subprocess.CompletedProcess, code: int, *words: str):
    assert completed.returncode == code, completed.stderr
    assert "Traceback" not in completed.stderr
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("coreg: error: "), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    assert completed.stdout == ""


def temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".coreg-tmp-" in p.name]


# ------------------------------------------------------------------------- align-image


@pytest.fixture(scope="module")
def aligned(home, tmp_path_factory):
    """``coreg align-image`` on the OSCD Abu Dhabi pair, band B08, with a report and
    --json: (completed process, output folder)."""
    folder = tmp_path_factory.mktemp("align-image")
    completed = run(home, "align-image", REFERENCE, SECONDARY, "-o", folder / "aligned.tif",
                    "--band-ref", NIR, "--band-sec", NIR, "--report", folder / "report.json",
                    "--json")
    return completed, folder


def test_align_image_writes_the_output_and_reports_the_librarys_shift(aligned, tmp_path):
    from coreg.core.matching.align import align_image

    completed, folder = aligned
    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr
    report = json.loads(completed.stdout)
    assert json.loads((folder / "report.json").read_text()) == report
    own = align_image(REFERENCE, SECONDARY, tmp_path / "own.tif", reference_band=NIR,
                      secondary_band=NIR)
    # Two runs agree to 5e-5 px: threads may sum in another order (3e-6 px on Debian 13
    # from a zero start; 1.2e-5 px from the coarse search's whole-pixel start, measured
    # with OPENBLAS_NUM_THREADS=1 against the default on this pair).
    assert report["shift_x_px"] == pytest.approx(own.shift_x_px, abs=5e-5)
    assert report["shift_y_px"] == pytest.approx(own.shift_y_px, abs=5e-5)
    assert report["rotation_deg"] == pytest.approx(own.model.rotation_deg, abs=1e-6)
    # The real misregistration of this pair (about 0.5 px E-W and 1.3 px N-S:
    # ../shared/data/optical/MANIFEST.md).
    assert report["shift_x_px"] == pytest.approx(-0.5, abs=0.1)
    assert report["shift_y_px"] == pytest.approx(-1.3, abs=0.1)
    with rasterio.open(folder / "aligned.tif") as out, rasterio.open(tmp_path / "own.tif") as ref:
        assert (out.count, out.crs, out.transform, out.shape) == (4, ref.crs, ref.transform,
                                                                   ref.shape)
        difference = np.abs(out.read().astype(np.int64) - ref.read().astype(np.int64))
        assert difference.max() <= 1  # the same shift to 1e-5 px: equal to 1 DN


def test_align_image_fits_the_affine_model(home, tmp_path):
    """--transform affine: the report's model_terms (scale per axis, shear, with standard
    errors) and the summary line that quotes them."""
    completed = run(home, "align-image", REFERENCE, SECONDARY, "--band-ref", NIR,
                    "--band-sec", NIR, "--transform", "affine", "--json")
    assert completed.returncode == 0, completed.stderr
    terms = json.loads(completed.stdout)["model_terms"]
    assert terms["model"] == "affine" and terms["shear_se"] > 0
    assert "scale_x" in completed.stderr and "shear" in completed.stderr


def test_align_image_shows_progress_and_a_summary_on_stderr(aligned):
    completed, _ = aligned
    lines = completed.stderr.splitlines()
    bars = [line for line in lines if line.startswith("align-image [")]
    assert bars and bars[-1].endswith("100%"), completed.stderr
    assert any(line.startswith("Shift -0.4") or line.startswith("Shift -0.5")
               for line in lines), completed.stderr


def test_quiet_prints_neither_progress_nor_summary(home):
    completed = run(home, "align-image", REFERENCE, SECONDARY, "--band-ref", NIR,
                    "--band-sec", NIR, "--quiet")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == ""
    assert "[" not in completed.stderr and "Shift" not in completed.stderr
    assert [p.name for p in home.iterdir()] == ["coreg"]  # without -o nothing is written


def test_apply_reuses_the_saved_alignment(home, aligned, tmp_path):
    from coreg.core.transforms.apply import apply_alignment
    from coreg.core.transforms.saved import read_alignment

    _, folder = aligned
    completed = run(home, "apply", folder / "report.json", SECONDARY, "-o",
                    tmp_path / "moved.tif", "--resampling", "bilinear", "--json")
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["resampling"] == "bilinear"
    apply_alignment(read_alignment(folder / "report.json"), SECONDARY, tmp_path / "own.tif",
                    resampling="bilinear")
    with rasterio.open(tmp_path / "moved.tif") as a, rasterio.open(tmp_path / "own.tif") as b:
        assert a.transform == b.transform
        assert np.array_equal(a.read(), b.read())


def test_apply_to_writes_the_copies_beside_the_output(home, tmp_path):
    completed = run(home, "align-image", REFERENCE, SECONDARY, "-o", tmp_path / "a.tif",
                    "--band-ref", NIR, "--band-sec", NIR, "--apply-to", SECONDARY, "-q")
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / f"{SECONDARY.stem}_coreg.tif").is_file()


# -------------------------------------------------------------------------- exit codes


def test_a_missing_input_exits_2_with_one_line(home, tmp_path):
    completed = run(home, "align-image", tmp_path / "missing.tif", SECONDARY, "-o",
                    tmp_path / "out.tif")
    assert_one_line_error(completed, 2, "missing.tif", "no such file")
    assert not (tmp_path / "out.tif").exists()


def test_an_output_colliding_with_an_input_exits_3_with_one_line(home, tmp_path):
    reference = tmp_path / "reference.tif"
    reference.write_bytes(REFERENCE.read_bytes())
    before = digest(reference)
    completed = run(home, "align-image", reference, SECONDARY, "-o", reference)
    assert_one_line_error(completed, 3, "would replace the input")
    assert digest(reference) == before
    completed = run(home, "align-image", reference, SECONDARY, "-o", tmp_path / "out.tif",
                    "--report", reference)
    assert_one_line_error(completed, 3, "Report", "would replace the input")
    assert digest(reference) == before and not (tmp_path / "out.tif").exists()
    assert not temporaries(tmp_path)


def test_no_reliable_alignment_exits_5_naming_the_option(home):
    completed = run(home, "align-image", REFERENCE, SECONDARY, "--band-ref", NIR,
                    "--band-sec", NIR, "--max-shift", "0.1", "-q")
    assert_one_line_error(completed, 5, "--max-shift")
    assert "MAX_SHIFT" not in completed.stderr


def test_usage_errors_exit_2(home):
    completed = run(home, "align-image", REFERENCE, SECONDARY, "--transform", "projective")
    assert completed.returncode == 2 and "Traceback" not in completed.stderr
    assert "'projective' is not one of" in completed.stderr
    completed = run(home, "align-image", REFERENCE)
    assert completed.returncode == 2 and "Missing argument" in completed.stderr


def test_geotransform_output_needs_the_translation_model(home, tmp_path):
    completed = run(home, "align-image", REFERENCE, SECONDARY, "-o", tmp_path / "out.tif",
                    "--output-mode", "geotransform")
    assert_one_line_error(completed, 2, "translation")


def test_help_and_version(home, repo_root):
    completed = run(home, "--help")
    assert completed.returncode == 0
    for command in COMMANDS:
        assert command in completed.stdout
    version = next(line.split("=", 1)[1].strip()
                   for line in (repo_root / "metadata.txt").read_text().splitlines()
                   if line.startswith("version="))
    completed = run(home, "--version")
    assert (completed.returncode, completed.stdout.strip()) == (0, f"coreg {version}")
    for command in COMMANDS:
        assert run(home, command, "--help").returncode == 0, command


# ------------------------------------------------------------------- the other commands


def test_align_dem_matches_the_library_and_protects_its_exclusions(home, tmp_path):
    from coreg.core.dem.dem import align_dem

    completed = run(home, "align-dem", LYB_REF, LYB_DEM, "-o", tmp_path / "dem.tif",
                    "--dh", tmp_path / "dh.tif", "--report", tmp_path / "dem.json", "--json",
                    "--report-page", tmp_path / "dem.html")
    assert completed.returncode == 0, completed.stderr
    assert "NMAD by slope class" in (tmp_path / "dem.html").read_text(encoding="utf-8")
    report = json.loads(completed.stdout)
    own = align_dem(LYB_REF, LYB_DEM, tmp_path / "own.tif")
    for key in ("shift_x", "shift_y", "shift_z", "nmad_after"):
        assert report[key] == pytest.approx(getattr(own, key), abs=1e-9), key
    assert report["nmad_after"] < report["nmad_before"]
    assert (tmp_path / "dh.tif").is_file()
    assert json.loads((tmp_path / "dem.json").read_text()) == report

    exclusion = tmp_path / "unstable.tif"
    exclusion.write_bytes((tmp_path / "dh.tif").read_bytes())
    before = digest(exclusion)
    completed = run(home, "align-dem", LYB_REF, LYB_DEM, "-o", exclusion, "--exclude",
                    exclusion)
    assert_one_line_error(completed, 3, "Unstable terrain")
    assert digest(exclusion) == before


def test_align_dem_uncertainty_of_elevation_change(home, tmp_path):
    """--area gives the area's standard error of mean dh in the report and the summary;
    an area is an input, never overwritten."""
    import numpy as np
    import rasterio
    from dem_sensor import SensorCase, make_pair

    pair = make_pair(SensorCase(noise=0.5), tmp_path)
    with rasterio.open(pair["dem"]) as ds:
        profile, shape = ds.profile, ds.shape
    profile.update(dtype="uint8", nodata=None)
    area = np.zeros(shape, np.uint8)
    area[50:100, 50:150] = 1
    with rasterio.open(tmp_path / "glacier.tif", "w", **profile) as ds:
        ds.write(area, 1)
    completed = run(home, "align-dem", pair["ref"], pair["dem"], "-o", tmp_path / "out.tif",
                    "--area", tmp_path / "glacier.tif", "--json")
    assert completed.returncode == 0, completed.stderr
    (glacier,) = json.loads(completed.stdout)["dh_uncertainty"]["areas"]
    assert glacier["pixels"] == area.sum()
    assert 0 < glacier["standard_error_mean_dh"] < 0.5
    completed = run(home, "align-dem", pair["ref"], pair["dem"], "-o", tmp_path / "glacier.tif",
                    "--area", tmp_path / "glacier.tif")
    assert_one_line_error(completed, 3, "Areas")


def test_align_dem_point_selection(home, tmp_path):
    """--start and --quality-field/--quality-max keep the good points (the others 30 m
    off) and the summary and report count what each removed."""
    from dem_sensor import SensorCase, make_pair, make_points

    pair = make_pair(SensorCase(), tmp_path)
    csv_path, count = make_points(SensorCase(), tmp_path)
    x, y, z = np.loadtxt(csv_path, delimiter=",", skiprows=1).T
    part = count // 4
    old, flagged = np.arange(count) < part, np.arange(count) // part == 1
    points = tmp_path / "tracks.csv"
    with open(points, "w") as f:
        f.write("x,y,z,time,flag\n")
        for row in zip(x, y, z + 30.0 * (old | flagged), np.where(old, "2018-03-01", "2019-05-01"),
                       flagged.astype(int)):
            f.write("{:.3f},{:.3f},{:.3f},{},{}\n".format(*row))
    completed = run(home, "align-dem", points, pair["dem"], "-o", tmp_path / "out.tif",
                    "--start", "2019-01-01", "--quality-field", "flag", "--quality-max", 0,
                    "--json")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["points"]["removed_by_time"] == report["points"]["removed_by_quality"] == part
    assert report["shift_z"] == pytest.approx(pair["dz"], abs=0.1)
    completed = run(home, "align-dem", points, pair["dem"], "-o", tmp_path / "b.tif",
                    "--geoid", "egm1984")
    assert_one_line_error(completed, 2, "Unknown geoid")


def test_align_stack_delivers_every_scene(home, tmp_path):
    scenes = sorted(SERIES.glob("*.tif"))
    folder = tmp_path / "stack"
    completed = run(home, "align-stack", *scenes, "--anchor", scenes[0], "-o", folder,
                    "--summary", tmp_path / "summary.csv", "--band", 4, "--workers", 1,
                    "--json")
    assert completed.returncode == 0, completed.stderr
    items = json.loads(completed.stdout)["items"]
    assert [Path(item["input"]).name for item in items] == [p.name for p in scenes]
    assert items[0]["status"] == "anchor"
    assert {item["status"] for item in items[1:]} <= {"aligned", "already_aligned",
                                                      "not_improved", "failed"}
    with open(tmp_path / "summary.csv", newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == len(scenes)
    for item in items:
        if item["output_file"]:
            assert Path(item["output_file"]).is_file()
    assert (folder / f"{scenes[1].stem}_quality.json").is_file()
    for scene in scenes:
        assert f"{scene.name}: " in completed.stderr

    completed = run(home, "align-stack", *scenes[1:], "--anchor", scenes[0], "-o", folder)
    assert_one_line_error(completed, 2, "anchor")


def test_align_local_report_applies_from_another_folder(home, tmp_path):
    folder = tmp_path / "results"
    completed = run(home, "align-local", REFERENCE, SECONDARY, "-o", folder / "local.tif",
                    "--displacement", folder / "field.tif", "--report", folder / "local.json",
                    "--uncertainty", folder / "radius.tif",
                    "--band-ref", NIR, "--band-sec", NIR, "--grid-spacing", 128, "--json")
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["n_kept"] > 0
    assert report["displacement"] == str(folder / "field.tif")
    assert report["uncertainty"] == str(folder / "radius.tif")
    # The report names its rasters relative to itself: the folder can move.
    saved = json.loads((folder / "local.json").read_text())
    assert (saved["displacement"], saved["uncertainty"]) == ("field.tif", "radius.tif")
    with rasterio.open(folder / "radius.tif") as ds, rasterio.open(folder / "field.tif") as f:
        radius, dx = ds.read(1), f.read(1)
    assert (np.isfinite(radius) == np.isfinite(dx)).all() and np.nanmin(radius) > 0
    moved = tmp_path / "moved"
    folder.rename(moved)
    completed = run(home, "apply", moved / "local.json", SECONDARY, "-o",
                    tmp_path / "again.tif", "-q")
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "again.tif").is_file()


def test_band_math_and_its_expression_errors(home, tmp_path):
    completed = run(home, "band-math", REFERENCE, "-e", "ndvi:(norm_diff 1.b4 1.b3)", "-o",
                    tmp_path / "ndvi.tif", "--json")
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["name"] == "ndvi"
    with rasterio.open(tmp_path / "ndvi.tif") as ds:
        values = ds.read(1)
    assert np.nanmax(values) <= 1 and np.nanmin(values) >= -1
    completed = run(home, "band-math", REFERENCE, "-e", "(+ 1.b9 1)", "-o",
                    tmp_path / "bad.tif")
    assert_one_line_error(completed, 2, "Unknown asset '1.b9'")
    assert not (tmp_path / "bad.tif").exists()


def test_band_math_on_a_dask_cluster_and_a_wrong_scheduler_address(home, tmp_path,
                                                                    real_dask_cluster):
    cluster = real_dask_cluster[0]
    expression = "ndvi:(norm_diff 1.b4 1.b3)"
    # The client's Dask is the cluster's (the Python running the tests started it).
    completed = run(home, "band-math", REFERENCE, "-e", expression, "-o",
                    tmp_path / "cluster.tif", "--dask-scheduler", cluster.address, "--json",
                    python=sys.executable)
    assert completed.returncode == 0, completed.stderr
    run(home, "band-math", REFERENCE, "-e", expression, "-o", tmp_path / "here.tif")
    with rasterio.open(tmp_path / "cluster.tif") as a, rasterio.open(tmp_path / "here.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))
    completed = run(home, "align-local", REFERENCE, SECONDARY, "-o", tmp_path / "out.tif",
                    "--dask-scheduler", "192.168.1.10:8786")
    assert_one_line_error(completed, 2, "The Dask scheduler address '192.168.1.10:8786' is "
                                        "not tcp://host:port")
    assert not (tmp_path / "out.tif").exists()


def test_rectify_swath_onto_the_automatic_polar_grid(home, tmp_path):
    completed = run(home, "rectify-swath", SWATH_VRT, "-o", tmp_path / "swath.tif",
                    "--json")
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    assert document["grid"]["crs"] == "EPSG:3413"
    assert document["painted_pixels"] > 0
    assert "NotGeoreferencedWarning" not in completed.stderr
    completed = run(home, "rectify-swath", SWATH_VRT, "-o", tmp_path / "s.tif",
                    "--x-coords", SWATH_VRT)
    assert_one_line_error(completed, 2, "--y-coords")


# --------------------------------------------------------------------------- signals


def _stop_while_running(home, tmp_path, sig: int) -> tuple[subprocess.CompletedProcess, Path]:
    """Start a dense flow of a minute, send ``sig`` once its displacement field is being
    written to a temporary file, and wait."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    output = tmp_path / "out" / "flow.tif"
    process = subprocess.Popen(
        [PYTHON, "-m", "coreg", "align-local", f"{LNGLEY}_optique.tif",
         f"{LNGLEY}_radar.tif", "-o", str(output), "--displacement",
         str(tmp_path / "out" / "field.tif"), "--method", "dense_flow", "--keep-unreliable"],
        cwd=home, env=environment(TMPDIR=str(scratch)), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not temporaries(tmp_path) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert temporaries(tmp_path), "the run never wrote a temporary"
    time.sleep(0.5)
    process.send_signal(sig)
    stderr = process.stderr.read()
    process.wait(timeout=120)
    completed = subprocess.CompletedProcess(process.args, process.returncode, "", stderr)
    assert not output.exists() and not (tmp_path / "out" / "field.tif").exists()
    assert not temporaries(tmp_path)
    left = [p for p in scratch.iterdir() if not p.name.startswith("coreg-locks-")]
    assert not left, left
    return completed, output


def test_ctrl_c_exits_130_and_removes_the_temporaries(home, tmp_path):
    completed, _ = _stop_while_running(home, tmp_path, signal.SIGINT)
    assert completed.returncode == 130, completed.stderr
    assert "Traceback" not in completed.stderr
    assert "coreg: error: Stopped by SIGINT" in completed.stderr


def test_sigterm_removes_the_temporaries_and_ends_as_sigterm_does(home, tmp_path):
    completed, _ = _stop_while_running(home, tmp_path, signal.SIGTERM)
    assert completed.returncode == -signal.SIGTERM, completed.stderr
    assert "Traceback" not in completed.stderr
    assert "coreg: error: Stopped by SIGTERM" in completed.stderr



def test_a_signal_asks_the_engine_to_stop_at_its_next_safe_point(monkeypatch, capsys, tmp_path):
    """The first SIGINT sets the run's flag rather than raising wherever the run is: the
    engine sees it through ``is_canceled`` and stops itself."""
    from coreg.core.bandmath import raster_math
    from coreg.core.errors import CanceledError

    seen = []
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN in a job a shell started with &

    def engine(*_args, is_canceled, **_kwargs):
        seen.append(is_canceled())
        os.kill(os.getpid(), signal.SIGINT)  # would raise here without the flag
        seen.append(is_canceled())
        raise CanceledError("Canceled.")

    monkeypatch.setattr(raster_math, "band_math", engine)
    status = cli.main(["band-math", str(REFERENCE), "-e", "(+ 1.b1 1)", "-o",
                       str(tmp_path / "out.tif")])
    assert (status, seen) == (130, [False, True])
    assert "coreg: error: Stopped by SIGINT" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is before


# ------------------------------------------------------------------------ in-process


def test_progress_bar_redraws_on_a_terminal_and_logs_every_ten_percent_otherwise():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    log, terminal = io.StringIO(), Terminal()
    for stream in (log, terminal):
        bar = cli.ProgressBar("job", stream)
        for value in (0, 3, 3, 12.5, 9, 57, 100, 100):
            bar(value)
    assert log.getvalue().splitlines() == [
        "job [..............................]   0%",
        "job [###...........................]  10%",
        "job [###############...............]  50%",
        "job [##############################] 100%"]
    assert terminal.getvalue().count("\r") == 5 and terminal.getvalue().endswith("100%\n")
    unfinished = Terminal()
    bar = cli.ProgressBar("job", unfinished)
    bar(42)
    bar.close()
    assert unfinished.getvalue().endswith(" 42%\n")


def test_geojson_masks_become_polygons(tmp_path):
    from coreg.core.io.masks import PolygonMask

    square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    path = tmp_path / "clouds.geojson"
    path.write_text(json.dumps({
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "EPSG:32640"}},
        "features": [{"type": "Feature", "properties": {}, "geometry": square}]}))
    masks = cli.mask_sources([str(path), "mask.tif"])
    assert masks == [PolygonMask((square,), "EPSG:32640"), "mask.tif"]
    (tmp_path / "line.geojson").write_text(json.dumps(
        {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}))
    with pytest.raises(cli.CoregInputError, match="polygons"):
        cli.mask_sources([str(tmp_path / "line.geojson")])


def test_choices_are_the_engines():
    from coreg.core.dem import dem
    from coreg.core.local import local, tie_points
    from coreg.core.matching import align
    from coreg.core.swath import sampling as swath
    from coreg.core.transforms import resample

    assert set(cli.IMAGE_TRANSFORMS) == set(align.TRANSFORMS)
    assert set(cli.TRANSFORMS) < set(align.TRANSFORMS)
    assert set(cli.OUTPUT_MODES) == set(align.OUTPUT_MODES)
    assert set(cli.RESAMPLINGS) == set(resample.ORDERS)
    assert set(cli.LOCAL_METHODS) == set(local.METHODS)
    assert set(cli.REJECTIONS) == set(tie_points.REJECTION_LEVELS)
    assert set(cli.DEM_METHODS) == set(dem.METHODS)
    assert set(cli.INTERPOLATIONS) == set(swath.INTERPOLATIONS)


def test_main_returns_the_exit_code_of_engine_errors(capsys, tmp_path):
    assert cli.main(["align-image", str(tmp_path / "nothing.tif"), str(SECONDARY)]) == 2
    assert capsys.readouterr().err.startswith("coreg: error: Reference")
    assert cli.main(["--help"]) == 0


def test_the_main_module_runs_only_under_python_m(home):
    """QGIS imports the package, never __main__; importing it does nothing."""
    completed = subprocess.run(
        [PYTHON, "-c", "import sys, coreg.__main__; print('click' in sys.modules)"],
        cwd=home, env=environment(), capture_output=True, text=True, timeout=TIMEOUT,
        check=False)
    assert (completed.returncode, completed.stdout.strip()) == (0, "False"), completed.stderr


def test_align_stack_fails_when_every_scene_failed(home, tmp_path):
    """Exit 5 with the reasons when nothing was aligned; a warning when some scenes failed."""
    items = build_stack(tmp_path / "in")
    anchor, elsewhere = items["anchor"], items["t6_elsewhere"]
    completed = run(home, "align-stack", anchor, elsewhere, "--anchor", anchor,
                    "-o", tmp_path / "all_failed", "--workers", 1, "--quiet")
    assert_one_line_error(completed, 5, "Every scene failed", "t6_elsewhere.tif (",
                          "overlap")
    completed = run(home, "align-stack", anchor, items["t2_shifted"], elsewhere, "--anchor",
                    anchor, "-o", tmp_path / "some_failed", "--workers", 1)
    assert completed.returncode == 0, completed.stderr
    warnings = [line for line in completed.stderr.splitlines() if "scenes failed" in line]
    assert warnings == [warnings[0]] and warnings[0].startswith(
        "warning: 1 of 2 scenes failed: t6_elsewhere.tif (")


def test_vector_files_become_polygons_and_rasters_stay_paths(tmp_path):
    """A GeoPackage of polygons (as RGI glacier outlines come) masks like its GeoJSON."""
    fiona = pytest.importorskip("fiona")
    square = {"type": "Polygon",
              "coordinates": [[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]]}
    schema = {"geometry": "Polygon", "properties": {"name": "str"}}
    gpkg = tmp_path / "outlines.gpkg"
    with fiona.open(gpkg, "w", driver="GPKG", crs="EPSG:32640", schema=schema) as dst:
        dst.write({"geometry": square, "properties": {"name": "a"}})
    (polygons, raster) = cli.mask_sources([str(gpkg), str(tmp_path / "mask.tif")])
    assert raster == str(tmp_path / "mask.tif")
    assert [tuple(map(tuple, ring)) for ring in polygons.geometries[0]["coordinates"]] == \
        [tuple(square["coordinates"][0])]
    assert "32640" in polygons.crs or "UTM zone 40N" in polygons.crs
    lines = tmp_path / "lines.gpkg"
    with fiona.open(lines, "w", driver="GPKG", crs="EPSG:32640",
                    schema={"geometry": "LineString", "properties": {}}) as dst:
        dst.write({"geometry": {"type": "LineString", "coordinates": [(0, 0), (1, 1)]},
                   "properties": {}})
    with pytest.raises(cli.CoregInputError, match="polygons"):
        cli.mask_sources([str(lines)])
