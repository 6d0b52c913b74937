"""Run xcube-resampling's ``rectify_dataset`` on one swath and print ONE JSON line.

Run it with the xcube venv's python (see xcube_env.sh), never with Coreg's python:

    PY=$(benchmarks/peers/xcube_env.sh | tail -n 1)
    $PY benchmarks/peers/run_xcube.py --npz swath.npz --src-crs EPSG:4326 --dst-crs EPSG:3413 \
        --xmin X --ymax Y --res R --width W --height H --method bilinear --out out.npy

The input ``.npz`` holds ``values``, ``x`` and ``y`` (2-D, same shape; x/y in ``--src-crs``),
so no GDAL is needed in the venv. The target is a north-up regular grid (``xmin``/``ymax`` =
outer corner, square ``res`` pixels), built with ``GridMapping.regular`` (pixel-centre
``xy_min``). The source grid mapping comes from ``GridMapping.from_coords``; xcube transforms
the coordinates to the target CRS itself. The result (float32, rows north to south, NaN
outside) is saved to ``--out``.

JSON keys: t_rectify_s (building the grid mappings + rectify_dataset + compute, i.e. the
whole job on in-memory arrays; no file I/O), after an untimed warm-up run on a 64 x 64 corner
that compiles numba's functions (t_warmup_s); cpu_rectify_s (CPU time of all threads in it),
t_load_s, valid, shape, version, error.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback

T_IMPORT = time.perf_counter()
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
import xcube_resampling  # noqa: E402
from xcube_resampling import rectify_dataset  # noqa: E402
from xcube_resampling.gridmapping import GridMapping  # noqa: E402

T_IMPORT = time.perf_counter() - T_IMPORT


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--npz", required=True)
    parser.add_argument("--src-crs", default="EPSG:4326")
    parser.add_argument("--dst-crs", required=True)
    for name in ("xmin", "ymax", "res"):
        parser.add_argument(f"--{name}", type=float, required=True)
    parser.add_argument("--width", type=int, required=True)
    parser.add_argument("--height", type=int, required=True)
    parser.add_argument("--method", default="bilinear")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    report = {"version": xcube_resampling.__version__, "t_import_s": T_IMPORT}
    try:
        start = time.perf_counter()
        data = np.load(args.npz)
        values, x, y = data["values"], data["x"], data["y"]
        report["t_load_s"] = time.perf_counter() - start
        start = time.perf_counter()
        rectify(values[:64, :64], x[:64, :64], y[:64, :64], args)  # numba JIT, untimed
        report["t_warmup_s"] = time.perf_counter() - start
        start, cpu = time.perf_counter(), time.process_time()
        result = rectify(values, x, y, args)
        report["t_rectify_s"] = time.perf_counter() - start
        report["cpu_rectify_s"] = time.process_time() - cpu  # all threads (dask, numba)
        np.save(args.out, result)
        report["valid"] = int(np.isfinite(result).sum())
        report["shape"] = list(result.shape)
    except Exception as exc:  # report, never crash the benchmark
        report["error"] = f"{exc!r}\n{traceback.format_exc()}"
    print(json.dumps(report))


def rectify(values, x, y, args) -> np.ndarray:
    dims = ("row", "col")
    ds = xr.Dataset({"values": (dims, values.astype(np.float32))},
                    coords={"xc": (dims, x), "yc": (dims, y)})
    source_gm = GridMapping.from_coords(ds.xc, ds.yc, args.src_crs)
    res = args.res
    xy_min = (args.xmin + res / 2, args.ymax - args.height * res + res / 2)
    target_gm = GridMapping.regular((args.width, args.height), xy_min, res, args.dst_crs)
    out = rectify_dataset(ds, source_gm=source_gm, target_gm=target_gm,
                          interp_methods=args.method)
    result = np.asarray(out["values"].values, np.float32)
    y_name = out["values"].dims[0]
    if out[y_name][0] < out[y_name][-1]:  # rows south to north: flip to north-up
        result = result[::-1]
    return result


if __name__ == "__main__":
    main()
