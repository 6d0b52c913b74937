#!/usr/bin/env python3
"""Benchmark: Coreg and AROSICS on the sensor-simulated validation corpus, side by side.

Run with ``make bench`` (= ``scripts/headless.sh /usr/bin/python3 benchmarks/corpus.py``).
The corpus is ``tests/corpus.py``: pairs made of block averages of real bands (exact
sub-pixel truths without interpolation), rotations by GDAL's Lanczos, mixed
resolutions, radiometric change, clouds, large shifts and two real dates (differential
truth). Coreg runs ``align_image`` with its default parameters (rigid model); AROSICS runs
its global ``COREG`` through ``peers/run_arosics.py`` (the runner of ``run.py``) with
``ws=256`` (less on small overlaps), nodata none and ``max_shift`` = the largest true
shift (secondary pixels) + 5. Errors are the RMS over the secondary's footprint of the
distance between the estimated and the true correction, in reference pixels; AROSICS's
correction is a translation.

Prints a table and writes ``benchmarks/results/corpus.json`` (rows, summary, and the
run's meta: commit, date, machine, versions; benchmarks/results.py). Options: ``--only
TEXT`` (repeatable), ``--no-arosics``, ``--json PATH``.
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

from checkout import register_coreg  # noqa: E402

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work" / "corpus"
register_coreg()
sys.path.insert(0, str(HERE))  # run.py (the AROSICS runner)

import numpy as np  # noqa: E402
import rasterio  # noqa: E402
import run as bench_run  # noqa: E402
import speed_pairs  # noqa: E402
from results import run_meta, write_results  # noqa: E402

from coreg.core.matching.fit import RigidModel  # noqa: E402

corpus = speed_pairs.tests_corpus()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def arosics(py: str | None, case, folder: Path) -> dict:
    """AROSICS on the pair in ``folder`` (built by corpus.build)."""
    ref, sec = folder / "reference.tif", folder / "secondary.tif"
    largest = max(abs(k) for k in case.offset) / case.sec_block
    bc = SimpleNamespace(reference_band=1, secondary_band=1,
                         max_shift=max(5, math.ceil(largest) + 5))
    saved = bench_run.NODATA
    bench_run.NODATA = -9999  # the corpus has no nodata: a value that never occurs
    try:
        return bench_run.run_arosics(py, bc, ref, sec, folder / "arosics.tif", 1,
                                     HERE / "work" / "arosics.stderr.log")
    finally:
        bench_run.NODATA = saved


def arosics_model(result: dict, folder: Path) -> RigidModel | None:
    if not result["ok"]:
        return None
    with rasterio.open(folder / "secondary.tif") as ds:
        t = ds.transform
    return RigidModel(result["dx"] * t.a, result["dy"] * t.e)


def run_case(case, folder: Path, aro_py: str | None) -> dict:
    row = corpus.run_case(case, folder)
    pair = corpus.build(case, folder)  # the same files (deterministic), for the truth
    a = arosics(aro_py, case, folder)
    model = arosics_model(a, folder)
    truth = pair.truth
    if case.differential and model is not None:
        base = arosics(aro_py, case.baseline(), folder / "baseline")
        base_model = arosics_model(base, folder / "baseline")
        truth = (corpus.followed_by_offset(base_model, case, corpus.fine_transform(case))
                 if base_model is not None else None)
        model = model if truth is not None else None
    row["arosics"] = a
    row["arosics_err_px"] = (corpus.scene_error_px(model, truth, pair)
                             if model is not None else None)
    return row


def _f(value, fmt: str, missing: str = "-") -> str:
    return missing if value is None else format(value, fmt)


def table(rows: list[dict]) -> str:
    head = ["case", "group", "ref/sec", "truth dx", "dy", "rot", "C err", "C rot err",
            "C ce95", "A err", "C s", "A s"]
    lines = []
    for r in rows:
        a = r["arosics"]
        lines.append([
            r["case"], r["group"], f"{r['ref_block']}/{r['sec_block']}",
            _f(r["truth_dx"], "+.3f"), _f(r["truth_dy"], "+.3f"), _f(r["truth_rot"], "+.2f"),
            _f(r.get("err_px"), ".4f", "FAIL"), _f(r.get("rot_err_deg"), ".4f"),
            _f(r.get("ce95_px"), ".4f"),
            _f(r["arosics_err_px"], ".4f", "FAIL" if a.get("error") else "-"),
            _f(r.get("seconds"), ".2f"), _f(a.get("t_estimate_s"), ".2f")])
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]

    def fmt(cells):
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(head), "-" * len(fmt(head)), *map(fmt, lines)])


def summarize(rows: list[dict]) -> dict:
    ok = [r for r in rows if r.get("err_px") is not None]
    err = np.array([r["err_px"] for r in ok])
    ce95 = np.array([r["ce95_px"] for r in ok])
    aro = np.array([r["arosics_err_px"] for r in rows if r["arosics_err_px"] is not None])
    translations = [r for r in rows if not r["truth_rot"] and r["arosics_err_px"] is not None
                    and r.get("err_px") is not None]
    return {
        "cases": len(rows), "coreg_failed": [r["case"] for r in rows if r.get("err_px") is None],
        "coreg_scene_rms_px": float(np.sqrt(np.mean(err**2))) if len(err) else None,
        "coreg_worst_px": float(err.max()) if len(err) else None,
        "coreg_worst_case": ok[int(err.argmax())]["case"] if len(err) else None,
        "coreg_rotation_error_max_deg": max((r["rot_err_deg"] for r in ok), default=None),
        "coverage_ce95": float(np.mean(err <= ce95)) if len(err) else None,
        "coverage_ce90": float(np.mean(err <= np.array([r["ce90_px"] for r in ok])))
        if len(err) else None,
        "median_ce95_over_p95_error": float(np.median(ce95) / np.percentile(err, 95))
        if len(err) else None,
        "arosics_cases": len(aro),
        "arosics_failed": [r["case"] for r in rows if r["arosics_err_px"] is None],
        "arosics_scene_rms_px": float(np.sqrt(np.mean(aro**2))) if len(aro) else None,
        "arosics_worst_px": float(aro.max()) if len(aro) else None,
        "translation_cases_both": len(translations),
        "translations_coreg_rms_px": float(np.sqrt(np.mean(
            [r["err_px"] ** 2 for r in translations]))) if translations else None,
        "translations_arosics_rms_px": float(np.sqrt(np.mean(
            [r["arosics_err_px"] ** 2 for r in translations]))) if translations else None,
    }


def meta(aro_py: str | None, rows: list[dict]) -> dict:
    """The run's meta (benchmarks/results.py) with AROSICS's interpreter and version."""
    return run_meta(arosics_python=aro_py,
                    arosics_version=next((r["arosics"].get("version") for r in rows
                                          if r["arosics"].get("version")), None))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Coreg vs AROSICS on the validation corpus.")
    p.add_argument("--only", action="append", default=[],
                   help="run only cases whose name contains this text (repeatable)")
    p.add_argument("--no-arosics", action="store_true", help="skip AROSICS")
    p.add_argument("--json", type=Path, default=None,
                   help="results file (default benchmarks/results/corpus.json)")
    args = p.parse_args(argv)
    cases = [c for c in corpus.global_cases()
             if not args.only or any(o in c.name for o in args.only)]
    missing = sorted({str(c.source.path) for c in cases if not c.source.path.exists()})
    if missing:
        log("missing input data: " + ", ".join(missing))
        return 1
    aro_py, aro_err = ((None, "skipped (--no-arosics)") if args.no_arosics
                       else bench_run.arosics_python())
    if aro_err:
        log(f"AROSICS unavailable: {aro_err}")
    WORK.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows = []
    for i, case in enumerate(cases):
        try:
            row = run_case(case, WORK / f"{i:02d}", aro_py)
        except Exception as e:  # a failed case is a row, the run goes on
            row = {"case": case.name, "group": case.group, "ref_block": case.ref_block,
                   "sec_block": case.sec_block, "truth_dx": case.truth_px[0],
                   "truth_dy": case.truth_px[1], "truth_rot": case.rotation_deg,
                   "error": f"{type(e).__name__}: {e}", "arosics": {"error": "not run"},
                   "arosics_err_px": None}
        rows.append(row)
        log(f"[{i + 1}/{len(cases)}] {case.name}: coreg {_f(row.get('err_px'), '.4f')} px, "
            f"arosics {_f(row['arosics_err_px'], '.4f')} px")
    summary = summarize(rows)
    info = meta(aro_py, rows)
    print(f"Validation corpus: Coreg {info.get('coreg_commit', '?')} (defaults) vs AROSICS "
          f"{info.get('arosics_version') or '-'}; {info['cpus']} CPUs, GDAL "
          f"{info['versions']['gdal']}, "
          f"{info['date']}")
    print(table(rows))
    s = summary
    print(f"\nCoreg: scene RMS {_f(s['coreg_scene_rms_px'], '.4f')} px, worst "
          f"{_f(s['coreg_worst_px'], '.4f')} px ({s['coreg_worst_case']}), rotation error "
          f"<= {_f(s['coreg_rotation_error_max_deg'], '.4f')} deg; 95 % radius holds the "
          f"truth in {_f(s['coverage_ce95'], '.1%')} of cases (90 %: "
          f"{_f(s['coverage_ce90'], '.1%')}), median radius / 95th percentile error "
          f"{_f(s['median_ce95_over_p95_error'], '.2f')}.")
    print(f"AROSICS: {s['arosics_cases']} cases with a result, scene RMS "
          f"{_f(s['arosics_scene_rms_px'], '.4f')} px, worst {_f(s['arosics_worst_px'], '.4f')}"
          f" px (its model is a translation); pure translations both ran: "
          f"{s['translation_cases_both']}, RMS Coreg {_f(s['translations_coreg_rms_px'], '.4f')}"
          f" vs AROSICS {_f(s['translations_arosics_rms_px'], '.4f')} px.")
    for r in rows:
        if r.get("error"):
            print(f"Note: {r['case']}: coreg failed: {r['error']}")
        if r["arosics"].get("error") and r["arosics_err_px"] is None:
            print(f"Note: {r['case']}: arosics: {r['arosics']['error']}")
    print(f"(errors: RMS over the scene, reference pixels; C s: align_image estimate; "
          f"A s: AROSICS estimate; total run {time.perf_counter() - start:.0f} s)")
    written = write_results("corpus", {"meta": info, "summary": summary, "rows": rows},
                            args.json)
    print(f"Rows written to {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
