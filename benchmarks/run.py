#!/usr/bin/env python3
"""Benchmark: Coreg's global alignment against AROSICS, side by side.

Run with ``make bench`` (= ``scripts/headless.sh /usr/bin/python3 benchmarks/run.py``).
Prints a table and writes its rows with the run's meta to ``benchmarks/results/run.json``
(benchmarks/results.py); every temporary raster goes to ``benchmarks/work/``
(git-ignored). See benchmarks/README.md.

For every case both tools do their whole job, estimation and writing the aligned
secondary: Coreg ``align_image(..., output_mode="resample")`` in this process (after a
warm-up; one extra large-scene row uses ``output_mode="geotransform"``), AROSICS
``COREG(...).correct_shifts()`` through ``peers/run_arosics.py`` in its venv (its
``t_total_s``, which leaves out the interpreter and import). Both write a tiled DEFLATE
GeoTIFF with the same creation options, and so does the "floor", a plain
``rasterio.shutil.copy`` of the secondary (reading and writing it once).

Options: ``--only TEXT`` (repeatable) keeps the cases whose name contains TEXT;
``--repeats N`` (default 3) and ``--small-repeats N`` (default 2) are the best-of counts
for the large scene and for the other cases; ``--no-arosics``; ``--json PATH``.
"""

from __future__ import annotations

import os

# Before anything imports GDAL: never write .aux.xml side-cars (next to shared data).
os.environ["GDAL_PAM_ENABLED"] = "NO"
os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
# GDAL messages that bypass rasterio's handler (e.g. from its decompression threads) go to
# a log file instead of cluttering the output; main() reports how many there were.
GDAL_LOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "work", "gdal.log")
os.makedirs(os.path.dirname(GDAL_LOG), exist_ok=True)
if os.path.exists(GDAL_LOG):
    os.remove(GDAL_LOG)
os.environ["CPL_LOG"] = GDAL_LOG

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from pathlib import Path  # noqa: E402

from checkout import register_coreg  # noqa: E402

sys.dont_write_bytecode = True
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WORK = HERE / "work"
PEERS = HERE / "peers"




register_coreg()
sys.path.insert(0, str(REPO / "tests"))  # synthetic.py
sys.path.insert(0, str(HERE))  # cases.py

import rasterio  # noqa: E402
import rasterio.shutil  # noqa: E402
import speed_pairs  # noqa: E402
from cases import BenchCase, all_cases  # noqa: E402
from creation import creation_options, gdal_co  # noqa: E402
from results import run_meta, write_results  # noqa: E402
from speed_pairs import arosics_model  # noqa: E402
from synthetic import Case, make_secondary, scene_rms_error_px  # noqa: E402

import coreg.core.matching.align as coreg_align  # noqa: E402
from coreg.core.matching.fit import RigidModel  # noqa: E402


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


CREATION = creation_options()


def creation_for(path: Path) -> dict:
    """:func:`creation_options` of a copy of the raster at ``path``."""
    with rasterio.open(path) as ds:
        return creation_options(ds.width, ds.height)


#: Nodata given to both tools (the inputs are unsigned integers with no nodata tag).
NODATA = 0
#: Coreg counts as "no less accurate" on pure translations within this margin (px).
TOLERANCE_PX = 0.01
AROSICS_TIMEOUT_S = 600


# --------------------------------------------------------------------------- timing

_estimate_times: list[float] = []


def _timed_estimate(original):
    """Wrap ``estimate_alignment`` as ``align_image`` calls it, to record its duration."""
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            _estimate_times.append(time.perf_counter() - start)
    return wrapper


coreg_align.estimate_alignment = _timed_estimate(coreg_align.estimate_alignment)


def best_of(n: int, func):
    """Run ``func`` n times; return (best seconds, last result)."""
    best, result = math.inf, None
    for _ in range(n):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


# --------------------------------------------------------------------------- tools

