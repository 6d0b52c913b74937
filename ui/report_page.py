"""The HTML report of a run, written beside its JSON report as ``<report>.html``: the
summary with what each figure means, the arrow map (a PNG rendered by QGIS) with its
legend, the residuals of every patch or tie point and, for stacks, one row per scene.

:func:`write_page` needs no QGIS (the figures, tables and HTML); :func:`write_for_run`
renders the map and legend of a run's layers and calls it.
"""

from __future__ import annotations

import base64
import csv
import math
from pathlib import Path

from ..core.report_html import esc, page
from .results import EXPLAIN, SIGN_CONVENTION, Ground, summary_entries

MAP_WIDTH = 900
MAX_TABLE_ROWS = 500


def page_path(report_path: str | Path) -> Path:
    """``<report>.html`` beside the JSON report (``out_report.json`` → ``out_report.html``)."""
    return Path(report_path).with_suffix(".html")




def _num(value, digits: int = 3, signed: bool = False) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        return ""
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _table(headers: list[str], rows: list[tuple[list[str], str]], numeric: set[int]) -> str:
    """``rows``: (cells, css class of the row); cells are escaped here."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for cells, css in rows:
        tds = "".join(f'<td class="num">{esc(c)}</td>' if k in numeric else f"<td>{esc(c)}</td>"
                      for k, c in enumerate(cells))
        body.append(f'<tr class="{css}">{tds}</tr>' if css else f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cut(rows: list, what: str) -> tuple[list, str]:
    if len(rows) <= MAX_TABLE_ROWS:
        return rows, ""
    return rows[:MAX_TABLE_ROWS], (f"<p class='meta'>The first {MAX_TABLE_ROWS} of {len(rows)} "
                                   f"{what} (all of them are in the JSON report).</p>")


def patch_residuals(report: dict, pixel_size: tuple[float, float] | None) -> list[dict]:
    """Each patch of a global report with its residual: its own shift minus the fitted
    model's displacement at the patch (map units, and pixels of ``pixel_size`` map units,
    x right, y down). Rejected patches without a measured shift have no residual."""
    theta = math.radians(report.get("rotation_deg") or 0.0)
    cx, cy = report.get("rotation_centre_x") or 0.0, report.get("rotation_centre_y") or 0.0
    tx, ty = report.get("shift_x_map") or 0.0, report.get("shift_y_map") or 0.0
    cos, sin = math.cos(theta), math.sin(theta)
    rows = []
    for patch in report.get("patches", []):
        row = dict(patch)
        measured = patch.get("used") or patch.get("reason", "").startswith(
            ("outlier", "beyond", "weak"))
        if measured and all(isinstance(patch.get(k), (int, float)) for k in ("x", "y", "dx_map",
                                                                              "dy_map")):
            sx, sy = patch["x"] - patch["dx_map"], patch["y"] - patch["dy_map"]
            mx = cos * (sx - cx) - sin * (sy - cy) + cx + tx - sx
            my = sin * (sx - cx) + cos * (sy - cy) + cy + ty - sy
            rx, ry = patch["dx_map"] - mx, patch["dy_map"] - my
            row["residual_x_map"], row["residual_y_map"] = rx, ry
            if pixel_size:
                row["residual_px"] = math.hypot(rx / pixel_size[0], ry / pixel_size[1])
        rows.append(row)
    return rows


def _summary_section(report: dict, ground: Ground | None) -> str:
    rows = []
    for label, text, meaning in summary_entries(report, ground):
        if label == "Warning":
            continue
        explain = EXPLAIN.get(meaning, "").replace(SIGN_CONVENTION, "Sign: see below.")
        rows.append(f"<tr><td>{esc(label)}</td><td class='num'>{esc(text)}</td>"
                    f"<td class='explain'>{esc(explain)}</td></tr>")
    warnings = "".join(f"<p class='warning'>{esc(w)}</p>" for w in report.get("warnings", []))
    return (f"<h2>Summary</h2><table class='summary'>{''.join(rows)}</table>"
            f"<p><b>Sign convention.</b> {esc(SIGN_CONVENTION)}</p>{warnings}")


def _map_section(map_png: str | None, legend: list[tuple[str, str]], arrow_scale) -> str:
    if not map_png:
        return ""
    items = "".join(f"<span><img src='{uri}' alt='' width='40' height='20'>{esc(label)}</span>"
                    for label, uri in legend)
    scale = f" ×{arrow_scale:g}" if isinstance(arrow_scale, (int, float)) else ""
    return (f"<h2>Arrow map</h2><figure><img src='{esc(map_png)}' alt='Shift vectors over "
            f"the reference'><figcaption class='meta'>Each arrow is a matched patch, drawn "
            f"from where its content was in the secondary to where it goes, {scale.strip() or ''}"
            f" exaggerated; colour = reliability. Rejected patches are points: their shape "
            f"says why.</figcaption></figure><div class='legend'>{items}</div>")


def _residuals_section(report: dict, pixel_size) -> str:
    if report.get("patches"):
        rows = patch_residuals(report, pixel_size)
        rows.sort(key=lambda r: (not r.get("used"), -(r.get("residual_px") or 0.0)))
        rows, note = _cut(rows, "patches")
        unit = "px" if pixel_size else "map units"
        table = _table(
            ["x", "y", "shift x (px)", "shift y (px)", f"residual ({unit})", "reliability (%)",
             "status"],
            [([_num(r.get("x"), 6), _num(r.get("y"), 6), _num(r.get("dx_px"), 3, True),
               _num(r.get("dy_px"), 3, True),
               _num(r.get("residual_px") if pixel_size else
                    math.hypot(r["residual_x_map"], r["residual_y_map"])
                    if "residual_x_map" in r else None, 3),
               _num(r.get("reliability"), 0),
               "used" if r.get("used") else "rejected: " + str(r.get("reason", ""))],
              "" if r.get("used") else "rejected") for r in rows], {0, 1, 2, 3, 4, 5})
        return ("<h2>Residuals</h2><p class='meta'>One row per patch, used ones first, largest "
                "residual first. The residual is the patch's own shift minus the fitted "
                "shift at the patch (reference pixels): what the model does not explain."
                f"</p>{table}{note}")
    if report.get("points"):
        rows, note = _cut(sorted(report["points"], key=lambda r: bool(r.get("reason"))),
                          "tie points")
        table = _table(
            ["x", "y", "dx (px)", "dy (px)", "residual dx", "residual dy", "reliability (%)",
             "score before → after", "status"],
            [([_num(r.get("x"), 6), _num(r.get("y"), 6), _num(r.get("dx"), 3, True),
               _num(r.get("dy"), 3, True), _num(r.get("residual_dx"), 3, True),
               _num(r.get("residual_dy"), 3, True), _num(r.get("reliability"), 0),
               f"{_num(r.get('score_before'))} → {_num(r.get('score_after'))}",
               "rejected: " + r["reason"] if r.get("reason") else "used"],
              "rejected" if r.get("reason") else "") for r in rows], {0, 1, 2, 3, 4, 5, 6})
        return ("<h2>Tie points</h2><p class='meta'>Shift of each tie point (reference pixels) "
                f"and what is left of it after alignment.</p>{table}{note}")
    return ""


STACK_COLUMNS = (("scene", "input"), ("status", "status"), ("shift x (px)", "pixel_shift_x"),
                 ("shift y (px)", "pixel_shift_y"), ("rotation (°)", "rotation_deg"),
                 ("score before", "matching_score_before"),
                 ("score after", "matching_score_after"), ("reason", "reason"))


def _float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _stack_section(report: dict) -> str:
    scenes = report.get("scenes") or []
    if not scenes:
        return ""
    rows = []
    for scene in scenes:
        cells = []
        for _title, key in STACK_COLUMNS:
            value = _float(scene.get(key, ""))
            cells.append(Path(str(value)).name if key == "input" else
                         _num(value, 4 if key == "rotation_deg" else 3,
                              key.startswith("pixel")) if isinstance(value, float) else
                         str(value or ""))
        rows.append((cells, "" if scene.get("status") in ("aligned", "ok", "anchor", "passed")
                     else "rejected"))
    return ("<h2>Scenes</h2><p class='meta'>One row per scene of the stack.</p>"
            + _table([title for title, _key in STACK_COLUMNS], rows, {2, 3, 4, 5, 6}))


def stack_report(summary_csv: str | Path) -> dict:
    """A report for :func:`write_page` from a stack's summary CSV (one row per scene)."""
    with open(summary_csv, encoding="utf-8", newline="") as handle:
        return {"kind": "coreg.align_stack", "scenes": list(csv.DictReader(handle))}


