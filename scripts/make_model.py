"""Regenerate resources/fill_and_align.model3 (run with /usr/bin/python3, offscreen).

A graphical model that chains a native QGIS algorithm with Coreg's: the secondary's
nodata holes are filled (native:fillnodata), it is aligned onto the reference
(coreg:align_image), and the saved alignment is applied to another raster of the
same acquisition, e.g. another band (coreg:apply_alignment). Open it in the
graphical modeler to see how to build your own.
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
    QgsProcessingParameterRasterLayer,
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


if __name__ == "__main__":
    app = QgsApplication([], False)
    app.initQgis()
    path = os.path.join(ROOT, "resources", "fill_and_align.model3")
    if not build().toFile(path):
        raise SystemExit(f"could not write {path}")
    app.exitQgis()
