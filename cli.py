"""The ``coreg`` command line: the Processing algorithms, without QGIS.

Each command mirrors one algorithm of the plugin (same options, same engine, same
checks): ``align-image``, ``align-local``, ``align-dem``, ``align-stack``,
``align-items``, ``apply``, ``band-math`` and ``rectify-swath``. ``coreg COMMAND --help``
lists the options.

A progress bar and a one-line summary go to standard error (``--quiet``: neither);
``--json`` prints the report (or what was done) on standard output. Exit status: 0 on
success; for the engine's errors their :attr:`CoregError.exit_code` (2 an input or
option cannot be used, 3 an output cannot be written, 4 not enough memory or disk,
5 no reliable alignment, 130 stopped), with a one-line message and no traceback;
2 for a command line click cannot parse. SIGTERM and Ctrl+C remove the temporaries
before the command ends.

Built on click: rasterio already needs it (for its own ``rio`` command), so it adds no
dependency, and it gives typed options, choices and help for free. The engine is
imported only when a command runs, so ``coreg --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from .core.errors import CanceledError, CoregError, CoregInputError, CoregResourceError

#: Choices, as the engine spells them (tests/test_cli.py checks them against core/).
TRANSFORMS = ("rigid", "translation")
#: align-image also fits a scale or an affine model (align-stack and align-items do not).
IMAGE_TRANSFORMS = TRANSFORMS + ("scale", "affine")
OUTPUT_MODES = ("resample", "geotransform")
MODALITIES = ("auto", "same", "optical", "sar-optical")
RESAMPLINGS = ("cubic", "bilinear", "nearest")
LOCAL_METHODS = ("tie_points", "dense_flow", "auto")
REJECTIONS = ("none", "reliability", "consistency", "score")
DEM_METHODS = ("nuth_kaab", "vertical", "blockwise")
INTERPOLATIONS = ("bilinear", "triangular", "nearest")
#: Mask files parsed as GeoJSON; other files are vector files when fiona reads them, else rasters.
GEOJSON_SUFFIXES = (".geojson", ".json")

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# ------------------------------------------------------------------- progress and messages


class ProgressBar:
    """A plain-text progress bar on standard error: redrawn in place on a terminal, a
    line every 10 % otherwise (a log file or a pipe). Callable with a percentage, as
    the engine's ``progress`` callbacks are; thread-safe."""

    WIDTH = 30

    def __init__(self, label: str, stream=None) -> None:
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.shown = -1
        self.lock = threading.Lock()

    def __call__(self, percent: float) -> None:
        value = int(max(0.0, min(100.0, float(percent))))
        step = value if self.tty else value - value % 10
        with self.lock:
            if step <= self.shown:
                return
            self.shown = step
            filled = self.WIDTH * step // 100
            text = f"{self.label} [{'#' * filled}{'.' * (self.WIDTH - filled)}] {step:3d}%"
            if self.tty:
                self.stream.write("\r" + text + ("\n" if step == 100 else ""))
            else:
                self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        """End a bar left unfinished (an error) on its own line."""
        with self.lock:
            if self.tty and 0 <= self.shown < 100:
                self.stream.write("\n")
                self.stream.flush()
            self.shown = 100


#: Set by the first SIGTERM, SIGHUP or Ctrl+C of a run (:func:`main`); the engine polls it
#: (:meth:`Run.is_canceled`) and stops at its next safe point, at most a second later.
_STOP = threading.Event()


class Run:
    """What one command shares: its progress bar, its messages and its outputs' gate."""

    def __init__(self, command: str, quiet: bool, as_json: bool) -> None:
        self.command, self.quiet, self.as_json = command, quiet, as_json
        self.progress = None if quiet else ProgressBar(command)

    @staticmethod
    def is_canceled() -> bool:
        """Whether a signal asked the run to stop (the engine's ``is_canceled``)."""
        return _STOP.is_set()

    @contextlib.contextmanager
    def guarded(self, outputs: Mapping[str, Any], inputs: Mapping[str, Any]) -> Iterator[None]:
        """Every destination checked against every input and each other, and held, before
        any work (as the plugin's algorithms do): the engine checks its own again."""
        from .core.io.outputs import guarded_outputs

        try:
            with guarded_outputs(outputs, inputs):
                yield
        except BaseException:
            if self.progress is not None:  # the error's message on a line of its own
                self.progress.close()
            raise

    def info(self, text: str) -> None:
        if not self.quiet:
            click.echo(text, err=True)

    def warn(self, text: str) -> None:
        click.echo(f"warning: {_one_line(text)}", err=True)

    def done(self, document: object, summary: str = "",
             cautions: Sequence[str] = ()) -> None:
        """Warnings and the summary on standard error, ``document`` as JSON on standard
        output if asked."""
        if self.progress is not None:
            self.progress(100.0)
        for caution in cautions:
            self.warn(caution)
        if summary:
            self.info(summary)
        if self.as_json:
            click.echo(json.dumps(document, indent=2))


#: The engine names some parameters by their Processing key: here they are options.
FLAGS = {"MAX_SHIFT": "--max-shift", "WINDOW_SIZE": "--window-size",
         "GRID_SPACING": "--grid-spacing", "PIXEL_SIZE": "--pixel-size", "EXTENT": "--extent",
         "TARGET_CRS": "--target-crs", "PREFILTER": "--prefilter", "X_BAND": "--x-band",
         "Y_BAND": "--y-band", "INVERT": "--invert", "KEEP_UNRELIABLE": "--keep-unreliable"}
_FLAG_KEYS = re.compile(r"\b(" + "|".join(FLAGS) + r")\b")
#: ... and some by their label in the dialog.
LABELS = ((re.compile(r"tick 'Keep unreliable results'"), "use --keep-unreliable"),
          (re.compile(r"untick INVERT"), "leave out --invert"))


