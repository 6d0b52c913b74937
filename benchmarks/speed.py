#!/usr/bin/env python3
"""Speed of the global alignment against AROSICS and against a plain GDAL copy.

    scripts/headless.sh /usr/bin/python3 benchmarks/speed.py [--repeats 5] [--rounds 3]
        [--sides 256 512 1024 2048] [--no-large] [--no-arosics] [--json PATH]

Pairs of 256² to 2048² pixels (``speed_pairs.py``: a real band, sensor-simulated truth)
are aligned by Coreg and by AROSICS, measured two ways, side by side in one run:

- warm in-process: Coreg ``align_image`` in this process, AROSICS ``COREG`` +
  ``correct_shifts`` in its venv's process (``peers/run_arosics.py --repeat``), each
  timed inside its process after a first untimed run;
- whole processes: the command line ``python3 -m coreg align-image`` and
  ``run_arosics.py`` (one job per process), timed from outside (start to exit), each
  with its modules' bytecode compiled (AROSICS's by pip, Coreg's kept in the work folder
  after a first run, :func:`coreg_env`), as installed packages are.

Coreg runs with its defaults (rigid model, cubic resampling onto the reference grid)
and, like AROSICS's default output, with the geotransform moved only (translation
model); AROSICS with its defaults for a careful user: every CPU, a 256 px window
(128 px on the 256² pair), max_shift and nodata given, the same GeoTIFF creation
options as Coreg's. The error of each (scene RMS against the truth, pixels) is printed
beside its time. Measurements alternate between the tools in ``--rounds`` rounds and
the best of all is kept (the machine is shared).

The large scene (``cases.py``: 5000² px, a moved geotransform) is aligned by the Coreg
command line, resampled and geotransform-only, and compared with ``gdal_translate``
(a copy of the secondary) and ``gdalwarp -multi -wo NUM_THREADS=ALL_CPUS -r cubic``,
both with the same creation options. Each whole process's CPU time (user + system, all
its threads) is recorded beside its wall time, the least of the runs: on a shared
machine the steadier figure.

Writes ``benchmarks/results/speed.json`` (rows, ratios, commit, date, machine, versions).
"""

from __future__ import annotations

import os

os.environ["GDAL_PAM_ENABLED"] = "NO"
os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from checkout import PACKAGE_DIR, register_coreg  # noqa: E402
from results import run_meta, runs_processes, write_results  # noqa: E402

HERE = Path(__file__).resolve().parent
WORK = HERE / "work" / "speed"


def _checkout() -> Path:
    """The Coreg tree to measure: ``--checkout DIR`` (e.g. an older commit unpacked with
    ``git archive``), else this one."""
    if "--checkout" not in sys.argv:
        return HERE.parent
    return Path(sys.argv[sys.argv.index("--checkout") + 1]).resolve()


REPO = _checkout()
if REPO == HERE.parent:
    register_coreg()
else:  # a package folder of its own, first on sys.path and PYTHONPATH
    PACKAGE_DIR = WORK / "pkg_checkout"
    PACKAGE_DIR.mkdir(parents=True, exist_ok=True)
    link = PACKAGE_DIR / "coreg"
    if link.is_symlink():
        link.unlink()
    link.symlink_to(REPO, target_is_directory=True)
    sys.path.insert(0, str(PACKAGE_DIR))
    os.environ["PYTHONPATH"] = str(PACKAGE_DIR)
sys.path[:0] = [str(HERE.parent / "tests"), str(HERE)]

from cases import LARGE_SIZE as LARGE_SIDE  # noqa: E402
from creation import creation_options, gdal_co  # noqa: E402
from speed_pairs import arosics_model, make_large, make_pair  # noqa: E402
from synthetic import scene_rms_error_px  # noqa: E402

from coreg.core.matching.align import align_image  # noqa: E402

NODATA = 0
MAX_SHIFT = 20


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def co_arguments(flag: str, side: int) -> list[str]:
    """``flag`` and each creation option of a ``side``² output, for a command line."""
    return [x for co in gdal_co(creation_options(side, side)) for x in (flag, co)]


