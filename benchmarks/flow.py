#!/usr/bin/env python3
"""Benchmark: Coreg's dense optical flow (core/local/dense_flow.py) against gefolki, side by side.

Run with ``/usr/bin/python3 benchmarks/flow.py`` (from anywhere). It prints a table and writes
every row, with the run's meta, to ``benchmarks/results/flow.json`` (``--json PATH`` elsewhere);
the .npy inputs and fields go to ``benchmarks/work/flow/`` (git-ignored).

Protocol (shared/data/sar_optical/MANIFEST.md, the one of GeFolki's evaluation patches): the
slave is ``master(x + gt)`` (bilinear, as gefolki's ``wrapData``) with ``gt`` from
``Flow_patch11_uv.tif``; the flow to find is ``-gt``; the end-point error is
``mean(hypot(dx + gt_u, dy + gt_v))`` over ``[30:-30, 30:-30]``.
* mono-modal: master = S1_patch11 band 1;
* cross-modal: master = S1_patch11 band 1, slave = S2_patch11 band 1 stretched to its 1-99 %
  range, then warped by gt;
* cross-modal HR (not a GeFolki figure, same protocol): the 1024 x 1024 UAVSAR L-band Pauli tile
  (band 1) and the optical tile (band 2, resampled onto the radar grid from the two
  geotransforms, cubic), central 512 x 512, both / 255; gt upsampled 448 -> 512 (bilinear, same
  pixel values). The pair's own residual misregistration (unknown; its truth file is missing)
  adds to every tool's error alike.
``EPE*`` scores against the exact answer instead: the field u with u(x) = -gt(x + u(x)), which
registers the pair perfectly. ``-gt`` is only approximately the answer (gt varies over the few
pixels it moves): the two differ by 0.086 px on average, so ``EPE`` mixes that protocol error
into the score, and ``EPE*`` is the cleaner measure of accuracy.

gefolki 1.1.0 runs in its own venv (``peers/gefolki_env.sh``, ``peers/run_gefolki.py``) with the
parameters the manifest documents for each case; Coreg runs in this process with the same
parameters, then with its own defaults. Times are ``time.perf_counter`` around the flow call only
(imports done: both warm).

Whole processes (rows ``... process``): the wall time of a whole command, interpreter start and
imports included, best of ``--repeat``, the two tools taking turns: gefolki's
``run_gefolki.py`` (reads the two .npy images, writes the flow .npy) against Coreg's command
line ``python -m coreg align-local MASTER.tif SLAVE.tif --displacement FIELD.tif --method
dense_flow`` with its defaults (the images as Float32 GeoTIFFs; it also measures its check
points and writes the DISPLACEMENT GeoTIFF). Their fields are scored as the others.
"""

from __future__ import annotations

import os

os.environ["GDAL_PAM_ENABLED"] = "NO"  # never write .aux.xml side-cars next to shared data
os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import rasterio  # noqa: E402
from checkout import register_coreg  # noqa: E402
from results import run_meta, write_results  # noqa: E402
from scipy import ndimage  # noqa: E402

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work" / "flow"
PEERS = HERE / "peers"
DATA = (REPO / ".." / "shared" / "data" / "sar_optical").resolve()
MARGIN = 30
TIMEOUT_S = 900

#: gefolki's parameters per case (MANIFEST): (method, levels, radius, iteration, rank).
GEFOLKI_PARAMS = {
    "mono": [("EFolki", 3, (16, 8), 4, 4), ("GEFolki", 3, (16, 8), 4, 4)],
    "cross": [("GEFolki", 4, (24, 20, 16, 12, 8), 4, 4)],
    "hr": [("GEFolki", 4, (24, 20, 16, 12, 8), 4, 4)],
}
HR = "lngley_05521_09059_000_090813_L090_CX_01_pauli_x016_y020_{}.tif"
HR_CROP = slice(256, 768)
DEFAULTS_LABEL = "defaults: levels=4 radius=8 (24..8) iterations=4"