def _one_line(text: object) -> str:
    """``text`` on one line, with the parameter keys the engine names as options."""
    text = " ".join(str(text).split())
    for pattern, replacement in LABELS:
        text = pattern.sub(replacement, text)
    return _FLAG_KEYS.sub(lambda match: FLAGS[match.group(1)], text)


def _error(text: object) -> None:
    click.echo(f"coreg: error: {_one_line(text)}", err=True)


# ---------------------------------------------------------------------- option helpers


def run_options(function):
    """``--json`` and ``--quiet``, shared by every command."""
    function = click.option("-q", "--quiet", is_flag=True,
                            help="No progress bar or summary on standard error (warnings "
                                 "and errors are still shown).")(function)
    return click.option("--json", "as_json", is_flag=True,
                        help="Print the report (or what was done) as JSON on standard "
                             "output.")(function)


def dask_options(what: str):
    """``--dask-scheduler`` and ``--ship-engine/--no-ship-engine``; ``what``: the work
    that runs on the cluster's workers."""
    def decorate(function):
        function = click.option(
            "--ship-engine/--no-ship-engine", default=True, show_default=True,
            help="Send this engine to the Dask workers; --no-ship-engine: they have the "
                 "same version installed (pip install coreg).")(function)
        return click.option(
            "--dask-scheduler", metavar="ADDRESS",
            help=f"Run {what} on this Dask scheduler (tcp://host:port; only a cluster you "
                 "trust: Dask runs pickled code). Needs the 'dask' extra. The workers read "
                 "the paths themselves: use a shared file system.")(function)
    return decorate


def _band(flag: str, help_text: str):
    return click.option(flag, type=click.IntRange(min=1), default=1, show_default=True,
                        help=help_text)


def _choice(flag: str, choices: Sequence[str], help_text: str, default: str | None = None):
    return click.option(flag, type=click.Choice(list(choices)),
                        default=default if default is not None else choices[0],
                        show_default=True, help=help_text)


def mask_sources(paths: Sequence[str]) -> list:
    """Mask files as the engine takes them: GeoJSON files become polygons (in the CRS
    their ``crs`` member names, else WGS 84 as RFC 7946 says), as do other vector files
    (GeoPackage, Shapefile, ...: ``vector_mask``); rasters stay paths (non-zero = masked)."""
    from .core.io.masks import PolygonMask
    from .core.io.vector_masks import vector_mask

    masks: list = []
    for path in paths:
        if Path(path).suffix.lower() not in GEOJSON_SUFFIXES:
            masks.append(vector_mask(path) or path)
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
        except (OSError, ValueError) as exc:
            raise CoregInputError(f"Mask '{path}' cannot be read as GeoJSON: {exc}") from exc
        masks.append(PolygonMask(tuple(_polygons(document, path)), _geojson_crs(document)))
    return masks


def _polygons(document: Any, path: str) -> Iterator[dict]:
    """The polygon geometries of a GeoJSON document (features, a collection, or one)."""
    if not isinstance(document, dict):
        raise CoregInputError(f"Mask '{path}' is not a GeoJSON object.")
    kind = document.get("type")
    if kind == "FeatureCollection":
        for feature in document.get("features") or ():
            yield from _polygons(feature, path)
    elif kind == "Feature":
        if document.get("geometry"):
            yield from _polygons(document["geometry"], path)
    elif kind == "GeometryCollection":
        for geometry in document.get("geometries") or ():
            yield from _polygons(geometry, path)
    elif kind in ("Polygon", "MultiPolygon"):
        yield document
    else:
        raise CoregInputError(f"Mask '{path}' holds a {kind!r}; masks are polygons.")


def _geojson_crs(document: dict) -> str:
    name = ((document.get("crs") or {}).get("properties") or {}).get("name")
    return str(name) if name else "EPSG:4326"


def _outputs_of_apply_to(paths: Sequence[str], output: str | None) -> dict[str, str]:
    """Where ``--apply-to`` writes each raster (beside the main output), by label."""
    if not paths or not output:
        return {}
    from .core.transforms.apply import applied_paths

    folder = os.path.dirname(os.path.abspath(output))
    return {f"Applied to '{os.path.basename(p)}'": out
            for p, out in zip(paths, applied_paths(paths, folder))}


def _apply_to(run: Run, alignment, paths: Sequence[str], output: str, sources: Mapping,
              output_mode: str = "resample") -> list[str]:
    """Apply ``alignment`` to the ``--apply-to`` rasters, beside ``output``."""
    if not paths:
        return []
    from .core.transforms.apply import apply_to_rasters

    run.info(f"Applying the alignment to {len(paths)} more raster(s).")
    written = apply_to_rasters(alignment, list(paths),
                               os.path.dirname(os.path.abspath(output)),
                               output_mode=output_mode,
                               protected={**sources, "Output": output},
                               progress=ProgressBar("apply-to") if not run.quiet else None,
                               is_canceled=run.is_canceled)
    for path in written:
        run.info(f"Wrote {path}")
    return written


def _write_report(path: str | None, report: dict) -> None:
    if path:
        from .core.io.outputs import write_json

        write_json(path, report)


def _fmt(value: Any, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


# ------------------------------------------------------------------------------ commands


def _print_version(context: click.Context, _param, value: bool) -> None:
    if value and not context.resilient_parsing:
        from . import __version__

        click.echo(f"coreg {__version__}")
        context.exit()


@click.group(context_settings=CONTEXT)
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version, help="Show the version and exit.")
@click.option("-v", "--verbose", count=True,
              help="Log the engine's messages on standard error (-vv: debug).")
