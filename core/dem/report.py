"""The HTML report of a DEM alignment, as a glaciologist reads it: maps of the elevation
difference dh = reference - DEM before and after, their histograms on stable terrain,
NMAD by slope class (the error grows with slope: a fit that only helps flat ground shows
here), the fitted terms with their uncertainty, and the warnings.

The figures are computed by strips at full resolution (a systematic sample of at most
:data:`SAMPLE_PIXELS` pixels for the statistics, block means for the maps), so a DEM of
any size is surveyed in bounded memory. The page is one self-contained file: the maps
are PNGs and the histograms SVG, embedded.
"""

from __future__ import annotations

import base64
import html
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import rasterio
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile
from rasterio.windows import Window

from ..io.masks import PolygonMask, masked_on_grid
from ..io.outputs import atomic_path
from ..io.raster_io import BLOCK, read_info, read_on_grid
from ..report_html import esc, page
from .samples import metres_per_unit_at
from .terrain import gradient, nmad

#: Pixels the statistics sample at most (every k-th row and column).
SAMPLE_PIXELS = 2_000_000
#: Width of each dh map, pixels at most (block means of the DEM's pixels).
MAP_WIDTH = 480
#: Slope classes of the NMAD table, degrees.
SLOPE_CLASSES = (0, 5, 10, 20, 30, 40, 90)
#: The colour ramp of the dh maps, blue (reference higher: DEM too low) to red.
RAMP = np.array([[33, 102, 172], [103, 169, 207], [209, 229, 240], [247, 247, 247],
                 [253, 219, 199], [239, 138, 98], [178, 24, 43]], float)


@dataclass(frozen=True)
class DhSurvey:
    """dh before and after on the output grid: block-mean maps, and the stable sample's
    values with the reference's slope (degrees) at the same pixels."""

    before_map: np.ndarray
    after_map: np.ndarray
    before: np.ndarray
    after: np.ndarray
    slope: np.ndarray
    sampled_every: int


