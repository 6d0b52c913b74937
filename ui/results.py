"""What the dialog shows after a run: loaded layers, the report summary, arrow scale and
the before/after comparison."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass

from qgis.core import (
    QgsExpressionContextUtils,
    QgsMapLayer,
    QgsProcessingContext,
    QgsProcessingFeedback,
    QgsProcessingUtils,
    QgsProject,
    QgsRasterLayer,
)

#: Project variable read by resources/shift_vectors.qml: arrow length = shift x this factor.
ARROW_SCALE_VARIABLE = "coreg_arrow_scale"
DEFAULT_ARROW_SCALE = 20.0


def _signed(unit: str, digits: int) -> Callable[[float], str]:
    return lambda value: f"{value:+.{digits}f}{unit}"


def _plain(unit: str, digits: int) -> Callable[[float], str]:
    return lambda value: f"{value:.{digits}f}{unit}"


#: What the figures mean (tooltips of the summary, explanations of the HTML report).
SIGN_CONVENTION = (
    "The translation applied to the secondary to put it on the reference. x: to the right "
    "(east), y: down in pixels, north in metres and map units. A secondary whose content "
    "lies 10 m east of where the reference has it reports -10 m east: the arrows point "
    "from where a patch's content was in the secondary to where it goes.")
EXPLAIN = {
    "shift_px": "Shift in pixels of the secondary (x right, y down). " + SIGN_CONVENTION,
    "shift_ground": "The same shift on the ground, in metres east and north, measured "
                    "geodesically on the ellipsoid at the centre of the overlap. "
                    + SIGN_CONVENTION,
    "shift_map": "The same shift in map units of the reference CRS (x east, y north), as "
                 "the report's shift_x_map, shift_y_map. " + SIGN_CONVENTION,
    "shift_length": "Length of the shift: in secondary pixels and on the ground.",
    "rotation": "Rotation applied to the secondary, counter-clockwise positive, about the "
                "centre of the overlap (0 with the translation-only model).",
    "uncertainty": "1-sigma uncertainty of the fitted translation (x and y combined), in "
                   "secondary pixels, from the weighted residuals of the patches used: "
                   "the true shift is within about twice this of the one shown.",
    "reliability": "0-100 %: each matched patch scores how high and sharp its phase-"
                   "correlation peak is (0 % at noise level, 100 % for a clear match); "
                   "this is the mean over all measurable patches, rejected ones counting 0. "
                   "Below about 50 %, check the arrows: few patches agree.",
    "patches": "Patches whose shift entered the fit / patches laid over the overlap "
               "(the others: no data, low texture, weak peak, outlier or beyond MAX_SHIFT).",
    "tie_points": "Tie points kept after the outlier tests / tie points measured.",
    "rms": "Root mean square of the tie-point shifts before and after alignment (pixels): "
           "what is left to correct.",
    "score": "Matching score 0-1 of the secondary against the reference on the matched "
             "patches, before (as delivered) and after alignment: the mean of (1 - NRMSE) "
             "and SSIM of the standardised images; 1 = identical. It should rise.",
    "nmad": "Normalised median absolute deviation of the elevation differences on stable "
            "terrain, before and after alignment (metres): lower is better.",
    "shift_xyz": "Shift applied to the DEM: x east, y north (map units), z up (elevation "
                 "units).",
    "model_terms": "Transform model scale or affine: the fitted scale factor (above 1: the "
                   "secondary's georeferenced pixels are smaller than its true ones) and, for "
                   "the affine model, the scale along x and y and the shear (map coordinates), "
                   "each ± its standard error.",
}

def _map_value(value: float) -> str:
    """4 significant digits; small values (degrees) in scientific notation."""
    return f"{value:+.4g}" if value == 0 or abs(value) >= 1e-3 else f"{value:+.3e}"


#: Summary rows: (label, report keys, format of each value, separator, meaning). A row
#: is shown when the report has all its keys (each method reports its own figures).
_ARROW = " → "
SUMMARY_ROWS = (
    ("Shift x, y", ("shift_x_px", "shift_y_px"), _signed(" px", 3), ", ", "shift_px"),
    ("Shift (map units)", ("shift_x_map", "shift_y_map"), lambda v: _map_value(v), ", ",
     "shift_map"),
    ("Shift x, y, z", ("shift_x", "shift_y", "shift_z"), _signed("", 3), ", ", "shift_xyz"),
    ("Rotation", ("rotation_deg",), _signed("°", 4), "", "rotation"),
    ("Uncertainty", ("shift_uncertainty_px",), _plain(" px", 3), "", "uncertainty"),
    ("Reliability", ("reliability",), _plain(" %", 1), "", "reliability"),
    ("Patches used", ("n_patches_used", "n_patches"), str, " / ", "patches"),
    ("Tie points kept", ("n_kept", "n_points"), str, " / ", "tie_points"),
    ("RMS shift before → after", ("rms_shift_before_px", "rms_shift_after_px"),
     _plain(" px", 3), _ARROW, "rms"),
    ("Score before → after", ("matching_score_before", "matching_score_after"),
     _plain("", 3), _ARROW, "score"),
    ("NMAD before → after", ("nmad_before", "nmad_after"), _plain("", 3), _ARROW, "nmad"),
)
GROUND_LABEL, LENGTH_LABEL = "Shift east, north", "Shift length"
TERMS_LABEL = "Scale, shear"


@dataclass(frozen=True)
class Ground:
    """The map shift on the ground: metres east and north, and the map units' name."""

    east_m: float | None
    north_m: float | None
    units: str  # e.g. "degrees", "meters"
    crs: str  # e.g. "EPSG:4326"
    geodesic: bool