def cli(verbose: int) -> None:
    """Sub-pixel coregistration of Earth-observation rasters (the engine of the Coreg
    QGIS plugin, without QGIS).

    Exit status: 0 success, 2 unusable input or option, 3 output cannot be written,
    4 not enough memory or disk, 5 no reliable alignment, 130 stopped.
    """
    if not verbose:  # rasterio's note on the swaths' (expected) missing geotransform
        warnings.filterwarnings("ignore", message="Dataset has no geotransform")
        # The engine's logged warnings are the commands' own "warning:" lines.
        logging.getLogger(__package__ or "coreg").addHandler(logging.NullHandler())
    else:
        logging.captureWarnings(True)
        logging.basicConfig(level=logging.DEBUG if verbose > 1 else logging.INFO,
                            format="%(levelname)s %(name)s: %(message)s")


@cli.command("align-image", short_help="Global alignment: a shift, optionally a rotation.")
@click.argument("reference")
@click.argument("secondary")
@click.option("-o", "--output",
              help="Aligned raster (GeoTIFF); leave it out to measure the shift only.")
@_band("--band-ref", "Reference band to match.")
@_band("--band-sec", "Secondary band to match.")
@click.option("--mask", "masks", multiple=True, metavar="PATH",
              help="Areas to leave out: a raster (non-zero = bad) or polygons (GeoJSON, "
                   "GeoPackage, Shapefile, ...). Repeatable.")
@_choice("--transform", IMAGE_TRANSFORMS, "Model: translation + rotation (rigid), translation "
         "only, + one scale factor (scale: a pixel-size error), or affine (scale per axis, "
         "shear).")
@click.option("--max-shift", type=float, default=None, metavar="PX",
              help="Largest accepted shift from the initial offset, in reference pixels "
                   "(default: none; a coarse search covers the overlap).")
@click.option("--initial-offset", type=(float, float), default=None, metavar="X Y",
              help="Expected correction where the search starts (reference pixels, x right, "
                   "y down; map units with --offset-in-map-units).")
@click.option("--offset-in-map-units", is_flag=True,
              help="--initial-offset is in map units (x east, y north).")
@_choice("--modality", MODALITIES, "What the images are: auto, same sensor, different "
         "optical sensors, or SAR against optical.")
@click.option("--keep-unreliable", is_flag=True,
              help="Return an ambiguous match (two offsets fit almost equally) with a warning "
                   "instead of failing.")
@click.option("--choose-bands", is_flag=True,
              help="Match the band pair that correlates best (every pair tried, scores in "
                   "the report) instead of --band-ref/--band-sec.")
@_choice("--output-mode", OUTPUT_MODES,
         "Resample onto the reference grid, or shift the geotransform only (no "
         "resampling; needs --transform translation).")
@_choice("--resampling", RESAMPLINGS, "Resampling of the resample mode.")
@click.option("--ref-nodata", type=float, help="Reference nodata (overrides the file's).")
@click.option("--sec-nodata", type=float, help="Secondary nodata (overrides the file's).")
@click.option("--cog", is_flag=True, help="Write a Cloud-Optimized GeoTIFF.")
@click.option("--apply-to", multiple=True, metavar="PATH",
              help="Apply the alignment to this raster too, written as <name>_coreg.tif "
                   "beside the output. Repeatable.")
@click.option("--report", metavar="PATH", help="Write the JSON report there.")
@run_options
def align_image_command(reference, secondary, output, band_ref, band_sec, masks, transform,
                        max_shift, initial_offset, offset_in_map_units, modality,
                        keep_unreliable, choose_bands, output_mode, resampling, ref_nodata,
                        sec_nodata, cog, apply_to, report, quiet, as_json):
    """Align SECONDARY onto REFERENCE (global: translation, optionally a rotation, a scale
    or an affine map)."""
    from .core.matching.align import align_image
    from .core.matching.linear_model import terms_text

    if apply_to and not output:
        raise CoregInputError("--apply-to writes beside the output: give -o/--output too.")
    run = Run("align-image", quiet, as_json)
    sources = {"Reference": reference, "Secondary": secondary, "Masks": list(masks),
               "Rasters to apply to": list(apply_to)}
    outputs = {"Output": output, "Report": report, **_outputs_of_apply_to(apply_to, output)}
    with run.guarded(outputs, sources):
        alignment = align_image(
            reference, secondary, output, reference_band=band_ref, secondary_band=band_sec,
            masks=mask_sources(masks), transform=transform, max_shift=max_shift,
            initial_offset=initial_offset,
            initial_offset_units="map" if offset_in_map_units else "pixels",
            modality=modality, keep_unreliable=keep_unreliable, choose_bands=choose_bands,
            reference_nodata=ref_nodata, secondary_nodata=sec_nodata,
            output_mode=output_mode, resampling=resampling, cog=cog,
            progress=run.progress, is_canceled=run.is_canceled)
        document = alignment.report()
        _write_report(report, document)
        _apply_to(run, alignment.transform, apply_to, output, sources, output_mode)
    r = document
    run.done(document, (
        f"Shift {r['shift_x_px']:+.3f}, {r['shift_y_px']:+.3f} secondary px "
        f"({r['shift_x_map']:+.6g}, {r['shift_y_map']:+.6g} map units), rotation "
        f"{r['rotation_deg']:+.4f} deg, uncertainty {r['shift_uncertainty_px']:.3f} px, "
        f"reliability {r['reliability']:.1f} %, {r['n_patches_used']}/{r['n_patches']} "
        f"patches used, matching score {r['matching_score_before']:.3f} -> "
        f"{r['matching_score_after']:.3f}" + terms_text(r.get("model_terms"))),
        alignment.warnings)