def run_coreg(bc: BenchCase, ref: Path, sec: Path, out: Path, repeats: int) -> dict:
    """align_image with output writing; best of ``repeats`` (whole call)."""
    res = {"ok": False, "dx": None, "dy": None, "rot": None, "t_total_s": None,
           "t_estimate_s": None, "reliability": None, "error": None, "model": None}
    totals, estimates = [], []
    try:
        for _ in range(repeats):
            _estimate_times.clear()
            start = time.perf_counter()
            alignment = coreg_align.align_image(
                ref, sec, out, reference_band=bc.reference_band, secondary_band=bc.secondary_band,
                transform=bc.transform, max_shift=float(bc.max_shift), output_mode=bc.output_mode,
                resampling="cubic", reference_nodata=NODATA, secondary_nodata=NODATA)
            totals.append(time.perf_counter() - start)
            if _estimate_times:
                estimates.append(_estimate_times[-1])
    except Exception as e:  # report it in the table, keep benchmarking
        res["error"] = f"{type(e).__name__}: {e}"
        log(traceback.format_exc())
        return res
    m = alignment.model
    res.update(ok=True, dx=alignment.shift_x_px, dy=alignment.shift_y_px, rot=m.rotation_deg,
               t_total_s=min(totals), t_estimate_s=min(estimates) if estimates else None,
               reliability=alignment.reliability, model=m,
               score_before=alignment.matching_score_before,
               score_after=alignment.matching_score_after, iterations=alignment.iterations,
               warnings=list(alignment.warnings))
    return res


def arosics_python() -> tuple[str | None, str | None]:
    """The AROSICS venv's python (built by peers/arosics_env.sh if needed), or an error."""
    try:
        proc = subprocess.run([str(PEERS / "arosics_env.sh")], capture_output=True, text=True,
                              timeout=1800)
    except Exception as e:
        return None, f"arosics_env.sh: {e}"
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return None, f"arosics_env.sh failed ({proc.returncode}): {proc.stderr.strip()[-500:]}"
    return lines[-1], None


def window_size(ref: Path, sec: Path) -> int:
    """AROSICS matching window: 256 unless the overlap (coarser pixels) is too small."""
    with rasterio.open(ref) as r, rasterio.open(sec) as s:
        coarse = max(abs(r.res[0]), abs(s.res[0]))
        side = min(r.width * r.res[0], r.height * r.res[1], s.width * s.res[0],
                   s.height * s.res[1]) / coarse
    if side >= 320:
        return 256
    return max(32, 2 ** int(math.log2(0.8 * side)))


def run_arosics(py: str | None, bc: BenchCase, ref: Path, sec: Path, out: Path,
                repeats: int, stderr_log: Path) -> dict:
    """peers/run_arosics.py with --out; best of ``repeats`` of its t_total_s."""
    res = {"ok": False, "dx": None, "dy": None, "t_total_s": None, "t_estimate_s": None,
           "reliability": None, "error": None, "ws": None}
    if py is None:
        res["error"] = "AROSICS not run"
        return res
    ws = window_size(ref, sec)
    cmd = [py, str(PEERS / "run_arosics.py"), "--ref", str(ref), "--tgt", str(sec),
           "--ref-band", str(bc.reference_band), "--tgt-band", str(bc.secondary_band),
           "--max-shift", str(bc.max_shift), "--ws", str(ws), "--nodata", str(NODATA),
           "--out", str(out)]
    for co in gdal_co(creation_for(sec)):
        cmd += ["--co", co]
    res["ws"] = ws
    env = dict(os.environ, GDAL_PAM_ENABLED="NO", PYTHONDONTWRITEBYTECODE="1")
    env.pop("CPL_LOG", None)  # AROSICS's GDAL messages stay in its stderr log
    runs = []
    with open(stderr_log, "a") as err:
        for _ in range(repeats):
            try:
                proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True,
                                      env=env, timeout=AROSICS_TIMEOUT_S)
                runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            except Exception as e:
                res["error"] = f"run_arosics.py: {type(e).__name__}: {e}"
                return res
    last = runs[-1]
    res.update(ok=bool(last.get("success")), dx=last.get("x_shift_px"), dy=last.get("y_shift_px"),
               reliability=last.get("reliability"), error=last.get("error"),
               out_resampled=last.get("out_resampled"), version=last.get("arosics_version"))
    totals = [r["t_total_s"] for r in runs if r.get("t_total_s") is not None]
    estimates = [r["t_estimate_s"] for r in runs if r.get("t_estimate_s") is not None]
    res["t_total_s"] = min(totals) if totals else None
    res["t_estimate_s"] = min(estimates) if estimates else None
    if res["ok"] and (res["dx"] is None or res["dy"] is None):
        res.update(ok=False, error="no shift reported")
    return res