def write_page(report: dict, path: str | Path, *, title: str = "Coreg report",
               inputs: dict[str, str] | None = None, ground: Ground | None = None,
               map_png: str | None = None, legend: list[tuple[str, str]] | None = None,
               pixel_size: tuple[float, float] | None = None, arrow_scale=None,
               sections: tuple[str, ...] = ()) -> Path:
    """Write the HTML page of ``report`` to ``path``; ``map_png`` is relative to it;
    ``sections`` (HTML) follow the summary (e.g. a DEM's figures)."""
    path = Path(path)
    files = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>"
                    for k, v in (inputs or {}).items() if v)
    body = [f"<table>{files}</table>" if files else "",
            _summary_section(report, ground) if not report.get("scenes") else "",
            *sections, _stack_section(report), _map_section(map_png, legend or [], arrow_scale),
            _residuals_section(report, pixel_size)]
    meta = f"report kind {report['kind']}" if report.get("kind") else ""
    path.write_text(page(title, "".join(body), meta), encoding="utf-8")
    return path


# ---------------------------------------------------------------------- with QGIS


def render_map(layers: list, crs, extent, path: str | Path, width: int = MAP_WIDTH,
               project=None) -> Path:
    """``layers`` (top first) over ``extent``, as the canvas draws them (with the
    project's variables, e.g. the arrow scale), into a PNG ``width`` pixels wide."""
    from qgis.core import (
        QgsExpressionContext,
        QgsExpressionContextUtils,
        QgsMapRendererParallelJob,
        QgsMapSettings,
        QgsProject,
    )
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    height = max(1, round(width * extent.height() / extent.width())) if extent.width() else width
    settings = QgsMapSettings()
    settings.setLayers(layers)
    settings.setDestinationCrs(crs)
    settings.setExtent(extent)
    settings.setOutputSize(QSize(width, min(height, 2 * width)))
    settings.setBackgroundColor(QColor("white"))
    context = QgsExpressionContext()
    context.appendScopes([QgsExpressionContextUtils.globalScope(),
                          QgsExpressionContextUtils.projectScope(project or
                                                                 QgsProject.instance())])
    settings.setExpressionContext(context)
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    if not job.renderedImage().save(str(path)):
        raise OSError(f"could not write {path}")
    return Path(path)


