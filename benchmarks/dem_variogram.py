#!/usr/bin/env python3
"""Uncertainty of elevation change on the real Longyearbyen pair, Coreg and xdem side by side.

Run with ``/usr/bin/python3 benchmarks/dem_variogram.py [--no-xdem] [--json PATH]``.
DEM_1995.tif is aligned onto aligned_elev.tif (``nuth_kaab+deramp1``); the glaciers are
the 1990 CryoClim outlines rasterised in aligned_elev's nodata (its interior voids, see
../shared/data/dem/MANIFEST.md), written to benchmarks/work/dem/glaciers_1990.tif. Coreg's
``elevation_change_uncertainty`` gives the error model and the standard error of the mean
dh over the glaciers; xdem 0.2.3 (benchmarks/peers/xdem_variogram.py, its gallery's
workflow) does the same on the same dh raster. There is no truth for the glaciers, so the
models are also checked where there is one: discs of stable terrain of several radii at
random places, whose mean dh spreads by what a calibrated standard error predicts.
Writes benchmarks/results/dem_variogram.json and prints a table.
"""

from __future__ import annotations

import os

os.environ["GDAL_PAM_ENABLED"] = "NO"

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

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = REPO.parent / "shared" / "data" / "dem" / "longyearbyen"
WORK = HERE / "work" / "dem"
PIPELINE = "nuth_kaab+deramp1"
RADII = (250.0, 500.0, 1000.0, 2000.0)
DISCS = 150


def glacier_raster(path: Path) -> int:
    """The interior voids of aligned_elev (the rasterised 1990 outlines) as 0/1."""
    with rasterio.open(DATA / "aligned_elev.tif") as ds:
        z, profile = ds.read(1), ds.profile
        void = ~np.isfinite(z) | (z == ds.nodata)
    labels, n = ndimage.label(void)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    glaciers = np.isin(labels, np.setdiff1d(np.arange(1, n + 1), border))
    profile.update(dtype="uint8", nodata=None, compress="deflate")
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(glaciers.astype(np.uint8), 1)
    return int(glaciers.sum())


def disc_check(dh_path: Path, aligned: Path, glaciers: Path, report: dict) -> list[dict]:
    """Spread of the mean stable dh over random discs against Coreg's predicted standard
    error for each disc (same error model as the glaciers)."""
    from coreg.core.dem import variogram
    from coreg.core.dem.dh_uncertainty import read_dh
    from coreg.core.io.raster_io import read_info

    grid = read_info(aligned).grid
    dh, slope = read_dh(DATA / "aligned_elev.tif", aligned, grid, 1)
    with rasterio.open(glaciers) as ds:
        stable = np.isfinite(dh) & np.isfinite(slope) & (ds.read(1) == 0)
    sigma = variogram.sigma_at(report["error_by_slope"], slope)
    centre = float(np.median(dh[stable]))
    res = grid.res[0]
    rng = np.random.default_rng(0)
    rows = []
    for radius in RADII:
        r_px = int(np.ceil(radius / res))
        yy, xx = np.mgrid[-r_px:r_px + 1, -r_px:r_px + 1]
        disc = np.hypot(yy, xx) * res <= radius
        means, predicted = [], []
        for _ in range(DISCS * 20):
            if len(means) == DISCS:
                break
            i = int(rng.integers(r_px, grid.height - r_px))
            j = int(rng.integers(r_px, grid.width - r_px))
            window = (slice(i - r_px, i + r_px + 1), slice(j - r_px, j + r_px + 1))
            ok = disc & stable[window]
            if ok.sum() < 0.95 * disc.sum():
                continue
            means.append(float(np.mean(dh[window][ok])) - centre)
            figures = variogram.mean_standard_error(np.where(ok, sigma[window], np.nan),
                                                    report["model"], res, res)
            predicted.append(figures["standard_error"])
        rows.append({"radius_m": radius, "discs": len(means),
                     "spread_of_means": float(np.std(means, ddof=1)),
                     "coreg_standard_error": float(np.sqrt(np.mean(np.square(predicted))))})
    return rows


def run_xdem(dh: Path, aligned: Path, glaciers: Path) -> dict:
    proc = subprocess.run([str(HERE / "peers" / "xdem_env.sh")], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        return {"error": "xdem venv: " + proc.stderr[-500:]}
    python = proc.stdout.strip().splitlines()[-1]
    out = subprocess.run([python, str(HERE / "peers" / "xdem_variogram.py"), "--dh", str(dh),
                          "--dem", str(aligned), "--area", str(glaciers),
                          "--discs", ",".join(str(r) for r in RADII)],
                         capture_output=True, text=True)
    try:
        return json.loads(out.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"error": out.stderr[-2000:]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--no-xdem", action="store_true")
    p.add_argument("--json", default=str(HERE / "results" / "dem_variogram.json"))
    a = p.parse_args(argv)
    register_coreg()
    from coreg.core.dem.dem import align_dem
    from coreg.core.dem.dh_uncertainty import elevation_change_uncertainty

    WORK.mkdir(parents=True, exist_ok=True)
    glaciers, aligned, dh = (WORK / n for n in ("glaciers_1990.tif", "lyb_aligned.tif",
                                                "lyb_dh.tif"))
    for path in (aligned, dh):
        path.unlink(missing_ok=True)
    n_glacier = glacier_raster(glaciers)
    alignment = align_dem(DATA / "aligned_elev.tif", DATA / "DEM_1995.tif", aligned,
                          dh_output=dh, pipeline=PIPELINE)
    t = time.perf_counter()
    report = elevation_change_uncertainty(DATA / "aligned_elev.tif", aligned,
                                          areas=[glaciers])
    seconds = time.perf_counter() - t
    discs = disc_check(dh, aligned, glaciers, report)
    peer = {} if a.no_xdem else run_xdem(dh, aligned, glaciers)
    for row, other in zip(discs, peer.get("discs", [])):
        row["xdem_standard_error"] = other["standard_error"]
    area = report["areas"][0]
    lines = ["| | Coreg | xdem 0.2.3 |", "|---|---|---|",
             f"| standard error of the mean dh over the 1990 glaciers ({area['area_m2'] / 1e6:.1f}"
             f" km²) | {area['standard_error_mean_dh']:.4f} m | "
             f"{peer.get('standard_error', float('nan')):.4f} m |",
             f"| effective samples | {area['n_effective']:.0f} | "
             f"{peer.get('n_effective', float('nan')):.0f} |",
             f"| time (error model + area) | {seconds:.1f} s | {peer.get('t_s', float('nan')):.1f}"
             " s |", "", "| disc radius | discs | spread of their mean dh | Coreg's standard "
             "error | xdem's |", "|---|---|---|---|---|"]
    lines += [f"| {r['radius_m']:.0f} m | {r['discs']} | {r['spread_of_means']:.4f} m | "
              f"{r['coreg_standard_error']:.4f} m | "
              f"{r.get('xdem_standard_error', float('nan')):.4f} m |" for r in discs]
    text = "\n".join(lines)
    print(text)
    info = {"meta": run_meta(xdem_versions=peer.get("versions", {})),
            "pipeline": PIPELINE, "nmad_after": alignment.nmad_after,
            "glacier_pixels": n_glacier, "coreg": report, "coreg_seconds": seconds,
            "xdem": peer, "discs": discs, "table": text}
    print(f"results: {write_results('dem_variogram', info, a.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