def floor_time(sec: Path, out: Path, repeats: int) -> float:
    """Best time of a plain GDAL copy of the secondary, with the same creation options."""
    options = creation_for(sec)

    def copy():
        rasterio.shutil.copy(str(sec), str(out), driver="GTiff", **options)
    return best_of(repeats, copy)[0]


# --------------------------------------------------------------------------- inputs

def make_large(folder: Path, bc: BenchCase) -> tuple[Path, Path, RigidModel]:
    """The large scene (``speed_pairs.make_large``, the source and shift of cases.py)."""
    return speed_pairs.make_large(folder)


def prepare(bc: BenchCase, folder: Path) -> tuple[Path, Path, RigidModel | None]:
    """(reference, secondary, truth or None) for one case."""
    if bc.kind == "real":
        return bc.scene.path, bc.secondary, None
    if bc.kind == "large":
        return make_large(folder, bc)
    sec = folder / "secondary.tif"
    truth = make_secondary(bc.scene.path, bc.scene.band, sec, bc.case)
    return bc.scene.path, sec, truth


def truth_in_secondary_px(truth: RigidModel, sec: Path) -> tuple[float, float, float]:
    with rasterio.open(sec) as ds:
        t = ds.transform
    return truth.shift_x / t.a, truth.shift_y / t.e, truth.rotation_deg


# --------------------------------------------------------------------------- one case

def run_case(bc: BenchCase, aro_py: str | None, repeats: int, small_repeats: int) -> dict:
    folder = WORK / bc.name.replace(" ", "_").replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    n = repeats if bc.kind == "large" else small_repeats
    ref, sec, truth = prepare(bc, folder if bc.kind != "large" else WORK / "large_inputs")
    row = {"case": bc.name, "group": bc.group, "kind": bc.kind, "model": bc.transform,
           "output_mode": bc.output_mode,
           "reference": str(ref), "secondary": str(sec), "max_shift": bc.max_shift,
           "repeats": n}
    if bc.case is not None:
        row["synthetic"] = {k: getattr(bc.case, k) for k in Case.__dataclass_fields__}
    if truth is not None:
        tdx, tdy, trot = truth_in_secondary_px(truth, sec)
        row.update(truth_dx=tdx, truth_dy=tdy, truth_rot=trot)

    c = run_coreg(bc, ref, sec, folder / "coreg.tif", n)
    a = run_arosics(aro_py, bc, ref, sec, folder / "arosics.tif", n, WORK / "arosics.stderr.log")
    floor = floor_time(sec, folder / "floor.tif", max(n, 3))

    c_err = a_err = None
    if truth is not None:
        if c["ok"]:
            c_err = scene_rms_error_px(c["model"], truth, sec)
        if a["ok"]:
            a_err = scene_rms_error_px(arosics_model(a["dx"], a["dy"], sec), truth, sec)
    both = c["ok"] and a["ok"]
    diff = math.hypot(c["dx"] - a["dx"], c["dy"] - a["dy"]) if both else None
    c.pop("model")
    row.update(
        coreg={k: v for k, v in c.items()}, arosics=a,
        coreg_dx=c["dx"], coreg_dy=c["dy"], coreg_rot=c["rot"], coreg_err_px=c_err,
        arosics_dx=a["dx"], arosics_dy=a["dy"], arosics_err_px=a_err, diff_px=diff,
        coreg_time_s=c["t_total_s"], arosics_time_s=a["t_total_s"], floor_time_s=floor,
        coreg_estimate_s=c["t_estimate_s"], arosics_estimate_s=a["t_estimate_s"],
        # A failed AROSICS run stops early: its time is not comparable.
        ratio_coreg_arosics=_ratio(c["t_total_s"], a["t_total_s"]) if both else None,
        ratio_coreg_floor=_ratio(c["t_total_s"], floor),
        ratio_estimate_coreg_arosics=(_ratio(c["t_estimate_s"], a["t_estimate_s"])
                                      if both else None),
    )
    return row