@cli.command("align-local", short_help="Non-rigid alignment: tie points or dense flow.")
@click.argument("reference")
@click.argument("secondary")
@click.option("-o", "--output", help="Secondary warped onto the reference grid (GeoTIFF).")
@click.option("--displacement", metavar="PATH",
              help="Write the displacement field (dx, dy in reference pixels) there.")
@click.option("--uncertainty", metavar="PATH",
              help="Write the field's uncertainty there: per pixel, the radius (reference "
                   "pixels) holding its true value with 95 % probability.")
@_choice("--method", LOCAL_METHODS,
         "A grid of tie points and a smooth field, dense optical flow (also SAR / "
         "optical), or auto: tie points, one affine field unless they show local "
         "distortion (the report's method_choice says why).")
@_choice("--modality", MODALITIES, "What the images are: auto (structure when too few tie "
         "points are reliable on intensities), same sensor, different optical sensors, or "
         "SAR against optical (tie points matched on structure).")
@_band("--band-ref", "Reference band to match.")
@_band("--band-sec", "Secondary band to match.")
@click.option("--mask", "masks", multiple=True, metavar="PATH",
              help="Areas to leave out: a raster (non-zero = bad) or polygons (GeoJSON, "
                   "GeoPackage, Shapefile, ...). Repeatable.")
@click.option("--max-shift", type=float, default=20.0, show_default=True, metavar="PX",
              help="Largest expected shift, in reference pixels.")
@_choice("--resampling", RESAMPLINGS, "Resampling of the warp.")
@click.option("--grid-spacing", type=int, default=0, show_default=True, metavar="PX",
              help="Tie-point spacing, reference pixels; 0: automatic (64 for one sensor, "
                   "48 across modalities).")
@click.option("--window-size", type=int, default=0, show_default=True, metavar="PX",
              help="Matching window, reference pixels; 0: automatic (64 for one sensor, 96 "
                   "across modalities).")
@_choice("--rejection", REJECTIONS, "Outlier rejection (each level adds its test).",
         default="score")
@click.option("--min-reliability", type=float, default=30.0, show_default=True,
              help="Least reliability (%) of a kept tie point.")
@click.option("--radius", type=int, default=8, show_default=True,
              help="Flow: window radius (pixels).")
@click.option("--levels", type=int, default=4, show_default=True,
              help="Flow: pyramid levels.")
@click.option("--iterations", type=int, default=4, show_default=True,
              help="Flow: iterations per level.")
@click.option("--invert", is_flag=True,
              help="Flow: invert the secondary's contrast (SAR vs optical).")
@click.option("--ref-nodata", type=float, help="Reference nodata (overrides the file's).")
@click.option("--sec-nodata", type=float, help="Secondary nodata (overrides the file's).")
@click.option("--cog", is_flag=True, help="Write a Cloud-Optimized GeoTIFF.")
@click.option("--keep-unreliable", is_flag=True,
              help="Write the result even when too few points support it.")
@click.option("--apply-to", multiple=True, metavar="PATH",
              help="Apply the field to this raster too, written as <name>_coreg.tif beside "
                   "the output. Repeatable.")
@click.option("--report", metavar="PATH", help="Write the JSON report there.")
@dask_options("the dense-flow tiles and the warped strips")
@run_options
def align_local_command(reference, secondary, output, displacement, uncertainty, method,
                        modality, band_ref, band_sec, masks, max_shift, resampling,
                        grid_spacing, window_size, rejection, min_reliability, radius,
                        levels, iterations, invert,
                        ref_nodata, sec_nodata, cog, keep_unreliable, apply_to, report,
                        dask_scheduler, ship_engine, quiet, as_json):
    """Align SECONDARY onto the REFERENCE grid with a displacement varying over the image."""
    from .core.local.local import align_local
    from .core.transforms.saved import displacement_alignment, portable_report

    if apply_to and not output:
        raise CoregInputError("--apply-to writes beside the output: give -o/--output too.")
    run = Run("align-local", quiet, as_json)
    sources = {"Reference": reference, "Secondary": secondary, "Masks": list(masks),
               "Rasters to apply to": list(apply_to)}
    outputs = {"Output": output, "Displacement field": displacement,
               "Uncertainty": uncertainty, "Report": report,
               **_outputs_of_apply_to(apply_to, output)}
    with run.guarded(outputs, sources), contextlib.ExitStack() as stack:
        field = displacement
        if field is None and apply_to:  # the copies read the field from a file
            field = os.path.join(stack.enter_context(
                tempfile.TemporaryDirectory(prefix="coreg-cli-")), "displacement.tif")
        result = align_local(
            reference, secondary, output, field, uncertainty=uncertainty, method=method,
            reference_band=band_ref, secondary_band=band_sec, masks=mask_sources(masks),
            max_shift=max_shift, resampling=resampling, grid_spacing=grid_spacing,
            window_size=window_size,
            rejection=rejection, min_reliability=min_reliability, modality=modality,
            radius=radius, levels=levels, iterations=iterations, invert=invert,
            reference_nodata=ref_nodata, secondary_nodata=sec_nodata, cog=cog,
            keep_unreliable=keep_unreliable, dask_scheduler=dask_scheduler,
            ship_engine=ship_engine, progress=run.progress, is_canceled=run.is_canceled)
        document = result.report()
        if report:
            _write_report(report, portable_report(document, report))
        if apply_to:
            _apply_to(run, displacement_alignment(field), apply_to, output, sources)
    r = document
    run.done(document, (
        f"{r['n_kept']}/{r['n_points']} points kept ({r['method']}, {r['passes']} "
        f"pass(es), matched on {r['features']['features']}); RMS shift "
        f"{_fmt(r['rms_shift_before_px'])} -> "
        f"{_fmt(r['rms_shift_after_px'])} px, matching score "
        f"{_fmt(r['matching_score_before'])} -> {_fmt(r['matching_score_after'])}"),
        result.warnings)


