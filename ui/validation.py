"""Checks of the dialog's choices before a run, as messages for the field they concern.

The algorithm raises the same problems at run time; checking them here lets the dialog
say what is wrong next to the field, and keeps Run disabled while anything is.
"""

from __future__ import annotations

import os

from qgis.core import (
    QgsCoordinateTransform,
    QgsCoordinateTransformContext,
    QgsCsException,
    QgsMapLayer,
    QgsRasterLayer,
)

from ..core.errors import CoregError
from ..core.io.outputs import check_outputs

#: Field names used as keys of the messages (the dialog shows each under its field).
REFERENCE, SECONDARY, MASK = "reference", "secondary", "mask"
OUTPUT, GENERAL = "output", "general"


def check_choices(reference: QgsRasterLayer | None, reference_band: int,
                  secondary: QgsRasterLayer | None, secondary_band: int, output: str,
                  transform_context: QgsCoordinateTransformContext,
                  mask: QgsMapLayer | None = None) -> dict[str, str]:
    """Problems with the layers, bands, mask and output, as {field: message}; empty if
    none."""
    problems = {}
    for name, layer, band in ((REFERENCE, reference, reference_band),
                              (SECONDARY, secondary, secondary_band)):
        message = layer_problem(layer, band, name)
        if message:
            problems[name] = message
    if not problems:
        message = pair_problem(reference, secondary, transform_context)
        if message:
            problems[SECONDARY] = message
    inputs = [layer for layer in (reference, secondary) if layer]
    if mask is not None and any(mask.id() == layer.id() for layer in inputs):
        problems[MASK] = ("The mask marks areas to leave out (non-zero = masked): it cannot "
                          "be the reference or the secondary itself.")
    message = output_problem(output, inputs)
    if message:
        problems[OUTPUT] = message
    return problems


def layer_problem(layer: QgsRasterLayer | None, band: int, label: str) -> str:
    """Why ``layer`` cannot be used as the ``label`` raster with ``band``, or ''."""
    if layer is None:
        return f"Choose the {label} raster."
    if not layer.isValid():
        return f"The {label} layer '{layer.name()}' cannot be read."
    if layer.providerType() != "gdal":
        return (f"'{layer.name()}' is not a file raster; save it as a GeoTIFF first "
                f"(Export > Save As).")
    if not layer.crs().isValid():
        return f"'{layer.name()}' has no coordinate reference system; set one first."
    if band < 1:
        return f"Choose a band of '{layer.name()}'."
    if band > layer.bandCount():
        return f"Band {band} does not exist: '{layer.name()}' has {layer.bandCount()} band(s)."
    return ""


def pair_problem(reference: QgsRasterLayer, secondary: QgsRasterLayer,
                 transform_context: QgsCoordinateTransformContext) -> str:
    """Why the two rasters cannot be aligned together, or ''."""
    if reference.id() == secondary.id() or _same_file(reference.source(), secondary.source()):
        return "The secondary must be another raster than the reference."
    transform = QgsCoordinateTransform(secondary.crs(), reference.crs(), transform_context)
    try:
        footprint = transform.transformBoundingBox(secondary.extent())
    except QgsCsException:
        return (f"'{secondary.name()}' ({secondary.crs().authid()}) cannot be transformed to "
                f"the reference CRS ({reference.crs().authid()}).")
    overlap = footprint.intersect(reference.extent())
    if overlap.isEmpty() or overlap.width() <= 0 or overlap.height() <= 0:
        return (f"'{secondary.name()}' does not overlap the reference '{reference.name()}': "
                f"nothing to match.")
    return ""


def output_problem(output: str, inputs: list[QgsRasterLayer]) -> str:
    """Why the aligned raster cannot be written to ``output``, or ''."""
    if not output:
        return "Choose where to save the aligned raster."
    if output.endswith(("/", os.sep)) or os.path.isdir(output) or not os.path.basename(output):
        return "This is a folder: add a file name for the aligned raster (e.g. aligned.tif)."
    try:  # the engine's own gate: symlinks, VRT sources, unwritable folders
        check_outputs({"Aligned raster": output},
                      {layer.name(): layer.source().split("|")[0] for layer in inputs})
    except CoregError as exc:
        return str(exc)
    return ""


def _same_file(a: str, b: str) -> bool:
    return os.path.realpath(a.split("|")[0]) == os.path.realpath(b.split("|")[0])