def _ratio(a, b):
    return a / b if a is not None and b else None


# --------------------------------------------------------------------------- report

def _f(value, fmt: str, missing: str = "-") -> str:
    return missing if value is None else format(value, fmt)


def table(rows: list[dict]) -> str:
    head = ["case", "model", "truth dx", "dy", "rot", "C dx", "C dy", "C rot", "C err",
            "A dx", "A dy", "A err", "|C-A|", "C s", "A s", "C/A", "floor s", "C/floor"]
    lines = []
    for r in rows:
        c_fail, a_fail = not r["coreg"]["ok"], not r["arosics"]["ok"]
        truth = ([_f(r.get("truth_dx"), "+.3f"), _f(r.get("truth_dy"), "+.3f"),
                  _f(r.get("truth_rot"), "+.2f")] if "truth_dx" in r else ["real", "", ""])
        lines.append([
            r["case"], r["model"][:5], *truth,
            "FAIL" if c_fail else _f(r["coreg_dx"], "+.3f"), _f(r["coreg_dy"], "+.3f"),
            _f(r["coreg_rot"], "+.3f") if r["model"] == "rigid" else "-",
            _f(r["coreg_err_px"], ".4f"),
            "FAIL" if a_fail else _f(r["arosics_dx"], "+.3f"), _f(r["arosics_dy"], "+.3f"),
            _f(r["arosics_err_px"], ".4f"), _f(r["diff_px"], ".3f"),
            _f(r["coreg_time_s"], ".2f"), _f(r["arosics_time_s"], ".2f"),
            _f(r["ratio_coreg_arosics"], ".2f"), _f(r["floor_time_s"], ".3f"),
            _f(r["ratio_coreg_floor"], ".1f"),
        ])
    widths = [max(len(x[i]) for x in [head, *lines]) for i in range(len(head))]
    fmt = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    rule = "-" * len(fmt(head))
    return "\n".join([fmt(head), rule, *map(fmt, lines)])


def summarize(rows: list[dict]) -> dict:
    def err(r, tool):
        e = r[f"{tool}_err_px"]
        return math.inf if e is None else e

    truth_rows = [r for r in rows if "truth_dx" in r]
    hard = [r for r in truth_rows if r["kind"] == "synthetic"
            and (r["synthetic"]["rotation_deg"] or r["synthetic"]["cloud_fraction"])]
    pure = [r for r in truth_rows if r not in hard]
    better = [r["case"] for r in hard if err(r, "coreg") < err(r, "arosics")]
    no_worse = [r["case"] for r in pure if err(r, "coreg") <= err(r, "arosics") + TOLERANCE_PX]
    large = next((r for r in rows if r["kind"] == "large" and r["output_mode"] == "resample"),
                 None)
    large_gt = next((r for r in rows if r["kind"] == "large"
                     and r["output_mode"] == "geotransform"), None)
    small = [r for r in rows if r["kind"] != "large"]
    med = lambda xs: statistics.median(xs) if xs else None  # noqa: E731
    return {
        "rotation_or_clouds_cases": len(hard),
        "coreg_more_accurate": len(better),
        "coreg_not_more_accurate_cases": [r["case"] for r in hard if r["case"] not in better],
        "arosics_failed_cases": [r["case"] for r in rows if not r["arosics"]["ok"]],
        "coreg_failed_cases": [r["case"] for r in rows if not r["coreg"]["ok"]],
        "pure_translation_cases": len(pure),
        "coreg_no_less_accurate": len(no_worse),
        "coreg_less_accurate_cases": [r["case"] for r in pure if r["case"] not in no_worse],
        "tolerance_px": TOLERANCE_PX,
        "large_ratio_coreg_arosics": large and large["ratio_coreg_arosics"],
        "large_ratio_coreg_floor": large and large["ratio_coreg_floor"],
        "large_geotransform_ratio_coreg_arosics": large_gt and large_gt["ratio_coreg_arosics"],
        "large_geotransform_ratio_coreg_floor": large_gt and large_gt["ratio_coreg_floor"],
        "median_ratio_coreg_arosics_small": med([r["ratio_coreg_arosics"] for r in small
                                                 if r["ratio_coreg_arosics"]]),
        "median_ratio_estimate_coreg_arosics_small": med(
            [r["ratio_estimate_coreg_arosics"] for r in small
             if r["ratio_estimate_coreg_arosics"]]),
        "median_ratio_coreg_floor_small": med([r["ratio_coreg_floor"] for r in small
                                               if r["ratio_coreg_floor"]]),
    }