@cli.command("align-dem", short_help="Align a DEM on a reference DEM (Nuth & Kääb).")
@click.argument("reference")
@click.argument("dem")
@click.option("-o", "--output", required=True, help="Aligned DEM (Float32 GeoTIFF).")
@click.option("--dh", "dh_output", metavar="PATH",
              help="Write the elevation difference reference - aligned DEM there.")
@click.option("--exclude", multiple=True, metavar="PATH",
              help="Unstable terrain to leave out: a raster (non-zero = unstable) or "
                   "polygons (GeoJSON, GeoPackage, Shapefile, ...). Repeatable.")
@_choice("--method", DEM_METHODS,
         "Nuth & Kääb (horizontal + vertical), vertical shift only (median), or "
         "blockwise Nuth & Kääb (smooth shift fields).")
@click.option("--pipeline", default="", metavar="STEPS",
              help="Steps joined by '+', fitted jointly, replacing --method, e.g. "
                   "nuth_kaab+deramp1+directional (steps: nuth_kaab, dhminimize, lzd, icp, "
                   "vertical, deramp1-3, directional[:AZIMUTH], directional_bins[:AZIMUTH], "
                   "terrain_elevation, terrain_curvature).")
@click.option("--bootstrap", type=click.IntRange(min=0), default=0, show_default=True,
              metavar="N", help="Replicates of a spatial block bootstrap: standard errors "
                                "and 95 % intervals of every term in the report (~30).")
@click.option("--variogram", is_flag=True,
              help="Model the error of elevation change (NMAD by slope, variogram of the "
                   "stable dh) into the report's dh_uncertainty.")
@click.option("--area", "areas", multiple=True, metavar="PATH",
              help="An area (polygons: GeoJSON, GeoPackage, ...; or a raster, non-zero) "
                   "whose mean dh gets a "
                   "standard error, spatial correlation included (implies --variogram). "
                   "Repeatable.")
@click.option("--z-field", metavar="NAME", help="Points: the elevation field (default: "
                                                "z, h, height, elevation, h_li or the Z).")
@click.option("--time-field", metavar="NAME", help="Points: the time field (default: "
                                                   "delta_time, time, datetime, date).")
@click.option("--start", metavar="DATE", help="Points: keep those from this date or "
                                              "date-time (ISO 8601, UTC).")
@click.option("--end", metavar="DATE", help="Points: keep those up to this date (its whole "
                                            "day) or date-time.")
@click.option("--quality-field", metavar="NAME", help="Points: a quality field (ICESat-2's "
                                                      "atl06_quality_summary is found alone).")
@click.option("--quality-max", type=float, metavar="VALUE",
              help="Points: the largest accepted quality value (atl06_quality_summary: 0).")
@click.option("--geoid", metavar="NAME|PATH",
              help="Points with ellipsoidal heights (ICESat-2, GNSS), DEM on a geoid: egm96, "
                   "egm2008 or a geoid grid file (geoid height, metres).")
@click.option("--max-iterations", type=click.IntRange(min=1), default=10, show_default=True,
              help="Iterations of the horizontal fit at most.")
@click.option("--tolerance", type=float, default=0.01, show_default=True, metavar="M",
              help="Stop when the horizontal update is below this (metres).")
@click.option("--block-size", type=click.IntRange(min=32), default=256, show_default=True,
              metavar="PX", help="Block side of the blockwise method, DEM pixels.")
@_choice("--resampling", RESAMPLINGS, "Resampling of the aligned DEM.")
@click.option("--match-reference", is_flag=True,
              help="Write the outputs on the reference grid instead of the DEM's.")
@click.option("--keep-unreliable", is_flag=True,
              help="Write the result even when the fit did not converge.")
@click.option("--shift-x", metavar="PATH", help="Blockwise: write the x shift field there.")
@click.option("--shift-y", metavar="PATH", help="Blockwise: write the y shift field there.")
@click.option("--shift-z", metavar="PATH", help="Blockwise: write the z shift field there.")
@click.option("--apply-to", multiple=True, metavar="PATH",
              help="Apply the alignment to this raster too, written as <name>_coreg.tif "
                   "beside the output. Repeatable.")
@click.option("--report", metavar="PATH", help="Write the JSON report there.")
@click.option("--report-page", metavar="PATH", help="Write the HTML report there: dh maps "
                                                    "and histograms, NMAD by slope class.")