def _band(name: str, band: int = 1) -> np.ndarray:
    with rasterio.open(DATA / name) as src:
        return src.read(band).astype(np.float64)


def _warp(image: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    rows, cols = np.mgrid[: image.shape[0], : image.shape[1]]
    return ndimage.map_coordinates(image, [rows + v, cols + u], order=1, mode="nearest")


def _exact_inverse(gt: np.ndarray) -> np.ndarray:
    """u with u(x) = -gt(x + u(x)) (fixed point): the field that registers the pair exactly."""
    u = -gt.copy()
    rows, cols = np.mgrid[: gt.shape[1], : gt.shape[2]]
    for _ in range(50):
        coords = [rows + u[1], cols + u[0]]
        u = -np.stack([ndimage.map_coordinates(g, coords, order=3, mode="nearest") for g in gt])
    return u


def make_cases() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """{case: (master, slave, gt)} following the MANIFEST protocol."""
    gt = np.stack([_band("Flow_patch11_uv.tif", b) for b in (1, 2)])
    s1, s2 = _band("S1_patch11.tif"), _band("S2_patch11.tif")
    lo, hi = np.percentile(s2, [1, 99])
    s2 = np.clip((s2 - lo) / (hi - lo), 0, 1)
    radar, optical = _hr_pair()
    gt_hr = np.stack([ndimage.zoom(g, radar.shape[0] / g.shape[0], order=1) for g in gt])
    return {"mono": (s1, _warp(s1, *gt), gt), "cross": (s1, _warp(s2, *gt), gt),
            "hr": (radar, _warp(optical, *gt_hr), gt_hr)}


def _hr_pair() -> tuple[np.ndarray, np.ndarray]:
    """UAVSAR radar band 1 and optical band 2 on the radar grid, central crop, / 255."""
    with rasterio.open(DATA / HR.format("radar")) as radar_ds:
        radar, to_map = radar_ds.read(1).astype(np.float64), radar_ds.transform
    with rasterio.open(DATA / HR.format("optique")) as optical_ds:
        optical, to_optical = optical_ds.read(2).astype(np.float64), ~optical_ds.transform
    rows, cols = np.mgrid[: radar.shape[0], : radar.shape[1]] + 0.5
    col_o, row_o = to_optical * (to_map * (cols, rows))
    optical = ndimage.map_coordinates(optical, [row_o - 0.5, col_o - 0.5], order=3,
                                      mode="nearest")
    crop = (HR_CROP, HR_CROP)
    return radar[crop] / 255.0, np.clip(optical[crop], 0, 255) / 255.0


def epe(flow: np.ndarray, truth: np.ndarray) -> float:
    inner = (slice(MARGIN, -MARGIN),) * 2
    return float(np.mean(np.hypot(flow[0] - truth[0], flow[1] - truth[1])[inner]))


def run_gefolki(python: str, master_npy: Path, slave_npy: Path, params, out: Path) -> dict:
    method, levels, radius, iteration, rank = params
    cmd = [python, str(PEERS / "run_gefolki.py"), "--master", str(master_npy), "--slave",
           str(slave_npy), "--out", str(out), "--method", method, "--levels", str(levels),
           "--radius", ",".join(map(str, radius)), "--iteration", str(iteration),
           "--rank", str(rank)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    lines = proc.stdout.strip().splitlines()
    if not lines:
        return {"error": proc.stderr[-500:] or f"exit {proc.returncode}"}
    result = json.loads(lines[-1])
    if result.get("error") is None:
        result["flow"] = np.load(out)
    return result


def run_coreg(master, slave, **params) -> dict:
    from coreg.core.local.dense_flow import estimate_flow

    start = time.perf_counter()
    dx, dy = estimate_flow(master, slave, **params)
    return {"t_flow_s": time.perf_counter() - start, "flow": np.stack([dx, dy]), "error": None}


def write_tif(path: Path, image: np.ndarray) -> Path:
    """The image as a Float32 GeoTIFF on a 10 m UTM grid (the command line needs one)."""
    from affine import Affine

    with rasterio.open(path, "w", driver="GTiff", width=image.shape[1], height=image.shape[0],
                       count=1, dtype="float32", crs="EPSG:32631",
                       transform=Affine(10, 0, 500000, 0, -10, 5000000)) as dst:
        dst.write(image.astype(np.float32), 1)
    return path


def run_processes(case: str, python: str, params, repeat: int) -> list[dict]:
    """gefolki and Coreg's command line, each a whole process, taking turns."""
    method, levels, radius, iteration, rank = params
    field = WORK / f"{case}_coreg_field.tif"
    gefolki_cmd = [python, str(PEERS / "run_gefolki.py"), "--master",
                   str(WORK / f"{case}_master.npy"), "--slave", str(WORK / f"{case}_slave.npy"),
                   "--out", str(WORK / f"{case}_process_flow.npy"), "--method", method,
                   "--levels", str(levels), "--radius", ",".join(map(str, radius)),
                   "--iteration", str(iteration), "--rank", str(rank)]
    coreg_cmd = [sys.executable, "-m", "coreg", "align-local",
                 str(write_tif(WORK / f"{case}_master.tif", np.load(WORK / f"{case}_master.npy"))),
                 str(write_tif(WORK / f"{case}_slave.tif", np.load(WORK / f"{case}_slave.npy"))),
                 "--displacement", str(field), "--method", "dense_flow", "--keep-unreliable",
                 "--quiet"]
    times: dict[str, list[float]] = {"gefolki": [], "coreg": []}
    errors: dict[str, str | None] = {"gefolki": None, "coreg": None}
    for _ in range(repeat):
        for tool, cmd in (("gefolki", gefolki_cmd), ("coreg", coreg_cmd)):
            if tool == "coreg" and field.exists():
                field.unlink()
            start = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
            times[tool].append(time.perf_counter() - start)
            if proc.returncode:
                errors[tool] = proc.stderr[-500:] or f"exit {proc.returncode}"
    label = f"levels={levels} radius={radius} iterations={iteration} rank={rank}"
    rows = [{"case": case, "tool": f"gefolki {method} process", "params": label,
             "t_process_s": min(times["gefolki"]), "runs_s": times["gefolki"],
             "error": errors["gefolki"]},
            {"case": case, "tool": "coreg align-local process", "params": DEFAULTS_LABEL,
             "t_process_s": min(times["coreg"]), "runs_s": times["coreg"],
             "error": errors["coreg"]}]
    if errors["gefolki"] is None:
        rows[0]["flow"] = np.load(WORK / f"{case}_process_flow.npy")
    if errors["coreg"] is None:
        with rasterio.open(field) as ds:
            rows[1]["flow"] = ds.read().astype(np.float64)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None,
                        help="results file (default benchmarks/results/flow.json)")
    parser.add_argument("--repeat", type=int, default=2,
                        help="whole-process runs per tool, the fastest is kept (2)")
    args = parser.parse_args()
    register_coreg()
    WORK.mkdir(parents=True, exist_ok=True)
    python = subprocess.run([str(PEERS / "gefolki_env.sh")], capture_output=True, text=True,
                            check=True).stdout.strip().splitlines()[-1]
    rows = []
    for case, (master, slave, gt) in make_cases().items():
        truth, exact = -gt, _exact_inverse(gt)
        np.save(WORK / f"{case}_master.npy", master)
        np.save(WORK / f"{case}_slave.npy", slave)
        rows.append({"case": case, "tool": "zero flow", "params": "", "t_flow_s": None,
                     "flow": np.zeros_like(gt), "error": None})
        for params in GEFOLKI_PARAMS[case]:
            method, levels, radius, iteration, rank = params
            result = run_gefolki(python, WORK / f"{case}_master.npy", WORK / f"{case}_slave.npy",
                                 params, WORK / f"{case}_{method}_flow.npy")
            label = f"levels={levels} radius={radius} iterations={iteration} rank={rank}"
            rows.append({"case": case, "tool": f"gefolki {method}", "params": label, **result})
            if any(r["case"] == case and r["tool"].startswith("coreg") and r["params"] == label
                   for r in rows):
                continue  # same parameters as a gefolki method already run
            coreg_params = dict(levels=levels, radius=radius, iterations=iteration, rank=rank)
            for features in ("rank", "orientation"):
                result = run_coreg(master, slave, **coreg_params, features=features)
                rows.append({"case": case, "tool": f"coreg {features}", "params": label,
                             **result})
        rows.append({"case": case, "tool": "coreg defaults", "params": DEFAULTS_LABEL,
                     **run_coreg(master, slave)})
        rows.extend(run_processes(case, python, GEFOLKI_PARAMS[case][-1], args.repeat))
        for row in rows:
            if row["case"] == case:
                row["epe_px"], row["epe_exact_px"] = _scores(row, truth, exact)
    _print_table(rows)
    _save(rows, args.json, _version(python, "gefolki"))
    return 0


def _scores(row, truth, exact) -> tuple[float | None, float | None]:
    if row.get("error") is not None:
        return None, None
    return epe(row["flow"], truth), epe(row["flow"], exact)


def _time_and_key(row) -> tuple[float | None, tuple[str, str]]:
    """The row's time, and what it is compared on: the parameters in process, the case
    between whole processes."""
    if row["tool"].endswith("process"):
        return row.get("t_process_s"), (row["case"], "process")
    return row.get("t_flow_s"), (row["case"], row["params"])


def _print_table(rows) -> None:
    fmt = "{:<6} {:<26} {:<52} {:>8} {:>8} {:>8} {:>10}"
    print(fmt.format("case", "tool", "parameters", "EPE px", "EPE* px", "time s", "gef/coreg"))
    peer_time = {}
    for row in rows:
        e, e_star = row.get("epe_px"), row.get("epe_exact_px")
        t, key = _time_and_key(row)
        if row["tool"].startswith("gefolki") and t:
            peer_time[key] = t
        ratio = peer_time.get(key)
        ratio_txt = f"{ratio / t:.1f}x" if ratio and t and row["tool"].startswith("coreg") else ""
        print(fmt.format(
            row["case"], row["tool"], row["params"],
            "error" if e is None else f"{e:.4f}", "" if e_star is None else f"{e_star:.4f}",
            "" if t is None else f"{t:.2f}", ratio_txt))
        if row.get("error"):
            print(f"       error: {row['error']}")


def _version(python: str, package: str) -> str | None:
    """The version of ``package`` installed for ``python`` (a peer's venv)."""
    code = f"import importlib.metadata as m; print(m.version({package!r}))"
    proc = subprocess.run([python, "-c", code], capture_output=True, text=True)
    return proc.stdout.strip() or None


def _save(rows, path: str | None, gefolki_version: str | None) -> None:
    """Every row without its field, with gefolki's time over Coreg's at the same parameters
    (the gefolki row just before, as the table prints it), or between whole processes."""
    peer, kept = {}, []
    for row in rows:
        row = {k: v for k, v in row.items() if k != "flow"}
        t, key = _time_and_key(row)
        if row["tool"].startswith("gefolki") and t:
            peer[key] = t
        if row["tool"].startswith("coreg") and t and key in peer:
            row["gefolki_over_coreg"] = peer[key] / t
        kept.append(row)
    meta = run_meta(gefolki_version=gefolki_version)
    print(f"results: {write_results('flow', {'meta': meta, 'rows': kept}, path)}")


if __name__ == "__main__":
    sys.exit(main())