def wall(cmd: list[str], env: dict | None = None) -> tuple[float, str]:
    seconds, _, stdout = timed(cmd, env)
    return seconds, stdout


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds (user + system, all its threads), stdout) of a process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed ({proc.returncode}): {proc.stderr[-800:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return seconds, cpu, proc.stdout


def best_timed(cmd: list[str], env: dict | None, repeats: int) -> dict:
    """The best wall time of ``repeats`` runs, and the least CPU time (on a shared machine
    the steadier figure: other jobs delay a process more than they add to its work)."""
    runs = [timed(cmd, env) for _ in range(repeats)]
    return {"seconds": min(r[0] for r in runs), "cpu_seconds": min(r[1] for r in runs)}


# --------------------------------------------------------------------------- Coreg

CONFIGS = {"default": dict(transform="rigid", output_mode="resample"),
           "geotransform": dict(transform="translation", output_mode="geotransform")}


def coreg_warm(ref: Path, sec: Path, truth, config: str, repeats: int) -> dict:
    out = WORK / f"coreg_{config}.tif"
    options = dict(CONFIGS[config], reference_nodata=NODATA, secondary_nodata=NODATA,
                   max_shift=MAX_SHIFT)
    align_image(ref, sec, out, **options)  # warm-up
    best, alignment = math.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        alignment = align_image(ref, sec, out, **options)
        best = min(best, time.perf_counter() - start)
    return {"seconds": best, "error_px": scene_rms_error_px(alignment.model, truth, sec),
            "iterations": alignment.iterations,
            "patches_used": sum(p.used for p in alignment.patches)}


def coreg_cli(ref: Path, sec: Path, config: str, repeats: int) -> dict:
    out, report = WORK / f"cli_{config}.tif", WORK / f"cli_{config}.json"
    options = CONFIGS[config]
    cmd = [sys.executable, "-m", "coreg", "align-image", str(ref), str(sec), "-o", str(out),
           "--transform", options["transform"], "--output-mode", options["output_mode"],
           "--ref-nodata", str(NODATA), "--sec-nodata", str(NODATA),
           "--max-shift", str(MAX_SHIFT), "--quiet", "--report", str(report)]
    return best_timed(cmd, coreg_env(), repeats)


def coreg_env() -> dict:
    """The environment of a Coreg command-line process: this checkout importable, and its
    modules' bytecode kept (in WORK, not the tree) as an installed package's is, as
    AROSICS's pip-installed packages have theirs; only the first run compiles it (the
    times are the best of several runs)."""
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_DIR),
               PYTHONPYCACHEPREFIX=str(WORK / "pycache"))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


# --------------------------------------------------------------------------- AROSICS

def arosics_python() -> str | None:
    proc = subprocess.run([str(HERE / "peers" / "arosics_env.sh")], capture_output=True,
                          text=True)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        log(f"AROSICS venv: failed ({proc.stderr.strip()[-300:]})")
        return None
    return lines[-1]


def arosics_cmd(py: str, ref: Path, sec: Path, side: int) -> list[str]:
    cmd = [py, str(HERE / "peers" / "run_arosics.py"), "--ref", str(ref), "--tgt", str(sec),
           "--max-shift", str(MAX_SHIFT), "--ws", str(128 if side <= 256 else 256),
           "--nodata", str(NODATA), "--out", str(WORK / "arosics.tif")]
    return cmd + co_arguments("--co", side)


def arosics_env() -> dict:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)
    return env


def arosics_warm(py: str, ref: Path, sec: Path, truth, side: int, repeats: int) -> dict:
    _, out = wall(arosics_cmd(py, ref, sec, side) + ["--repeat", str(repeats + 1)],
                  arosics_env())
    res = json.loads(out.strip().splitlines()[-1])
    if not res.get("success"):
        return {"seconds": None, "error_px": None, "failure": res.get("error")}
    model = arosics_model(res["x_shift_px"], res["y_shift_px"], sec, truth)
    return {"seconds": res["t_total_s"], "estimate_seconds": res["t_estimate_s"],
            "first_seconds": res.get("t_first_s"),
            "error_px": scene_rms_error_px(model, truth, sec),
            "version": res.get("arosics_version")}


def arosics_cli(py: str, ref: Path, sec: Path, side: int, repeats: int) -> dict:
    return best_timed(arosics_cmd(py, ref, sec, side), arosics_env(), repeats)


# --------------------------------------------------------------------------- rows

def best_rounds(results: list[dict]) -> dict:
    """The row with the best time over the rounds (its other figures with it)."""
    measured = [r for r in results if r.get("seconds") is not None]
    return min(measured, key=lambda r: r["seconds"]) if measured else results[-1]