@dask_options("the aligned DEM's blocks (strips of rows)")
@run_options
def align_dem_command(reference, dem, output, dh_output, exclude, method, pipeline,
                      bootstrap, variogram, areas, z_field, time_field, start, end,
                      quality_field, quality_max, geoid, max_iterations, tolerance, block_size,
                      resampling, match_reference, keep_unreliable, shift_x, shift_y, shift_z,
                      apply_to, report, report_page, dask_scheduler, ship_engine, quiet,
                      as_json):
    """Align DEM onto the REFERENCE DEM over stable terrain (Nuth & Kääb 2011).
    REFERENCE may also be points: .csv, .gpkg, .las/.laz, (Geo)Parquet or ICESat-2 ATL06
    .h5, selected by time and quality."""
    from .core.dem.dem import align_dem, write_shift_fields
    from .core.dem.point_sources import PointOptions
    from .core.dem.points import is_point_file
    from .core.dem.report import write_dem_report

    fields = {c: p for c, p in (("x", shift_x), ("y", shift_y), ("z", shift_z)) if p}
    if fields and method != "blockwise":
        raise CoregInputError("Shift fields (--shift-x/-y/-z) exist for --method blockwise "
                              "only.")
    run = Run("align-dem", quiet, as_json)
    sources = {"Reference DEM": reference, "DEM": dem, "Unstable terrain": list(exclude),
               "Areas": list(areas), "Rasters to apply to": list(apply_to)}
    outputs = {"Output": output, "Elevation difference": dh_output, "Report": report,
               "Report page": report_page,
               **{f"Shift field {c}": p for c, p in fields.items()},
               **_outputs_of_apply_to(apply_to, output)}
    with run.guarded(outputs, sources):
        alignment = align_dem(
            reference, dem, output, dh_output=dh_output, exclude=mask_sources(exclude),
            method=method, pipeline=pipeline, bootstrap=bootstrap, variogram=variogram,
            areas=mask_sources(areas), max_iterations=max_iterations,
            point_options=PointOptions(z_field=z_field, time_field=time_field, start=start,
                                       end=end, quality_field=quality_field,
                                       quality_max=quality_max, geoid=geoid),
            tolerance=tolerance, block_size=block_size, match_reference=match_reference,
            resampling=resampling,
            keep_unreliable=keep_unreliable, dask_scheduler=dask_scheduler,
            ship_engine=ship_engine, progress=run.progress, is_canceled=run.is_canceled)
        document = alignment.report()
        _write_report(report, document)
        if report_page:
            write_dem_report(document, report_page, reference=reference, dem=dem,
                             aligned=None if is_point_file(reference) else output,
                             exclude=mask_sources(exclude))
        if fields:
            write_shift_fields(alignment, dem, fields)
        _apply_to(run, alignment.transform, apply_to, output, sources)
    r = document
    run.done(document, (
        f"Shift applied to the DEM: x {r['shift_x']:+.3f}, y {r['shift_y']:+.3f}, "
        f"z {r['shift_z']:+.3f} (map units); NMAD of dh on {r['n_stable_pixels']} stable "
        f"pixels {r['nmad_before']:.3f} -> {r['nmad_after']:.3f}"
        + (f"; points {r['points']}" if r["points"] else "")
        + "".join(f"; {a['name']}: standard error of the mean dh "
                  f"{a.get('standard_error_mean_dh', float('nan')):.3f}"
                  for a in r["dh_uncertainty"].get("areas", []))), alignment.warnings)


@cli.command("align-stack", short_help="Align a time series onto an anchor scene.")
@click.argument("inputs", nargs=-1, required=True)
@click.option("--anchor", help="The scene the others are aligned onto (one of INPUTS; "
                               "default: the one with the largest clear overlap with the "
                               "others, named in the summary with every scene's score).")
@click.option("-o", "--output-folder", required=True, help="Folder of the outputs.")
@click.option("--mask", "masks", multiple=True, metavar="PATH",
              help="Per-scene mask (non-zero = bad), matched by file-name stem. Repeatable.")
@click.option("--summary", metavar="PATH", help="Write the CSV summary there.")
@_band("--band", "Band to match, in every scene.")
@_choice("--transform", TRANSFORMS, "Model: translation + rotation, or translation only.")
@click.option("--max-shift", type=float, default=20.0, show_default=True, metavar="PX",
              help="Largest expected shift, in anchor pixels.")
@click.option("--reproject", is_flag=True,
              help="Put the scenes on the anchor's CRS and grid.")
@click.option("--already-aligned", type=click.FloatRange(0.0, 1.0), default=0.8,
              show_default=True, help="Pass a scene through above this matching score.")
@click.option("--min-improvement", type=click.FloatRange(0.0, 1.0), default=0.001,
              show_default=True, help="Least improvement of the matching score to keep an "
                                      "alignment.")
@click.option("--workers", type=click.IntRange(min=1),
              help="Worker processes (default: the cores, fewer if memory is short).")
@dask_options("the scenes (the workers also write the outputs)")
@run_options
def align_stack_command(inputs, anchor, output_folder, masks, summary, band, transform,
                        max_shift, reproject, already_aligned, min_improvement, workers,
                        dask_scheduler, ship_engine, quiet, as_json):
    """Align every scene of INPUTS (a time series) onto the --anchor scene. Fails (exit 5)
    if every scene failed; if some did, says so as a warning."""
    from .core.stack.stack import align_stack, failures

    run = Run("align-stack", quiet, as_json)
    with run.guarded({"Summary": summary}, {"Inputs": list(inputs), "Masks": list(masks)}):
        results = align_stack(
            list(inputs), anchor, output_folder, masks=list(masks), summary=summary,
            band=band, anchor_band=band, transform=transform, max_shift=max_shift,
            reproject=reproject, already_aligned=already_aligned,
            min_improvement=min_improvement, workers=workers, dask_scheduler=dask_scheduler,
            ship_engine=ship_engine, progress=run.progress, is_canceled=run.is_canceled)
    for result in results:
        run.info(f"{os.path.basename(result.input)}: {result.status}"
                 f"{' (' + _one_line(result.reason) + ')' if result.reason else ''}")
    counts = {s: sum(r.status == s for r in results) for s in dict.fromkeys(
        r.status for r in results)}
    run.done({"output_folder": str(output_folder), "summary": summary,
              "items": [r.summary_row() for r in results]},
             ", ".join(f"{n} {s}" for s, n in counts.items()),
             [failed] if (failed := failures(results)) else [])


@cli.command("align-items", short_help="Align one STAC item's assets onto another item.")
@click.argument("source_item")
@click.argument("reference_item")
@click.option("-o", "--output-folder", required=True,
              help="Folder of the aligned COGs, item.json and collection.json.")
@click.option("--title", default="Co-registered item", show_default=True,
              help="Title of the output STAC collection (its id: the title as a slug).")
@click.option("--asset", "assets", multiple=True, metavar="NAME",
              help="Source asset to align (key, band name or common name: nir, B08). "
                   "Repeatable; default every optical data asset.")