def survey(reference: str | os.PathLike, dem: str | os.PathLike, aligned: str | os.PathLike,
           exclude: Sequence[str | os.PathLike | PolygonMask] = ()) -> DhSurvey:
    """Read the three DEMs on the aligned DEM's grid by strips and gather the figures."""
    grid = read_info(aligned).grid
    step = max(1, math.ceil(math.sqrt(grid.width * grid.height / SAMPLE_PIXELS)))
    factor = max(1, math.ceil(max(grid.width, grid.height) / MAP_WIDTH))
    rows = factor * max(1, BLOCK // factor)
    mpu = metres_per_unit_at(grid, Window(0, 0, grid.width, grid.height))
    maps: tuple[list, list] = ([], [])
    samples: tuple[list, list, list] = ([], [], [])
    with rasterio.open(reference) as ref_ds, rasterio.open(dem) as dem_ds, \
            rasterio.open(aligned) as out_ds:
        for row in range(0, grid.height, rows):
            height = min(rows, grid.height - row)
            top, bottom = max(row - 1, 0), min(row + height + 1, grid.height)
            halo = grid.subgrid(top, 0, bottom - top, grid.width)
            ref_halo = read_on_grid(ref_ds, 1, halo, nodata=ref_ds.nodata)
            inner = slice(row - top, row - top + height)
            strip = grid.subgrid(row, 0, height, grid.width)
            ref = ref_halo[inner]
            before = ref - read_on_grid(dem_ds, 1, strip, nodata=dem_ds.nodata)
            after = ref - read_on_grid(out_ds, 1, strip, nodata=out_ds.nodata)
            slope = _slope(ref_halo, grid.res, mpu)[inner]
            for kept, values in zip(maps, (before, after)):
                kept.append(_block_means(values, factor))
            stable = ~masked_on_grid(exclude, strip) if exclude else np.ones(before.shape, bool)
            picked = np.zeros(before.shape, bool)
            picked[(row + np.arange(height)) % step == 0, ::step] = True
            picked &= stable & np.isfinite(before) & np.isfinite(after) & np.isfinite(slope)
            for kept, values in zip(samples, (before, after, slope)):
                kept.append(values[picked])
    return DhSurvey(np.vstack(maps[0]), np.vstack(maps[1]),
                    *(np.concatenate(values) for values in samples), sampled_every=step)


def _slope(elevation: np.ndarray, res: tuple[float, float], mpu: np.ndarray) -> np.ndarray:
    """Slope in degrees (Horn), NaN on the border it cannot be computed on."""
    slope = np.full(elevation.shape, np.nan, np.float32)
    if min(elevation.shape) >= 3:
        dzdx, dzdy = gradient(elevation, res[0] * mpu[0], res[1] * mpu[1])
        slope[1:-1, 1:-1] = np.degrees(np.arctan(np.hypot(dzdx, dzdy)))
    return slope


def _block_means(values: np.ndarray, factor: int) -> np.ndarray:
    """Means of factor x factor blocks, ignoring NaN (NaN where a block has no data)."""
    height, width = values.shape
    pad = (-height % factor, -width % factor)
    padded = np.pad(values, ((0, pad[0]), (0, pad[1])), constant_values=np.nan)
    blocks = padded.reshape(padded.shape[0] // factor, factor, padded.shape[1] // factor, factor)
    finite = np.isfinite(blocks)
    count = finite.sum(axis=(1, 3))
    total = np.where(finite, blocks, 0).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan).astype(np.float32)


def slope_table(figures: DhSurvey) -> list[dict]:
    """NMAD and median of dh before and after in each slope class of the stable sample."""
    rows = []
    for low, high in zip(SLOPE_CLASSES[:-1], SLOPE_CLASSES[1:]):
        inside = (figures.slope >= low) & (figures.slope < high)
        rows.append({"slope": f"{low}-{high}°" if high < 90 else f"≥ {low}°",
                     "pixels": int(inside.sum()),
                     "nmad_before": nmad(figures.before[inside]),
                     "nmad_after": nmad(figures.after[inside]),
                     "median_before": _median(figures.before[inside]),
                     "median_after": _median(figures.after[inside])})
    return rows


def _median(values: np.ndarray) -> float:
    return float(np.median(values)) if values.size else float("nan")


def colour_limit(figures: DhSurvey) -> float:
    """The symmetric colour range of both maps: the 98th percentile of |dh| before."""
    values = np.abs(figures.before)
    limit = float(np.percentile(values, 98)) if values.size else 1.0
    return limit if limit > 0 else 1.0


def dh_png(values: np.ndarray, limit: float) -> bytes:
    """``values`` coloured on :data:`RAMP` from -limit to +limit as an RGBA PNG
    (transparent where there is no data)."""
    scaled = np.clip((np.nan_to_num(values) / limit + 1) / 2, 0, 1) * (len(RAMP) - 1)
    low = np.floor(scaled).astype(int).clip(0, len(RAMP) - 2)
    weight = (scaled - low)[..., None]
    rgb = RAMP[low] * (1 - weight) + RAMP[low + 1] * weight
    alpha = np.where(np.isfinite(values), 255, 0)
    pixels = np.dstack([rgb, alpha]).round().astype(np.uint8).transpose(2, 0, 1)
    with MemoryFile() as memory, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a picture, not a map
        with memory.open(driver="PNG", width=values.shape[1], height=values.shape[0],
                         count=4, dtype="uint8") as png:
            png.write(pixels)
        return memory.read()


def histogram_svg(figures: DhSurvey, limit: float, width: int = 640, height: int = 220) -> str:
    """The stable sample's dh before (grey) and after (blue) as two outlines, share of
    pixels per bin, over ±limit."""
    edges = np.linspace(-limit, limit, 61)
    counts = [np.histogram(v, edges)[0] / max(v.size, 1) for v in (figures.before, figures.after)]
    top = max(max(c.max() for c in counts), 1e-9)
    left, bottom = 40, height - 30

    def x(value: float) -> float:
        return left + (value - edges[0]) / (edges[-1] - edges[0]) * (width - left - 10)

    def outline(share: np.ndarray) -> str:
        points = []
        for k, value in enumerate(share):
            y = bottom - value / top * (bottom - 10)
            points += [f"{x(edges[k]):.1f},{y:.1f}", f"{x(edges[k + 1]):.1f},{y:.1f}"]
        return " ".join(points)

    ticks = "".join(f"<line x1='{x(t):.1f}' y1='{bottom}' x2='{x(t):.1f}' y2='{bottom + 4}' "
                    f"stroke='#444'/><text x='{x(t):.1f}' y='{bottom + 16}' font-size='11' "
                    f"text-anchor='middle'>{t:g}</text>"
                    for t in _ticks(edges[0], edges[-1]))
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            f"role='img' aria-label='histograms of dh'>"
            f"<line x1='{left}' y1='{bottom}' x2='{width - 10}' y2='{bottom}' stroke='#444'/>"
            f"<line x1='{x(0):.1f}' y1='10' x2='{x(0):.1f}' y2='{bottom}' stroke='#bbb' "
            f"stroke-dasharray='3,3'/>{ticks}"
            f"<polyline fill='none' stroke='#888' stroke-width='1.5' "
            f"points='{outline(counts[0])}'/>"
            f"<polyline fill='none' stroke='#2166ac' stroke-width='2' "
            f"points='{outline(counts[1])}'/>"
            f"<text x='{width - 12}' y='{bottom + 28}' font-size='11' text-anchor='end'>"
            "dh (m)</text></svg>")