def _numbers(report: dict, keys) -> bool:
    return all(isinstance(report.get(key), (int, float)) and not isinstance(report.get(key),
                                                                             bool)
               for key in keys)


def ground_shift(report: dict, transform_context=None) -> Ground | None:
    """Metres east and north of the report's map shift (``shift_x_map``, ``shift_y_map``
    in ``map_units_crs``): geodesic on the CRS's ellipsoid at the rotation centre (the
    centre of the overlap), else by the map units' factor. None without a usable CRS."""
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsCoordinateTransformContext,
        QgsDistanceArea,
        QgsPointXY,
        QgsUnitTypes,
    )

    if not _numbers(report, ("shift_x_map", "shift_y_map")) or not report.get("map_units_crs"):
        return None
    crs = QgsCoordinateReferenceSystem()
    crs.createFromUserInput(str(report["map_units_crs"]))
    if not crs.isValid():
        return None
    units = QgsUnitTypes.toString(crs.mapUnits())
    dx, dy = report["shift_x_map"], report["shift_y_map"]
    centre = _centre(report)
    distance = QgsDistanceArea()
    distance.setSourceCrs(crs, transform_context or QgsCoordinateTransformContext())
    if centre is not None and distance.setEllipsoid(crs.ellipsoidAcronym() or "EPSG:7030") \
            and distance.willUseEllipsoid():
        cx, cy = centre

        def measure(x0, y0, x1, y1, signed):
            length = distance.convertLengthMeasurement(
                distance.measureLine(QgsPointXY(x0, y0), QgsPointXY(x1, y1)),
                QgsUnitTypes.DistanceMeters)
            return math.copysign(length, signed)

        return Ground(measure(cx - dx / 2, cy, cx + dx / 2, cy, dx),
                      measure(cx, cy - dy / 2, cx, cy + dy / 2, dy), units, crs.authid(), True)
    factor = QgsUnitTypes.fromUnitToUnitFactor(crs.mapUnits(), QgsUnitTypes.DistanceMeters)
    if crs.mapUnits() == QgsUnitTypes.DistanceUnknownUnit or crs.isGeographic():
        return Ground(None, None, units, crs.authid(), False)
    return Ground(dx * factor, dy * factor, units, crs.authid(), False)


