"""Regenerate the example models in resources/ (run with /usr/bin/python3, offscreen).

resources/fill_and_align.model3 chains a native QGIS algorithm with Coreg's: the
secondary's nodata holes are filled (native:fillnodata), it is aligned onto the
reference (coreg:align_image), and the saved alignment is applied to another raster of
the same acquisition, e.g. another band (coreg:apply_alignment).

resources/models/search_align_stack.model3 works catalogue to catalogue: a STAC API is
searched (coreg:search_stac), the items found are aligned onto the one the others
overlap most (coreg:align_stack, their COGs streamed), and the aligned scenes are
stacked (coreg:coregistered_stack). Open them in the graphical modeler to see how to
build your own.
"""

import os

from qgis.core import (
    QgsApplication,
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildAlgorithm,
    QgsProcessingModelChildParameterSource,
    QgsProcessingModelOutput,
    QgsProcessingModelParameter,
    QgsProcessingParameterBand,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QPointF

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build() -> QgsProcessingModelAlgorithm:
    model = QgsProcessingModelAlgorithm("Fill nodata and align", "Coreg examples")
    for name, label, pos in (("reference", "Reference raster", 50),
                             ("secondary", "Secondary raster", 150),
                             ("other", "Another raster of the secondary's acquisition", 350)):
        param = QgsProcessingModelParameter(name)
        param.setPosition(QPointF(100, pos))
        model.addModelParameter(QgsProcessingParameterRasterLayer(name, label), param)
    band = QgsProcessingModelParameter("band")
    band.setPosition(QPointF(100, 250))
    model.addModelParameter(QgsProcessingParameterBand("band", "Band to match", 1, "reference"),
                            band)

    fill = QgsProcessingModelChildAlgorithm("native:fillnodata")
    fill.setChildId("fill")
    fill.setDescription("Fill nodata of the secondary")
    fill.setPosition(QPointF(350, 150))
    fill.addParameterSources("INPUT", [QgsProcessingModelChildParameterSource.fromModelParameter(
        "secondary")])
    fill.addParameterSources("BAND", [QgsProcessingModelChildParameterSource.fromStaticValue(1)])
    fill.addParameterSources("FILL_VALUE", [
        QgsProcessingModelChildParameterSource.fromStaticValue(0)])
    model.addChildAlgorithm(fill)

    align = QgsProcessingModelChildAlgorithm("coreg:align_image")
    align.setChildId("align")
    align.setDescription("Align onto the reference")
    align.setPosition(QPointF(600, 100))
    sources = {
        "REFERENCE": QgsProcessingModelChildParameterSource.fromModelParameter("reference"),
        "REFERENCE_BAND": QgsProcessingModelChildParameterSource.fromModelParameter("band"),
        "SECONDARY": QgsProcessingModelChildParameterSource.fromChildOutput("fill", "OUTPUT"),
        "SECONDARY_BAND": QgsProcessingModelChildParameterSource.fromStaticValue(1),
        "TRANSFORM": QgsProcessingModelChildParameterSource.fromStaticValue(1),
        "MAX_SHIFT": QgsProcessingModelChildParameterSource.fromStaticValue(20),
        "OUTPUT_MODE": QgsProcessingModelChildParameterSource.fromStaticValue(1),
        "RESAMPLING": QgsProcessingModelChildParameterSource.fromStaticValue(2),
    }
    for key, source in sources.items():
        align.addParameterSources(key, [source])
    outputs = {}
    for key, label in (("OUTPUT", "Aligned raster"), ("SHIFT_VECTORS", "Shift vectors"),
                       ("REPORT", "Report")):
        output = QgsProcessingModelOutput(label)
        output.setChildId("align")
        output.setChildOutputName(key)
        outputs[label] = output
    align.setModelOutputs(outputs)
    model.addChildAlgorithm(align)

    apply = QgsProcessingModelChildAlgorithm("coreg:apply_alignment")
    apply.setChildId("apply")
    apply.setDescription("Apply the alignment to the other raster")
    apply.setPosition(QPointF(850, 300))
    apply.addParameterSources("ALIGNMENT", [
        QgsProcessingModelChildParameterSource.fromChildOutput("align", "REPORT")])
    apply.addParameterSources("INPUT", [
        QgsProcessingModelChildParameterSource.fromModelParameter("other")])
    other = QgsProcessingModelOutput("Other raster aligned")
    other.setChildId("apply")
    other.setChildOutputName("OUTPUT")
    apply.setModelOutputs({"Other raster aligned": other})
    model.addChildAlgorithm(apply)
    return model


def build_search_stack() -> QgsProcessingModelAlgorithm:
    model = QgsProcessingModelAlgorithm("Search, align and stack STAC items", "Coreg examples")
    inputs = (
        ("api_url", QgsProcessingParameterString("api_url", "STAC API URL")),
        ("collections", QgsProcessingParameterString("collections", "Collections")),
        ("datetime", QgsProcessingParameterString("datetime", "Date or time range",
                                                  optional=True)),
        ("max_cloud", QgsProcessingParameterNumber(
            "max_cloud", "Maximum cloud cover (%)", QgsProcessingParameterNumber.Type.Double,
            25.0, minValue=0.0, maxValue=100.0)),
        ("asset", QgsProcessingParameterString("asset", "Asset to align", "nir")),
        ("stack_assets", QgsProcessingParameterString(
            "stack_assets", "Assets to stack (N.band of the aligned scenes)", "1.b1,2.b1")),
        ("stack_reference", QgsProcessingParameterString(
            "stack_reference", "Reference asset of the stack", "1.b1")),
    )
    for k, (name, definition) in enumerate(inputs):
        param = QgsProcessingModelParameter(name)
        param.setPosition(QPointF(100, 50 + 80 * k))
        model.addModelParameter(definition, param)
    parameter = QgsProcessingModelChildParameterSource.fromModelParameter
    child = QgsProcessingModelChildParameterSource.fromChildOutput
    static = QgsProcessingModelChildParameterSource.fromStaticValue
    steps = (
        ("search", "coreg:search_stac", "Search the catalogue", 350,
         {"API_URL": parameter("api_url"), "COLLECTIONS": parameter("collections"),
          "DATETIME": parameter("datetime"), "MAX_CLOUD": parameter("max_cloud"),
          "LIMIT": static(20)}, {"OUTPUT": "Footprints"}),
        ("align", "coreg:align_stack", "Align the items onto the anchor", 600,
         {"ITEMS": child("search", "ITEM_URLS"), "ASSET": parameter("asset")},
         {"OUTPUT_FOLDER": "Aligned scenes"}),
        ("stack", "coreg:coregistered_stack", "Stack the aligned scenes", 850,
         {"INPUTS": child("align", "OUTPUTS"), "ASSETS": parameter("stack_assets"),
          "REFERENCE_ASSET": parameter("stack_reference"),
          "TITLE": static("Co-registered time series")}, {"OUTPUT_FOLDER": "Stack"}),
    )
    for child_id, algorithm, description, x, sources, outputs in steps:
        step = QgsProcessingModelChildAlgorithm(algorithm)
        step.setChildId(child_id)
        step.setDescription(description)
        step.setPosition(QPointF(x, 200))
        for key, source in sources.items():
            step.addParameterSources(key, [source])
        model_outputs = {}
        for key, label in outputs.items():
            output = QgsProcessingModelOutput(label)
            output.setChildId(child_id)
            output.setChildOutputName(key)
            model_outputs[label] = output
        step.setModelOutputs(model_outputs)
        model.addChildAlgorithm(step)
    return model


MODELS = {os.path.join("resources", "fill_and_align.model3"): build,
          os.path.join("resources", "models", "search_align_stack.model3"): build_search_stack}


if __name__ == "__main__":
    app = QgsApplication([], False)
    app.initQgis()
    for relative, builder in MODELS.items():
        path = os.path.join(ROOT, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not builder().toFile(path):
            raise SystemExit(f"could not write {path}")
    app.exitQgis()
