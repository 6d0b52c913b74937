#!/usr/bin/env python3
"""Benchmark: large offsets and SAR against optical, Coreg and AROSICS side by side.

Run with ``make bench`` (= ``scripts/headless.sh /usr/bin/python3 benchmarks/large_shift.py``).

Cases: ``tests/corpus.py``'s ``large_shift_cases`` (two Sentinel-2 scenes of one footprint,
block averages of a real 10 m band, the secondary's content 22 to 300 reference pixels off:
exact truths, no interpolation) and GeFolki's Sentinel-1 / Sentinel-2 patches with a
whole-pixel offset cut into the Sentinel-2 one (differential truth: the run with the offset
less the run without it, each tool against itself).

Coreg runs ``align_image`` with its defaults (no MAX_SHIFT, MODALITY auto). AROSICS runs
its global ``COREG`` through ``peers/run_arosics.py`` twice: with its defaults
(``max_shift=5``, ``ws=256``, less on small overlaps) and as a careful user would
(``max_shift`` = the largest true shift in secondary pixels + 5). Errors: RMS over the
secondary's footprint of the distance to the true correction, reference pixels.

Prints a table and writes ``benchmarks/results/large_shift.json`` (rows, commit, date,
machine, versions). Options: ``--only TEXT`` (repeatable), ``--no-arosics``, ``--json PATH``.
"""

from __future__ import annotations

import os

os.environ["GDAL_PAM_ENABLED"] = "NO"
os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")

import argparse  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from checkout import load_module, register_coreg  # noqa: E402

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work" / "large_shift"
register_coreg()
sys.path.insert(0, str(HERE))

import rasterio  # noqa: E402
import run as bench_run  # noqa: E402
from results import write_results  # noqa: E402

from coreg.core.matching.align import align_image  # noqa: E402
from coreg.core.matching.fit import RigidModel  # noqa: E402

SAR = REPO.parent / "shared" / "data" / "sar_optical"
#: AROSICS's own default max_shift (pixels) and window.
AROSICS_DEFAULT_MAX_SHIFT = 5


corpus = load_module("coreg_corpus", REPO / "tests" / "corpus.py")
bench_corpus = load_module("coreg_bench_corpus", HERE / "corpus.py")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def arosics(py, ref: Path, sec: Path, folder: Path, max_shift: int) -> dict:
    bc = SimpleNamespace(reference_band=1, secondary_band=1, max_shift=max_shift)
    saved = bench_run.NODATA
    bench_run.NODATA = -9999  # no nodata in these pairs: a value that never occurs
    try:
        return bench_run.run_arosics(py, bc, ref, sec, folder / f"arosics_{max_shift}.tif", 1,
                                     HERE / "work" / "arosics.stderr.log")
    finally:
        bench_run.NODATA = saved


def arosics_model(result: dict, sec: Path) -> RigidModel | None:
    if not result["ok"]:
        return None
    with rasterio.open(sec) as ds:
        t = ds.transform
    return RigidModel(result["dx"] * t.a, result["dy"] * t.e)


def corpus_row(case, folder: Path, aro_py) -> dict:
    row = corpus.run_case(case, folder)
    pair = corpus.build(case, folder)
    careful = math.ceil(max(abs(k) for k in case.offset) / case.sec_block) + 5
    for label, cap in (("defaults", AROSICS_DEFAULT_MAX_SHIFT), ("careful", careful)):
        result = arosics(aro_py, pair.reference, pair.secondary, folder, cap)
        model = arosics_model(result, pair.secondary)
        row[f"arosics_{label}"] = result | {"max_shift": cap}
        row[f"arosics_{label}_err_px"] = (corpus.scene_error_px(model, pair.truth, pair)
                                          if model is not None else None)
    return row


def sar_pair(folder: Path, offset: tuple[int, int]) -> tuple[Path, Path]:
    """GeFolki's S1 (reference) and S2 patches, the S2 content ``offset`` further."""
    return corpus.offset_pair(SAR / "S1_patch11.tif", SAR / "S2_patch11.tif", folder, offset)