def _ticks(low: float, high: float) -> list[float]:
    spacing = 10 ** math.floor(math.log10((high - low) / 4))
    for multiple in (1, 2, 5, 10):
        if (high - low) / (spacing * multiple) <= 8:
            spacing *= multiple
            break
    return [k * spacing for k in range(math.ceil(low / spacing), math.floor(high / spacing) + 1)]


def _number(value, digits: int = 3) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return esc(value)
    return "–" if not math.isfinite(value) else f"{value:.{digits}f}"


def _significant(value: float) -> str:
    """Five significant digits: shifts in degrees and in metres alike."""
    return f"{value:.5g}" if math.isfinite(value) else "–"


def terms_rows(report: dict) -> list[tuple[str, str, str]]:
    """(term, value, 95 % half-width) of the fitted terms; the half-width is empty
    without a bootstrap."""
    interval = (report.get("uncertainty") or {}).get("interval_95", {})
    rows = [(label, _significant(report[key]),
             _significant(interval[key]) if key in interval else "")
            for key, label in (("shift_x", "shift x (east, map units)"),
                               ("shift_y", "shift y (north, map units)"),
                               ("shift_z", "shift z (up, m)"),
                               ("rotation_deg", "rotation (degrees)"))
            if isinstance(report.get(key), (int, float))
            and (key != "rotation_deg" or report[key] or key in interval)]
    for correction in report.get("corrections") or ():
        terms = ", ".join(f"{k} {_number(v, 4) if isinstance(v, float) else esc(v)}"
                          for k, v in correction.items() if k != "step"
                          and not isinstance(v, (list, dict)))
        rows.append((f"correction: {esc(correction.get('step', '?'))}", terms, ""))
    return rows