def legend_entries(layer) -> list[tuple[str, str]]:
    """(label, PNG data URI of the symbol) of every legend entry of ``layer``'s renderer
    that has a symbol (the classes, not the group headings)."""
    from qgis.core import QgsSymbolLayerUtils
    from qgis.PyQt.QtCore import QBuffer, QByteArray, QIODevice, QSize

    entries = []
    for item in layer.renderer().legendSymbolItems():
        symbol = item.symbol()
        if symbol is None:
            continue
        generator = symbol.symbolLayer(0)
        if generator.layerType() == "GeometryGenerator" and generator.subSymbol() is not None:
            symbol = generator.subSymbol()  # its preview: the arrow or marker itself
        image = QgsSymbolLayerUtils.symbolPreviewPixmap(symbol, QSize(40, 20), 2).toImage()
        data = QByteArray()
        buffer = QBuffer(data)
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        buffer.close()
        encoded = base64.b64encode(bytes(data)).decode("ascii")
        entries.append((item.label(), f"data:image/png;base64,{encoded}"))
    return entries


def write_for_run(report: dict, report_path: str, reference, secondary, vector_layers: list,
                  project) -> str:
    """The page of one run of the panel: the arrow map over the reference (within the
    overlap the alignment was measured on), rendered beside the report as
    ``<report>_map.png``; returns the page's path."""
    from qgis.core import QgsRectangle

    from .results import arrow_scale, ground_shift

    page = page_path(report_path)
    map_png = None
    if reference is not None and vector_layers:
        bounds = report.get("alignment_bounds")
        extent = QgsRectangle(*bounds) if isinstance(bounds, list) and len(bounds) == 4 \
            else reference.extent()
        png = page.with_name(page.stem + "_map.png")
        render_map([*vector_layers, reference], reference.crs(), extent, png, project=project)
        map_png = png.name
    pixel_size = None
    if reference is not None and reference.rasterUnitsPerPixelX() > 0:
        pixel_size = (reference.rasterUnitsPerPixelX(), reference.rasterUnitsPerPixelY())
    legend = [entry for layer in vector_layers for entry in legend_entries(layer)]
    names = (reference.name() if reference else "?", secondary.name() if secondary else "?")
    return str(write_page(
        report, page, title=f"Coreg report: {names[1]} onto {names[0]}",
        inputs={"Reference": reference.source() if reference else "",
                "Secondary": secondary.source() if secondary else "",
                "Report (JSON)": str(report_path)},
        ground=ground_shift(report, project.transformContext()), map_png=map_png,
        legend=legend, pixel_size=pixel_size, arrow_scale=arrow_scale(project)))
