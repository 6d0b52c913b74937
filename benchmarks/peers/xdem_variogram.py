"""xdem's uncertainty of elevation change on one dh raster; prints ONE JSON line.

Run with the xdem venv's python (see xdem_env.sh):

    $PY benchmarks/peers/xdem_variogram.py --dh DH.tif --dem ALIGNED.tif --area AREA.tif

As xdem's gallery ("Spatial propagation of elevation errors", Hugonnet et al. 2022) does
it, with xdem's defaults: the slope and maximum curvature of the aligned DEM (the
gallery's pair; with the slope alone xdem 0.2.3 fails: its error function then gets a 2-D
array it cannot interpolate); ``infer_heteroscedasticity_from_stable(dh, [slope, maxc],
unstable_mask=area)``;
``infer_spatial_correlation_from_stable(zscores, ["Gaussian", "Spherical"],
unstable_mask=area, random_state=42)`` (subsample 1000, Dowd estimator); the area raster
(non-zero) polygonised into the outlines given to ``number_effective_samples(outlines,
params, rasterize_resolution=dh)``; and the standard error of the mean dh over the area,
the mean error over its pixels / sqrt(n_effective). Also the error of the mean over
``--discs`` stable discs (radii in metres) centred at ``--centres`` (x, y pairs),
the same discs the calling benchmark measures. JSON keys: n_effective, standard_error,
params (the fitted model), t_s, discs, versions, error.
"""

from __future__ import annotations

import argparse
import json
import time
import traceback


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dh", required=True)
    p.add_argument("--dem", required=True)
    p.add_argument("--area", required=True)
    p.add_argument("--discs", default="")
    a = p.parse_args()
    out: dict = {}
    try:
        import geoutils as gu
        import numpy as np
        import xdem
        import xdem.spatialstats as xs

        out["versions"] = {"xdem": xdem.__version__, "geoutils": gu.__version__}
        t = time.perf_counter()
        dh = xdem.DEM(a.dh)
        dem = xdem.DEM(a.dem)
        slope, maxc = dem.slope(), dem.max_curvature()
        area = gu.Raster(a.area)
        unstable = area.data.filled(0) != 0
        zscores, _, error_fun = xs.infer_heteroscedasticity_from_stable(
            dh, list_var=[slope, maxc], unstable_mask=unstable)
        _, params, _ = xs.infer_spatial_correlation_from_stable(
            zscores, list_models=["Gaussian", "Spherical"], unstable_mask=unstable,
            random_state=42)
        outlines = (area == 1).polygonize(target_values=1)
        neff = xs.number_effective_samples(outlines, params, rasterize_resolution=dh)
        errors = error_fun((slope.data.filled(np.nan), maxc.data.filled(np.nan)))
        sigma = float(np.nanmean(errors[unstable]))
        out.update({"n_effective": float(neff), "mean_sigma": sigma,
                    "standard_error": sigma / float(np.sqrt(neff)),
                    "params": json.loads(params.to_json(orient="records")),
                    "t_s": time.perf_counter() - t})
        discs = []
        for radius in [float(r) for r in a.discs.split(",") if r]:
            n = xs.number_effective_samples(np.pi * radius**2, params)
            discs.append({"radius_m": radius, "n_effective": float(n),
                          "standard_error": float(np.nanmedian(errors[~unstable]))
                          / float(np.sqrt(n))})
        out["discs"] = discs
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        out["error"] = f"{type(exc).__name__}: {exc}"
        out["traceback"] = traceback.format_exc()[-2000:]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