def dem_section(report: dict, figures: DhSurvey | None) -> str:
    """The DEM part of a report page: terms, statistics and, from ``figures`` (None for
    a point reference, which has no dh map), maps, histograms and the slope table."""
    parts = ["<h2>Fitted terms</h2><table><tr><th>term</th><th>value</th>"
             "<th>± 95 %</th></tr>"]
    parts += [f"<tr><td>{label}</td><td class='num'>{value}</td><td class='num'>{half}</td>"
              "</tr>" for label, value, half in terms_rows(report)]
    parts.append("</table>")
    stats = [("NMAD of dh on stable terrain (m)", "nmad_before", "nmad_after"),
             ("median of dh on stable terrain (m)", "median_before", "median_after")]
    parts.append("<table><tr><th></th><th>before</th><th>after</th></tr>" + "".join(
        f"<tr><td>{label}</td><td class='num'>{_number(report.get(b))}</td>"
        f"<td class='num'>{_number(report.get(a))}</td></tr>" for label, b, a in stats)
        + f"</table><p class='meta'>Method {esc(report.get('pipeline') or report.get('method'))}"
        f", {report.get('iterations', '?')} iterations, "
        f"{'converged' if report.get('converged', True) else 'NOT converged'}, "
        f"{report.get('n_stable_pixels', '?')} stable pixels.</p>")
    parts += [f"<p class='warning'>{esc(w)}</p>" for w in report.get("warnings") or ()]
    if report.get("points"):  # reference points: what each selection kept and removed
        parts.append("<h2>Reference points</h2><table>" + "".join(
            f"<tr><td>{esc(key.replace('_', ' '))}</td><td class='num'>{count}</td></tr>"
            for key, count in report["points"].items()) + "</table>")
    if report.get("dh_uncertainty"):
        parts.append(dh_uncertainty_section(report["dh_uncertainty"]))
    if figures is None:
        return "".join(parts)
    limit = colour_limit(figures)
    maps = "".join(
        f"<figure><img alt='dh {when}' src='data:image/png;base64,"
        f"{base64.b64encode(dh_png(values, limit)).decode('ascii')}'><figcaption>dh {when}"
        "</figcaption></figure>"
        for when, values in (("before", figures.before_map), ("after", figures.after_map)))
    parts.append(
        "<h2>Elevation difference (reference - DEM)</h2>"
        f"<div class='maps'>{maps}</div><p class='meta'>Colours from -{limit:.2f} m (blue: "
        f"the DEM lies below the reference) to +{limit:.2f} m (red), the same for both "
        "maps; excluded terrain is shown too.</p>"
        f"<figure>{histogram_svg(figures, limit)}<figcaption>dh on stable terrain: before "
        "(grey), after (blue).</figcaption></figure>")
    rows = slope_table(figures)
    parts.append(
        "<h2>NMAD by slope class</h2><table><tr><th>slope</th><th>pixels</th>"
        "<th>NMAD before (m)</th><th>NMAD after (m)</th><th>median before (m)</th>"
        "<th>median after (m)</th></tr>" + "".join(
            f"<tr><td>{r['slope']}</td><td class='num'>{r['pixels']}</td>"
            + "".join(f"<td class='num'>{_number(r[k])}</td>" for k in
                      ("nmad_before", "nmad_after", "median_before", "median_after"))
            + "</tr>" for r in rows)
        + "</table><p class='meta'>Stable terrain, "
        + (f"one pixel in {figures.sampled_every} x {figures.sampled_every}"
           if figures.sampled_every > 1 else "every pixel")
        + "; slope of the reference.</p>")
    return "".join(parts)


def dh_uncertainty_section(uncertainty: dict) -> str:
    """The variogram of the standardised stable dh with its fitted model, and the
    standard error of the mean dh of each area (:mod:`.dh_uncertainty`)."""
    model = uncertainty.get("model") or {}
    structures = ", ".join(f"{s['model']} range {s['range']:.0f} m, sill {s['sill']:.3f}"
                           for s in model.get("structures", ()))
    parts = ["<h2>Uncertainty of elevation change</h2>",
             f"<p>{esc(uncertainty.get('method', ''))}. Fitted model: nugget "
             f"{_number(model.get('nugget'))}" + (f"; {esc(structures)}" if structures else "")
             + ".</p>"]
    empirical = uncertainty.get("variogram") or {}
    if empirical.get("lag"):
        parts.append(f"<figure>{variogram_svg(empirical, model)}<figcaption>Variogram of "
                     "the standardised dh on stable terrain (dots) and the fitted model "
                     "(line); lag in metres, logarithmic.</figcaption></figure>")
    areas = [a for a in uncertainty.get("areas") or () if "standard_error_mean_dh" in a]
    if areas:
        parts.append("<table><tr><th>area</th><th>km²</th><th>mean dh (m)</th>"
                     "<th>standard error (m)</th><th>if uncorrelated (m)</th>"
                     "<th>effective samples</th></tr>" + "".join(
                         f"<tr><td>{esc(a['name'])}</td>"
                         f"<td class='num'>{_number(a.get('area_m2', float('nan')) / 1e6)}</td>"
                         f"<td class='num'>{_number(a.get('mean_dh'))}</td>"
                         f"<td class='num'>{_number(a['standard_error_mean_dh'], 4)}</td>"
                         f"<td class='num'>{_number(a.get('standard_error_if_uncorrelated'), 4)}"
                         f"</td><td class='num'>{_number(a.get('n_effective'), 1)}</td></tr>"
                         for a in areas) + "</table>")
    return "".join(parts)


