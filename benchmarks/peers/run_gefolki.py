#!/usr/bin/env python3
"""Run gefolki (ONERA's GeFolki, PyPI 1.1.0) once on two .npy images and print one JSON line.

Run it with the venv made by ``benchmarks/peers/gefolki_env.sh``::

    PY=$(benchmarks/peers/gefolki_env.sh | tail -n 1)
    $PY benchmarks/peers/run_gefolki.py --master M.npy --slave S.npy --out FLOW.npy \\
        --method GEFolki --levels 4 --radius 24,20,16,12,8 --iteration 4 --rank 4

``FLOW.npy`` holds (u, v), shape (2, M, N): GeFolki's convention, the registered slave is
``slave(x + u, y + v)``. stdout carries one JSON object: ``method``, the parameters,
``t_flow_s`` (``time.perf_counter`` around the ``GEFolki``/``EFolki`` call only; imports and
.npy I/O excluded) and ``error`` (null on success).

gefolki 1.1.0's CLAHE (``adapthist._clahe``) indexes a lookup table with the image that
scikit-image >= 0.19 ``rescale_intensity`` returns as float, and fails. The image is cast to
uint16 on the way into ``_clahe`` (its values are already integral 0..16383): nothing else of
gefolki is changed. The same fix was used for the figures in shared/data/sar_optical/MANIFEST.md.
"""

import argparse
import json
import sys
import time
import traceback

import numpy as np


def _patch_clahe() -> None:
    from gefolki import adapthist

    original = adapthist._clahe

    def clahe_uint16(image, *args, **kwargs):
        return original(np.asarray(image).astype(np.uint16), *args, **kwargs)

    adapthist._clahe = clahe_uint16


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--master", required=True)
    parser.add_argument("--slave", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--method", choices=("GEFolki", "EFolki"), default="GEFolki")
    parser.add_argument("--levels", type=int, default=4)
    parser.add_argument("--radius", default="24,20,16,12,8")
    parser.add_argument("--iteration", type=int, default=4)
    parser.add_argument("--rank", type=int, default=4)
    args = parser.parse_args()
    radius = [int(r) for r in args.radius.split(",")]
    result = {"method": args.method, "levels": args.levels, "radius": radius,
              "iteration": args.iteration, "rank": args.rank, "t_flow_s": None, "error": None}
    try:
        import gefolki

        _patch_clahe()
        flow = getattr(gefolki, args.method)
        master, slave = np.load(args.master), np.load(args.slave)
        start = time.perf_counter()
        u, v = flow(master, slave, levels=args.levels, radius=radius, iteration=args.iteration,
                    rank=args.rank)
        result["t_flow_s"] = time.perf_counter() - start
        np.save(args.out, np.stack([u, v]).astype(np.float32))
    except Exception as exc:  # report, never crash: the benchmark prints the error in its table
        traceback.print_exc(file=sys.stderr)
        result["error"] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