@click.option("--match-asset", metavar="NAME",
              help="Asset the alignment is measured on (default: NIR, red or pan).")
@_choice("--transform", TRANSFORMS, "Model: translation + rotation, or translation only.")
@click.option("--max-shift", type=float, default=20.0, show_default=True, metavar="PX",
              help="Shift range around the coarse search's offset, in reference pixels.")
@click.option("--resampling", type=click.Choice(["auto", *RESAMPLINGS]), default="auto",
              show_default=True,
              help="auto: nearest for integer class or mask assets, cubic otherwise.")
@click.option("--ignore-preconditions", is_flag=True,
              help="Warn instead of refusing a pair that breaks UP42's preconditions.")
@click.option("--timeout", type=click.FloatRange(min=1.0), default=20.0, show_default=True,
              metavar="S", help="Seconds a server may stay silent before the run fails.")
@click.option("--report", metavar="PATH", help="Write the JSON report there too.")
@run_options
def align_items_command(source_item, reference_item, output_folder, title, assets,
                        match_asset, transform, max_shift, resampling, ignore_preconditions,
                        timeout, report, quiet, as_json):
    """Align the assets of SOURCE_ITEM onto REFERENCE_ITEM (STAC items: local JSON files,
    http(s) URLs, or STAC API items .../collections/C/items/ID; remote COGs are
    streamed). Needs pystac."""
    from .core.stac.align_items import align_items

    run = Run("align-items", quiet, as_json)

    def log(level: str, message: str) -> None:
        (run.warn if level == "warning" else run.info)(message)

    with run.guarded({"Report": report}, {}):
        result = align_items(
            source_item, reference_item, output_folder, title=title, assets=list(assets),
            match_asset=match_asset, transform=transform, max_shift=max_shift,
            resampling=None if resampling == "auto" else resampling,
            ignore_preconditions=ignore_preconditions, report_path=report,
            timeout=timeout, log=log, progress=run.progress, is_canceled=run.is_canceled)
    r = result.report
    run.done(r, f"Shift {r['shift_x_px']:+.3f}, {r['shift_y_px']:+.3f} px, reliability "
                f"{r['reliability']:.1f} %; wrote {len(result.outputs)} asset(s) and "
                f"{result.item}")


@cli.command("apply", short_help="Apply a saved alignment to another raster.")
@click.argument("alignment")
@click.argument("input_path", metavar="INPUT")
@click.option("-o", "--output", required=True, help="Aligned raster (GeoTIFF).")
@_choice("--output-mode", OUTPUT_MODES,
         "Resample (onto the input's grid moved, or --target-grid), or shift the "
         "geotransform only (translations).")
@click.option("--target-grid", metavar="RASTER", help="Resample onto this raster's grid.")
@click.option("--resampling", type=click.Choice(["auto", *RESAMPLINGS]), default="auto",
              show_default=True,
              help="auto: nearest for integer class or mask rasters, cubic otherwise.")
@click.option("--invert", is_flag=True, help="Apply the inverse alignment.")
@click.option("--cog", is_flag=True, help="Write a Cloud-Optimized GeoTIFF.")
@click.option("--vertical/--no-vertical", default=True, show_default=True,
              help="Add a DEM report's vertical shift to the values.")
@run_options
def apply_command(alignment, input_path, output, output_mode, target_grid, resampling,
                  invert, cog, vertical, quiet, as_json):
    """Apply the ALIGNMENT saved in a report (align-image, align-dem, align-local; or a
    displacement raster) to INPUT, another raster of the same acquisition."""
    from .core.io.raster_io import read_info
    from .core.transforms.apply import apply_alignment
    from .core.transforms.saved import read_alignment

    run = Run("apply", quiet, as_json)
    sources = {"Alignment": alignment, "Input": input_path, "Target grid": target_grid}
    with run.guarded({"Output": output}, sources):
        saved = read_alignment(alignment)
        if invert:
            saved = saved.inverted()
        target = read_info(target_grid, "Target grid").grid if target_grid else None
        applied = apply_alignment(
            saved, input_path, output, output_mode=output_mode, target=target,
            resampling=None if resampling == "auto" else resampling, cog=cog,
            vertical=vertical, progress=run.progress, is_canceled=run.is_canceled)
    for note in applied.warnings:
        run.info(note)
    run.done({"output": output, "resampling": applied.resampling,
              "notes": list(applied.warnings)}, f"Wrote {output}")


@cli.command("band-math", short_help="Evaluate an s-expression over rasters.")
@click.argument("inputs", nargs=-1, required=True)
@click.option("-e", "--expression", required=True,
              help="Prefix expression, e.g. 'ndvi:(norm_diff 1.B08 1.B04)' or "
                   "'(/ (+ 1.b1 2.b1) 2)'; bands are <input>.b<band> or <input>.<description>.")
@click.option("-o", "--output", required=True,
              help="Result: single-band Float32 COG on the first input's grid.")
@dask_options("the strips of rows")
@run_options
def band_math_command(inputs, expression, output, dask_scheduler, ship_engine, quiet,
                      as_json):
    """Evaluate one s-expression over INPUTS (numbered 1, 2, ... in this order)."""
    from .core.bandmath.raster_math import band_math

    run = Run("band-math", quiet, as_json)
    with run.guarded({"Output": output}, {"Inputs": list(inputs)}):
        definition = band_math(list(inputs), expression, output,
                               dask_scheduler=dask_scheduler, ship_engine=ship_engine,
                               progress=run.progress, is_canceled=run.is_canceled)
    run.done({"output": output, "name": definition.name, "expression": definition.text},
             f"Computed {definition.text} into {output}")


