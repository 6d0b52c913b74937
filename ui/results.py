"""What the dialog shows after a run: loaded layers, the report summary, arrow scale and
the before/after comparison."""

from __future__ import annotations

import json
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


#: Summary rows: (label, report keys, format of each value, separator). A row is shown
#: when the report has all its keys (each method reports its own figures). Shifts are in
#: secondary pixels (x right, y down) or map units of the reference CRS; the score is the
#: report's matching score, NMAD that of the DEM differences.
_ARROW = " → "
SUMMARY_ROWS = (
    ("Shift x, y", ("shift_x_px", "shift_y_px"), _signed(" px", 3), ", "),
    ("Shift (map units)", ("shift_x_map", "shift_y_map"), lambda v: f"{v:+.6g}", ", "),
    ("Shift x, y, z", ("shift_x", "shift_y", "shift_z"), _signed("", 3), ", "),
    ("Rotation", ("rotation_deg",), _signed("°", 4), ""),
    ("Uncertainty", ("shift_uncertainty_px",), _plain(" px", 3), ""),
    ("Reliability", ("reliability",), _plain(" %", 1), ""),
    ("Patches used", ("n_patches_used", "n_patches"), str, " / "),
    ("Tie points kept", ("n_kept", "n_points"), str, " / "),
    ("RMS shift before → after", ("rms_shift_before_px", "rms_shift_after_px"),
     _plain(" px", 3), _ARROW),
    ("Score before → after", ("matching_score_before", "matching_score_after"),
     _plain("", 3), _ARROW),
    ("NMAD before → after", ("nmad_before", "nmad_after"), _plain("", 3), _ARROW),
)


def summary_rows(report: dict) -> list[tuple[str, str]]:
    """(label, text) of the report's figures the summary panel shows."""
    rows = [(label, separator.join(fmt(report[key]) for key in keys))
            for label, keys, fmt, separator in SUMMARY_ROWS
            if all(isinstance(report.get(key), (int, float)) for key in keys)]
    return rows + [("Warning", text) for text in report.get("warnings", [])]


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

    def layers(self, project: QgsProject, keys) -> list[QgsMapLayer]:
        """The output layers of ``keys`` still in ``project``."""
        found = (project.mapLayer(self.outputs[key]) for key in keys if key in self.outputs)
        return [layer for layer in found if layer is not None]


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
        layer.setName(details.name)
        context.temporaryLayerStore().takeMapLayer(layer)
        project = details.project or QgsProject.instance()
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