def sar_rows(aro_py, offsets) -> list[dict]:
    """Differential: each tool's shift with the offset less its shift without it."""
    base_folder = WORK / "sar_0"
    ref0, sec0 = sar_pair(base_folder, (0, 0))
    base = align_image(ref0, sec0, transform="translation")
    rows = []
    for kx, ky in offsets:
        folder = WORK / f"sar_{kx}_{ky}"
        ref, sec = sar_pair(folder, (kx, ky))
        start = time.perf_counter()
        found = align_image(ref, sec, transform="translation")
        seconds = time.perf_counter() - start
        row = {"case": f"S2 onto S1 shift ({kx}, {ky})", "group": "sar-optical",
               "ref_block": 1, "sec_block": 1, "offset": [kx, ky], "truth_dx": kx,
               "truth_dy": ky, "seconds": seconds, "search": found.search,
               "reliability": found.reliability,
               "err_px": math.hypot(found.shift_x_px - base.shift_x_px - kx,
                                    found.shift_y_px - base.shift_y_px - ky)}
        careful = max(abs(kx), abs(ky)) + 5
        for label, cap in (("defaults", AROSICS_DEFAULT_MAX_SHIFT), ("careful", careful)):
            zero = arosics(aro_py, ref0, sec0, base_folder, cap)
            moved = arosics(aro_py, ref, sec, folder, cap)
            row[f"arosics_{label}"] = moved | {"max_shift": cap, "baseline": zero}
            row[f"arosics_{label}_err_px"] = (
                math.hypot(moved["dx"] - zero["dx"] - kx, moved["dy"] - zero["dy"] - ky)
                if moved["ok"] and zero["ok"] else None)
            # Without a baseline, the error against the added offset alone (the patches
            # are co-registered to about 0.5 px: GeFolki's manifest).
            row[f"arosics_{label}_offset_err_px"] = (
                math.hypot(moved["dx"] - kx, moved["dy"] - ky) if moved["ok"] else None)
        rows.append(row)
    return rows


def _f(value, fmt: str, missing: str = "FAIL") -> str:
    return missing if value is None else format(value, fmt)


def table(rows: list[dict]) -> str:
    head = ["case", "truth dx", "dy", "Coreg err", "A defaults err", "A careful err",
            "A careful max_shift", "Coreg s", "A careful s"]
    lines = [[r["case"], _f(r["truth_dx"], "+.1f"), _f(r["truth_dy"], "+.1f"),
              _f(r.get("err_px"), ".4f"), _f(r["arosics_defaults_err_px"], ".3f"),
              _f(r["arosics_careful_err_px"], ".3f"), str(r["arosics_careful"]["max_shift"]),
              _f(r.get("seconds"), ".1f", "-"),
              _f(r["arosics_careful"].get("t_estimate_s"), ".1f", "-")] for r in rows]
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]

    def fmt(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(head), "-" * len(fmt(head)), *map(fmt, lines)])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Large offsets and SAR/optical: Coreg vs AROSICS.")
    p.add_argument("--only", action="append", default=[])
    p.add_argument("--no-arosics", action="store_true")
    p.add_argument("--json", type=Path, default=HERE / "results" / "large_shift.json")
    args = p.parse_args(argv)
    aro_py, aro_err = ((None, "skipped (--no-arosics)") if args.no_arosics
                       else bench_run.arosics_python())
    if aro_err:
        log(f"AROSICS unavailable: {aro_err}")
    WORK.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows = []
    for i, case in enumerate(corpus.large_shift_cases()):
        if args.only and not any(o in case.name for o in args.only):
            continue
        try:
            rows.append(corpus_row(case, WORK / f"{i:02d}", aro_py))
        except Exception as e:  # a failed case is a row
            rows.append({"case": case.name, "truth_dx": case.truth_px[0],
                         "truth_dy": case.truth_px[1], "error": f"{type(e).__name__}: {e}",
                         "arosics_defaults_err_px": None, "arosics_careful_err_px": None,
                         "arosics_careful": {"max_shift": "-"}})
        log(f"{rows[-1]['case']}: coreg {_f(rows[-1].get('err_px'), '.4f')}")
    if not args.only or any("S2" in o for o in args.only):
        rows += sar_rows(aro_py, [(25, 18), (110, -20)])
    info = bench_corpus.meta(aro_py, [{"arosics": r.get("arosics_careful", {})} for r in rows])
    print(f"Large offsets and SAR/optical: Coreg {info.get('coreg_commit', '?')} (defaults) vs "
          f"AROSICS {info.get('arosics_version') or '-'}; {info['cpus']} CPUs, GDAL "
          f"{info['versions']['gdal']}, {info['date']}")
    print(table(rows))
    for r in rows:
        for label in ("defaults", "careful"):
            a = r.get(f"arosics_{label}") or {}
            if a.get("error"):
                print(f"Note: {r['case']}: AROSICS {label}: {str(a['error'])[:160]}")
            elif (a.get("baseline") or {}).get("error"):
                print(f"Note: {r['case']}: AROSICS {label}: the run without the offset "
                      f"failed ({a['baseline']['error'][:60]}); with it, AROSICS reports "
                      f"({a['dx']:+.2f}, {a['dy']:+.2f}) px: "
                      f"{r[f'arosics_{label}_offset_err_px']:.1f} px from the added offset")
        if r.get("error"):
            print(f"Note: {r['case']}: Coreg failed: {r['error']}")
    print(f"(errors in reference pixels; S2 onto S1 rows differential; total run "
          f"{time.perf_counter() - start:.0f} s)")
    written = write_results("large_shift", {"meta": info, "rows": rows}, args.json)
    print(f"Rows written to {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