def _bands(text: str | None) -> list[int] | None:
    """Band numbers from "1, 3,5" (None: all bands)."""
    if text is None or not text.strip():
        return None
    try:
        return [int(part) for part in text.replace(";", ",").split(",") if part.strip()]
    except ValueError as exc:
        raise CoregInputError(f"--bands must be band numbers separated by commas (e.g. 1,3), "
                              f"not '{text}'.") from exc


@cli.command("rectify-swath", short_help="Put swath data on a regular grid.")
@click.argument("source")
@click.option("-o", "--output", required=True, help="Rectified raster (GeoTIFF).")
@click.option("--bands", help="Bands to rectify, comma-separated (default: all).")
@click.option("--x-coords", metavar="PATH",
              help="X / longitude of every pixel centre (default: the input's geolocation).")
@click.option("--y-coords", metavar="PATH",
              help="Y / latitude of every pixel centre (default: the input's geolocation).")
@_band("--x-band", "Band of the x coordinates.")
@_band("--y-band", "Band of the y coordinates.")
@click.option("--source-crs", default="EPSG:4326", show_default=True,
              help="CRS of the coordinates.")
@click.option("--target-crs", help="CRS of the grid (default: automatic; polar "
                                   "stereographic near a pole, UTM across the antimeridian).")
@click.option("--pixel-size", type=click.FloatRange(min=0.0), default=0.0, show_default=True,
              help="Target pixel size in target CRS units (0: the median source spacing).")
@click.option("--extent", type=float, nargs=4, metavar="XMIN XMAX YMIN YMAX",
              help="Extent in the target CRS (default: the swath footprint).")
@_choice("--interpolation", INTERPOLATIONS, "How the bands are sampled.")
@click.option("--prefilter", is_flag=True,
              help="Gaussian low-pass when the target pixel is coarser than the source's.")
@click.option("--lookup", "lookup_output", metavar="PATH",
              help="Write the lookup images (source column, row) there.")
@click.option("--cog", is_flag=True, help="Write Cloud-Optimized GeoTIFFs.")
@dask_options("strips of target rows")
@run_options
def rectify_swath_command(source, output, bands, x_coords, y_coords, x_band, y_band,
                          source_crs, target_crs, pixel_size, extent, interpolation, prefilter,
                          lookup_output, cog, dask_scheduler, ship_engine, quiet, as_json):
    """Rectify SOURCE, swath data with per-pixel coordinates (a file or a subdataset such
    as NETCDF:"f.nc":var), onto a regular grid."""
    from .core.swath.swath import rectify_swath

    if bool(x_coords) != bool(y_coords):
        raise CoregInputError("Give both --x-coords and --y-coords, or neither (then the "
                              "input's own geolocation is used).")
    run = Run("rectify-swath", quiet, as_json)
    with run.guarded({"Output": output, "Lookup output": lookup_output},
                     {"Input": source, "X coordinates": x_coords, "Y coordinates": y_coords}):
        result = rectify_swath(
            source, output, x_coords=x_coords, y_coords=y_coords, x_band=x_band,
            y_band=y_band, bands=_bands(bands), source_crs=source_crs, target_crs=target_crs,
            pixel_size=pixel_size, extent=tuple(extent) if extent else None,
            interpolation=interpolation, prefilter=prefilter, lookup_output=lookup_output,
            cog=cog, dask_scheduler=dask_scheduler, ship_engine=ship_engine,
            progress=run.progress, is_canceled=run.is_canceled)
    for note in result.notes:
        run.info(note)
    grid = result.grid
    run.done({"output": output, "lookup_output": lookup_output,
              "grid": {"crs": grid.crs.to_string(), "transform": list(grid.transform)[:6],
                       "width": grid.width, "height": grid.height},
              "painted_pixels": result.painted_pixels, "source_spacing": result.source_spacing,
              "notes": list(result.notes), "warnings": list(result.warnings)},
             f"{result.painted_pixels} target pixels inside the swath, written to {output}",
             result.warnings)


# -------------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line (``argv`` default: ``sys.argv[1:]``); return the exit status.

    SIGTERM, SIGHUP and Ctrl+C stop a run cleanly (:func:`.core.io.outputs.terminate_cleanly`):
    temporaries are removed, Ctrl+C exits with 130 and the other signals end the process
    as they would have.
    """
    try:
        from .core.io.outputs import stopped_by, terminate_cleanly
        from .core.resources import reuse_freed_memory
    except ImportError as exc:  # numpy, rasterio, ... missing: say so, not a traceback
        _error(f"{exc}. Coreg needs numpy, scipy, rasterio and pyproj "
               "(pip install numpy scipy rasterio pyproj).")
        return 1
    reuse_freed_memory()  # this process is the engine's own
    _STOP.clear()
    try:
        with terminate_cleanly(_STOP.set) as signals:
            try:
                status = cli.main(args=list(argv) if argv is not None else None,
                                  prog_name="coreg", standalone_mode=False)
            except CoregError as exc:  # reported before a signal ends the process
                stopped = isinstance(exc, CanceledError) and signals
                _error(stopped_by(signals[0]) if stopped else exc)
                return exc.exit_code
        return status if isinstance(status, int) else 0
    except click.exceptions.Abort:  # Ctrl+C outside a run (click's name for it)
        _error("interrupted.")
        return 130
    except KeyboardInterrupt:
        _error("interrupted.")
        return 130
    except click.ClickException as exc:  # a command line click cannot parse
        exc.show()
        return exc.exit_code
    except MemoryError:
        _error("Not enough memory for this run; use a smaller area or a coarser resolution.")
        return CoregResourceError.exit_code
    except ValueError as exc:  # the engine's older messages, as the plugin reports them
        _error(exc)
        return CoregInputError.exit_code