def pair_row(side: int, py: str | None, repeats: int, rounds: int) -> dict:
    ref, sec, truth = make_pair(side, WORK / f"pair_{side}")
    log(f"{side}²: measuring ({rounds} rounds)")
    runs: dict[str, list[dict]] = {}
    for _ in range(rounds):
        for config in CONFIGS:
            runs.setdefault(f"coreg_warm_{config}", []).append(
                coreg_warm(ref, sec, truth, config, repeats))
            runs.setdefault(f"coreg_cli_{config}", []).append(
                coreg_cli(ref, sec, config, max(1, repeats // 2)))
        if py:
            runs.setdefault("arosics_warm", []).append(
                arosics_warm(py, ref, sec, truth, side, repeats))
            runs.setdefault("arosics_cli", []).append(
                arosics_cli(py, ref, sec, side, max(1, repeats // 2)))
    row = {"side": side, **{k: best_rounds(v) for k, v in runs.items()}}
    for config in CONFIGS:
        for way in ("warm", "cli"):
            a = row.get(f"arosics_{way}", {}).get("seconds")
            c = row[f"coreg_{way}_{config}"]["seconds"]
            row[f"ratio_{way}_{config}"] = c / a if a else None
    return row


def large_row(repeats: int, rounds: int) -> dict:
    ref, sec, truth = make_large(WORK / "large")
    log(f"5000²: measuring ({rounds} rounds)")
    out = WORK / "gdal.tif"
    copy = ["gdal_translate", "-q", *co_arguments("-co", LARGE_SIDE), str(sec), str(out)]
    warp = ["gdalwarp", "-q", "-overwrite", "-multi", "-wo", "NUM_THREADS=ALL_CPUS", "-r",
            "cubic", *co_arguments("-co", LARGE_SIDE), str(sec), str(out)]
    # The error first: a failure shows before the timing, not after it.
    model = align_image(ref, sec, transform="translation", reference_nodata=NODATA,
                        secondary_nodata=NODATA, max_shift=MAX_SHIFT).model
    runs: dict[str, list[dict]] = {}
    for _ in range(rounds):
        for name, cmd in (("gdal_translate", copy), ("gdalwarp", warp)):
            runs.setdefault(name, []).append(best_timed(cmd, None, repeats))
        for config in CONFIGS:
            runs.setdefault(f"coreg_cli_{config}", []).append(
                coreg_cli(ref, sec, config, repeats))
    row = {"side": 5000, **{k: min(r["seconds"] for r in v) for k, v in runs.items()}}
    cpu = {k: min(r["cpu_seconds"] for r in v) for k, v in runs.items()}
    row["coreg_error_px"] = scene_rms_error_px(model, truth, sec)
    row["ratio_resample_to_copy"] = row["coreg_cli_default"] / row["gdal_translate"]
    row["ratio_resample_to_gdalwarp"] = row["coreg_cli_default"] / row["gdalwarp"]
    row["ratio_geotransform_to_copy"] = row["coreg_cli_geotransform"] / row["gdal_translate"]
    row["cpu_seconds"] = cpu
    row["cpu_ratio_resample_to_copy"] = cpu["coreg_cli_default"] / cpu["gdal_translate"]
    row["cpu_ratio_geotransform_to_copy"] = (cpu["coreg_cli_geotransform"]
                                             / cpu["gdal_translate"])
    return row


# --------------------------------------------------------------------------- report

def _f(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def table(rows: list[dict], large: dict | None) -> str:
    lines = ["side   way    Coreg default s (err px)  Coreg geotransform s (err px)  "
             "AROSICS s (err px)  C/A default  C/A geotr."]
    for r in rows:
        for way in ("warm", "cli"):
            cd, cg = r[f"coreg_{way}_default"], r[f"coreg_{way}_geotransform"]
            cd_err = r["coreg_warm_default"].get("error_px")
            cg_err = r["coreg_warm_geotransform"].get("error_px")
            a = r.get(f"arosics_{way}", {})
            a_err = r.get("arosics_warm", {}).get("error_px")
            lines.append(
                f"{r['side']:>5}  {way:<5}  {_f(cd['seconds'], '.3f'):>8} ({_f(cd_err, '.4f')})"
                f"{'':9}{_f(cg['seconds'], '.3f'):>8} ({_f(cg_err, '.4f')}){'':12}"
                f"{_f(a.get('seconds'), '.3f'):>8} ({_f(a_err, '.4f')})"
                f"  {_f(r[f'ratio_{way}_default'], '.2f'):>10}"
                f"  {_f(r[f'ratio_{way}_geotransform'], '.2f'):>10}")
    if large:
        lines += ["", f"5000² (whole processes): gdal_translate {large['gdal_translate']:.2f} s, "
                      f"gdalwarp -multi {large['gdalwarp']:.2f} s, Coreg resample "
                      f"{large['coreg_cli_default']:.2f} s "
                      f"({large['ratio_resample_to_copy']:.2f}x the copy, "
                      f"{large['ratio_resample_to_gdalwarp']:.2f}x gdalwarp), Coreg "
                      f"geotransform {large['coreg_cli_geotransform']:.2f} s "
                      f"({large['ratio_geotransform_to_copy']:.2f}x the copy); Coreg error "
                      f"{large['coreg_error_px']:.4f} px",
                  f"CPU seconds (user + system, least of the runs): copy "
                  f"{large['cpu_seconds']['gdal_translate']:.2f}, Coreg resample "
                  f"{large['cpu_seconds']['coreg_cli_default']:.2f} "
                  f"({large['cpu_ratio_resample_to_copy']:.2f}x), geotransform "
                  f"{large['cpu_seconds']['coreg_cli_geotransform']:.2f} "
                  f"({large['cpu_ratio_geotransform_to_copy']:.2f}x)"]
    return "\n".join(lines)


def markdown(rows: list[dict], large: dict | None) -> list[str]:
    """The README's tables of this run (``render_docs.py`` copies them there)."""
    lines = ["| pair | timed | Coreg default s (÷ AROSICS) | Coreg geotransform s (÷ AROSICS) "
             "| AROSICS s |", "|---|---|---|---|---|"]
    for r in rows:
        for way, label in (("warm", "warm, in-process"), ("cli", "whole processes")):
            a = r.get(f"arosics_{way}", {}).get("seconds")
            cells = [f"{_f(r[f'coreg_{way}_{c}']['seconds'], '.3f')} "
                     f"({_f(r[f'ratio_{way}_{c}'], '.2f')})" for c in CONFIGS]
            lines.append(f"| {r['side']}² | {label} | {' | '.join(cells)} | {_f(a, '.3f')} |")
    lines += ["", "Errors against the truth (scene RMS, px), Coreg / AROSICS: " + ", ".join(
        f"{r['side']}² {_f(r['coreg_warm_default'].get('error_px'), '.4f')} / "
        f"{_f(r.get('arosics_warm', {}).get('error_px'), '.3f')}" for r in rows) + "."]
    if large:
        cpu = large.get("cpu_seconds", {})
        lines += ["", "| 5000², whole processes | wall s | × the copy | CPU s | × the copy |",
                  "|---|---|---|---|---|"]
        for name, label in (("gdal_translate", "`gdal_translate` (copy)"),
                            ("gdalwarp", "`gdalwarp -multi`, cubic"),
                            ("coreg_cli_default", "Coreg, resampled (cubic)"),
                            ("coreg_cli_geotransform", "Coreg, geotransform only")):
            lines.append(f"| {label} | {large[name]:.2f} | "
                         f"{large[name] / large['gdal_translate']:.2f} | "
                         f"{_f(cpu.get(name), '.2f')} | "
                         f"{_f(cpu.get(name) and cpu[name] / cpu['gdal_translate'], '.2f')} |")
        lines += ["", f"Coreg's error on the 5000² scene: {large['coreg_error_px']:.4f} px."]
    return lines


def meta(py: str | None, rows: list[dict], args) -> dict:
    """The run's meta (benchmarks/results.py), with what this benchmark adds."""
    version = next((r.get("arosics_warm", {}).get("version") for r in rows
                    if r.get("arosics_warm", {}).get("version")), None)
    gdal = subprocess.run(["gdalinfo", "--version"], capture_output=True, text=True).stdout
    runs_processes()  # the CLI rows time whole Coreg processes
    info = run_meta(processor=platform.processor() or platform.machine(),
                    load_average_at_end=os.getloadavg(), gdal_cli=gdal.strip(),
                    arosics_version=version, arosics_python=py, repeats=args.repeats,
                    rounds=args.rounds,
                    creation_options={side: gdal_co(creation_options(side, side))
                                      for side in [*args.sides, LARGE_SIDE]})
    if args.checkout:  # an unpacked tree: its commit is in its folder's name
        info |= {"coreg_commit": f"checkout {args.checkout.name}", "coreg_uncommitted": []}
    return info


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[256, 512, 1024, 2048])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-large", action="store_true")
    parser.add_argument("--no-arosics", action="store_true")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "speed.json")
    parser.add_argument("--checkout", type=Path, default=None,
                        help="measure the Coreg tree in this folder (default: this one)")
    args = parser.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    py = None if args.no_arosics else arosics_python()
    rows = [pair_row(side, py, args.repeats, args.rounds) for side in args.sides]
    large = None if args.no_large else large_row(max(1, args.repeats // 2), args.rounds)
    print(table(rows, large))
    result = {"meta": meta(py, rows, args), "pairs": rows, "large": large,
              "markdown": markdown(rows, large)}
    log(f"wrote {write_results('speed', result, args.json)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