def summary_text(s: dict) -> str:
    parts = []
    if s["rotation_or_clouds_cases"]:
        failed = [c for c in s["arosics_failed_cases"]
                  if c not in s["coreg_failed_cases"]]
        parts.append(f"rotation/clouds: Coreg more accurate than AROSICS on "
                     f"{s['coreg_more_accurate']}/{s['rotation_or_clouds_cases']} cases"
                     + (f" (AROSICS found no match on {len(failed)})" if failed else ""))
    if s["pure_translation_cases"]:
        parts.append(f"pure translations: Coreg no less accurate (within {s['tolerance_px']} px) "
                     f"on {s['coreg_no_less_accurate']}/{s['pure_translation_cases']} cases"
                     + (f" (not on: {', '.join(s['coreg_less_accurate_cases'])})"
                        if s["coreg_less_accurate_cases"] else ""))
    if s["large_ratio_coreg_arosics"] is not None:
        parts.append(f"large scene time Coreg/AROSICS = {s['large_ratio_coreg_arosics']:.2f}, "
                     f"Coreg/floor = {s['large_ratio_coreg_floor']:.1f}")
    if s["large_geotransform_ratio_coreg_arosics"] is not None:
        parts.append("with Coreg's geotransform output "
                     f"{s['large_geotransform_ratio_coreg_arosics']:.2f} and "
                     f"{s['large_geotransform_ratio_coreg_floor']:.1f}")
    line = "Summary: " + "; ".join(parts) + "."
    if s["median_ratio_coreg_arosics_small"] is not None:
        line += (f"\nSmall cases (median): time Coreg/AROSICS = "
                 f"{s['median_ratio_coreg_arosics_small']:.2f} with output, "
                 f"{_f(s['median_ratio_estimate_coreg_arosics_small'], '.2f')} estimation only; "
                 f"Coreg/floor = {_f(s['median_ratio_coreg_floor_small'], '.1f')}.")
    return line


def notes(rows: list[dict]) -> list[str]:
    out = []
    for r in rows:
        for tool in ("coreg", "arosics"):
            if not r[tool]["ok"] and r[tool].get("error"):
                out.append(f"{r['case']}: {tool} failed: {r[tool]['error']}")
    return out


def meta(aro_py: str | None, repeats: int, rows: list[dict]) -> dict:
    """The run's meta (benchmarks/results.py) with AROSICS's interpreter and version and
    the options every case shares."""
    aro = next((r["arosics"].get("version") for r in rows if r["arosics"].get("version")), None)
    return run_meta(arosics_python=aro_py, arosics_version=aro, large_repeats=repeats,
                    creation_options=CREATION, nodata=NODATA)