def variogram_svg(empirical: dict, model: dict, width: int = 640, height: int = 240) -> str:
    """Empirical semivariances as dots and the model as a line, lag on a log axis."""
    from .variogram import model_gamma

    lag, gamma = np.asarray(empirical["lag"], float), np.asarray(empirical["gamma"], float)
    keep = (lag > 0) & np.isfinite(gamma)
    lag, gamma = lag[keep], gamma[keep]
    curve_lag = np.geomspace(lag.min(), lag.max(), 80)
    curve = model_gamma(model, curve_lag) if model.get("structures") is not None else None
    top = max(gamma.max(), curve.max() if curve is not None else 0) * 1.1 or 1.0
    left, bottom, low, high = 50, height - 30, math.log10(lag.min()), math.log10(lag.max())

    def x(value: float) -> float:
        return left + (math.log10(value) - low) / max(high - low, 1e-9) * (width - left - 10)

    def y(value: float) -> float:
        return bottom - value / top * (bottom - 10)

    dots = "".join(f"<circle cx='{x(h):.1f}' cy='{y(g):.1f}' r='2.5' fill='#2166ac'/>"
                   for h, g in zip(lag, gamma))
    line = "" if curve is None else (
        "<polyline fill='none' stroke='#b2182b' stroke-width='1.5' points='"
        + " ".join(f"{x(h):.1f},{y(g):.1f}" for h, g in zip(curve_lag, curve)) + "'/>")
    ticks = "".join(f"<text x='{x(10.0 ** k):.1f}' y='{bottom + 16}' font-size='11' "
                    f"text-anchor='middle'>{10 ** k:g}</text>"
                    for k in range(math.ceil(low), math.floor(high) + 1))
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            "role='img' aria-label='variogram'>"
            f"<line x1='{left}' y1='{bottom}' x2='{width - 10}' y2='{bottom}' stroke='#444'/>"
            f"<line x1='{left}' y1='10' x2='{left}' y2='{bottom}' stroke='#444'/>"
            f"<text x='{left - 6}' y='{y(top / 1.1):.1f}' font-size='11' text-anchor='end'>"
            f"{top / 1.1:.2g}</text>{ticks}{dots}{line}"
            f"<text x='{width - 12}' y='{bottom + 28}' font-size='11' text-anchor='end'>"
            "lag (m)</text></svg>")


def write_dem_report(report: dict, output: str | os.PathLike, *,
                     reference: str | os.PathLike | object, dem: str | os.PathLike,
                     aligned: str | os.PathLike | None,
                     exclude: Sequence[str | os.PathLike | PolygonMask] = ()) -> None:
    """Write the page of a DEM alignment (``aligned`` None: a point reference, which
    has no dh map; the terms and statistics only)."""
    figures = None if aligned is None else survey(reference, dem, aligned, exclude)
    inputs = {"Reference": reference, "DEM": dem, "Aligned DEM": aligned}
    table = "".join(f"<tr><td>{k}</td><td>{esc(_name(v))}</td></tr>"
                    for k, v in inputs.items() if v is not None)
    document = page(f"Coreg DEM report: {html.escape(os.path.basename(os.fspath(dem)))}",
                    f"<table>{table}</table>" + dem_section(report, figures))
    with atomic_path(output) as tmp:
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(document)


def _name(source) -> str:
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else "points"