def _centre(report: dict) -> tuple[float, float] | None:
    if _numbers(report, ("rotation_centre_x", "rotation_centre_y")):
        return report["rotation_centre_x"], report["rotation_centre_y"]
    bounds = report.get("alignment_bounds")
    if isinstance(bounds, list) and len(bounds) == 4:
        return (bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2
    return None


def _metres(value: float) -> str:
    return f"{value:+.2f} m" if abs(value) < 1000 else f"{value / 1000:+.3f} km"


def summary_rows(report: dict, ground: Ground | None = None) -> list[tuple[str, str]]:
    """(label, text) of the report's figures the summary panel shows; ``ground`` (see
    :func:`ground_shift`) adds the shift in metres and names the map units."""
    return [(label, text) for label, text, _key in summary_entries(report, ground)]


def summary_entries(report: dict, ground: Ground | None = None) -> list[tuple[str, str, str]]:
    """(label, text, key of :data:`EXPLAIN`) of every figure to show."""
    rows = []
    for label, keys, fmt, separator, meaning in SUMMARY_ROWS:
        if not _numbers(report, keys):
            continue
        text = separator.join(fmt(report[key]) for key in keys)
        if meaning == "shift_map" and ground is not None:
            text += f" {ground.units} ({ground.crs})" if ground.crs else f" {ground.units}"
        rows.append((label, text, meaning))
        if meaning == "shift_px" and ground is not None and ground.east_m is not None:
            rows.append((GROUND_LABEL, f"{_metres(ground.east_m)}, {_metres(ground.north_m)}"
                         + (" (geodesic)" if ground.geodesic else ""), "shift_ground"))
            length = math.hypot(report["shift_x_px"], report["shift_y_px"])
            metres = math.hypot(ground.east_m, ground.north_m)
            rows.append((LENGTH_LABEL, f"{length:.3f} px = {metres:.2f} m", "shift_length"))
    if isinstance(report.get("model_terms"), dict):
        from ..core.matching.linear_model import terms_text  # scipy: on use

        rows.append((TERMS_LABEL, terms_text(report["model_terms"]).removeprefix(", "),
                     "model_terms"))
    return rows + [("Warning", text, "") for text in report.get("warnings", [])]


def read_report(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@dataclass
class RunLayers:
    """The ids of the layers one run added (by output key) and of the inputs compared.

    Ids, not layer objects: the user may remove any of them from the project."""

    outputs: dict[str, str]
    secondary_id: str
    reference_id: str

    @property
    def aligned_id(self) -> str:
        return self.outputs.get("OUTPUT", "")

    def layers(self, project: QgsProject, keys=None) -> list[QgsMapLayer]:
        """The output layers of ``keys`` (default: all) still in ``project``."""
        keys = self.outputs if keys is None else keys
        found = (project.mapLayer(self.outputs[key]) for key in keys if key in self.outputs)
        return [layer for layer in found if layer is not None]


def remove_outputs(project: QgsProject, run: RunLayers | None) -> int:
    """Remove the layers ``run`` added that are still in ``project`` (a new run replaces
    them); returns how many were removed."""
    if run is None:
        return 0
    ids = [layer.id() for layer in run.layers(project)]
    project.removeMapLayers(ids)
    return len(ids)


def unique_name(project: QgsProject, name: str) -> str:
    """``name``, or ``name (2)``, ``name (3)``... if a layer of ``project`` has it."""
    taken = {layer.name() for layer in project.mapLayers().values()}
    if name not in taken:
        return name
    number = 2
    while f"{name} ({number})" in taken:
        number += 1
    return f"{name} ({number})"


def load_outputs(context: QgsProcessingContext, results: dict,
                 feedback: QgsProcessingFeedback) -> dict[str, QgsMapLayer]:
    """Load the layers the run asked to load (on top of the layer tree) and run each
    output's post-processor (the algorithm's own styling); returns them by output key."""
    by_destination = {}
    # Vector layers last, i.e. on top: the arrows must not be hidden under a raster.
    to_load = sorted(context.layersToLoadOnCompletion().items(),
                     key=lambda item: item[1].layerTypeHint == QgsProcessingUtils.LayerHint.Vector)
    for destination, details in to_load:
        layer = QgsProcessingUtils.mapLayerFromString(destination, context,
                                                      typeHint=details.layerTypeHint)
        if layer is None:
            feedback.reportError(f"Could not load {destination}", False)
            continue
        project = details.project or QgsProject.instance()
        layer.setName(unique_name(project, details.name))
        context.temporaryLayerStore().takeMapLayer(layer)
        project.addMapLayer(layer, False)
        project.layerTreeRoot().insertLayer(0, layer)
        if details.postProcessor() is not None:
            details.postProcessor().postProcessLayer(layer, context, feedback)
        by_destination[destination] = layer
    context.setLayersToLoadOnCompletion({})
    return {key: by_destination[value] for key, value in results.items()
            if isinstance(value, str) and value in by_destination}


def match_renderer(aligned: QgsMapLayer | None, secondary: QgsMapLayer | None) -> None:
    """Draw the aligned raster as the secondary is drawn, so before/after compare alike."""
    if (isinstance(aligned, QgsRasterLayer) and isinstance(secondary, QgsRasterLayer)
            and aligned.bandCount() == secondary.bandCount() and secondary.renderer()):
        aligned.setRenderer(secondary.renderer().clone())
        aligned.triggerRepaint()


def arrow_scale(project: QgsProject) -> float:
    """The project's arrow exaggeration factor (the style's default when unset)."""
    value = QgsExpressionContextUtils.projectScope(project).variable(ARROW_SCALE_VARIABLE)
    try:
        return float(value)
    except (TypeError, ValueError):
        return DEFAULT_ARROW_SCALE


def set_arrow_scale(project: QgsProject, factor: float, layers: list[QgsMapLayer]) -> None:
    """Set the exaggeration factor the arrow style reads, and redraw ``layers``."""
    QgsExpressionContextUtils.setProjectVariable(project, ARROW_SCALE_VARIABLE, factor)
    for layer in layers:
        layer.triggerRepaint()


def show_aligned(project: QgsProject, run: RunLayers, aligned: bool) -> None:
    """Before/after: show the aligned output or the original secondary (one at a time)
    over the reference, by their visibility in the layer tree."""
    root = project.layerTreeRoot()
    for layer_id, visible in ((run.secondary_id, not aligned), (run.aligned_id, aligned)):
        node = root.findLayer(layer_id)
        if node is not None:
            node.setItemVisibilityChecked(visible)