def header(info: dict) -> str:
    commit = info.get("coreg_commit") or "?"
    if info.get("coreg_uncommitted"):
        commit += " + uncommitted changes in core/algorithms"
    return (f"Coreg {commit} vs AROSICS {info.get('arosics_version') or '?'}; "
            f"{info['cpus']} CPUs, GDAL {info['versions']['gdal']}, {info['date']}")


# --------------------------------------------------------------------------- main

def warm_up(cases: list[BenchCase]) -> None:
    """Import and first-call costs out of the timings: one small untimed alignment."""
    folder = WORK / "warmup"
    folder.mkdir(parents=True, exist_ok=True)
    scene = next((c.scene for c in cases if c.kind == "synthetic"), cases[0].scene)
    sec = folder / "secondary.tif"
    make_secondary(scene.path, scene.band, sec, Case(0.6, -0.4, rotation_deg=0.2))
    coreg_align.align_image(scene.path, sec, folder / "out.tif", reference_band=scene.band,
                            transform="rigid", output_mode="resample")
    rasterio.shutil.copy(str(sec), str(folder / "floor.tif"), driver="GTiff",
                         **creation_for(sec))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Coreg vs AROSICS benchmark.")
    p.add_argument("--only", action="append", default=[],
                   help="run only cases whose name contains this text (repeatable)")
    p.add_argument("--repeats", type=int, default=3, help="best-of count for the large scene")
    p.add_argument("--small-repeats", type=int, default=2,
                   help="best-of count for the other cases")
    p.add_argument("--no-arosics", action="store_true", help="skip AROSICS")
    p.add_argument("--json", type=Path, default=None,
                   help="results file (default benchmarks/results/run.json)")
    args = p.parse_args(argv)

    cases = [c for c in all_cases() if not args.only or any(o in c.name for o in args.only)]
    if not cases:
        log("no case selected")
        return 2
    missing = [str(p) for c in cases for p in (c.scene.path, c.secondary) if p and not p.exists()]
    if missing:
        log("missing input data: " + ", ".join(missing))
        return 1
    WORK.mkdir(parents=True, exist_ok=True)
    (WORK / "arosics.stderr.log").unlink(missing_ok=True)

    aro_py, aro_err = (None, "skipped (--no-arosics)") if args.no_arosics else arosics_python()
    if aro_err:
        log(f"AROSICS unavailable: {aro_err}")
    log(f"Coreg vs AROSICS: {len(cases)} cases, work folder {WORK}")
    start = time.perf_counter()
    warm_up(cases)
    rows = []
    for i, bc in enumerate(cases, 1):
        t0 = time.perf_counter()
        row = run_case(bc, aro_py, args.repeats, args.small_repeats)
        rows.append(row)
        log(f"[{i}/{len(cases)}] {bc.name}: coreg {_f(row['coreg_time_s'], '.2f')} s "
            f"err {_f(row['coreg_err_px'], '.4f')}, arosics {_f(row['arosics_time_s'], '.2f')} s "
            f"err {_f(row['arosics_err_px'], '.4f')} ({time.perf_counter() - t0:.0f} s)")
    shutil.rmtree(WORK / "warmup", ignore_errors=True)

    summary = summarize(rows)
    info = meta(aro_py, args.repeats, rows)
    print(header(info))
    print(table(rows))
    print()
    print(summary_text(summary))
    for note in notes(rows):
        print("Note: " + note)
    gdal_lines = _count_lines(Path(GDAL_LOG))
    if gdal_lines:
        print(f"Note: GDAL logged {gdal_lines} message lines in this process, see {GDAL_LOG}")
    print(f"(C = Coreg, A = AROSICS; shifts in secondary pixels, x right, y down; times in s, "
          f"whole call with output writing; total run {time.perf_counter() - start:.0f} s)")
    written = write_results("run", {"meta": info, "summary": summary, "rows": rows}, args.json)
    print(f"Rows written to {written}")
    return 0


def _count_lines(path: Path) -> int:
    try:
        with open(path, errors="replace") as f:
            return sum(1 for _ in f)
    except OSError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
