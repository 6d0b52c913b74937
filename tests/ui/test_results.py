"""The summary rows each method's report produces (the panel shows them as they are)."""

from coreg.ui.results import summary_rows


def test_global_report_rows():
    rows = dict(summary_rows({
        "shift_x_px": 2.3012, "shift_y_px": -1.6, "shift_x_map": 23.0, "shift_y_map": 16.0,
        "rotation_deg": 0.01, "shift_uncertainty_px": 0.012, "reliability": 91.25,
        "n_patches": 64, "n_patches_used": 60, "matching_score_before": 0.4,
        "matching_score_after": 0.9, "warnings": ["low texture"]}))
    assert rows == {"Shift x, y": "+2.301 px, -1.600 px", "Shift (map units)": "+23, +16",
                    "Rotation": "+0.0100°", "Uncertainty": "0.012 px", "Reliability": "91.2 %",
                    "Patches used": "60 / 64", "Score before → after": "0.400 → 0.900",
                    "Warning": "low texture"}


def test_scale_model_row():
    """TRANSFORM scale / affine: their terms with standard errors in one row."""
    rows = dict(summary_rows({"shift_x_px": 1.0, "shift_y_px": -1.5, "model_terms": {
        "model": "affine", "scale": 1.0005, "scale_se": 4e-6, "scale_x": 1.003,
        "scale_x_se": 6e-6, "scale_y": 0.998, "scale_y_se": 5e-6, "shear": 0.0015,
        "shear_se": 4e-6, "rotation_deg": -0.0288, "rotation_deg_se": 0.0002}}))
    assert rows["Scale, shear"] == ("scale_x 1.003000 ± 0.000006, scale_y 0.998000 ± "
                                    "0.000005, shear 0.001500 ± 0.000004")


def test_local_and_dem_report_rows():
    local = dict(summary_rows({"n_points": 81, "n_kept": 70, "rms_shift_before_px": 2.5,
                               "rms_shift_after_px": 0.04, "matching_score_before": None,
                               "matching_score_after": 0.8}))
    assert local == {"Tie points kept": "70 / 81",
                     "RMS shift before → after": "2.500 px → 0.040 px"}  # no score: None
    dem = dict(summary_rows({"shift_x": 18.6, "shift_y": -41.1, "shift_z": -4.5,
                             "nmad_before": 9.87, "nmad_after": 1.2}))
    assert dem == {"Shift x, y, z": "+18.600, -41.100, -4.500",
                   "NMAD before → after": "9.870 → 1.200"}


def test_destinations_beside_the_output():
    from coreg.ui.methods import destinations

    assert destinations("/d/out.tif") == {
        "OUTPUT": "/d/out.tif", "SHIFT_VECTORS": "/d/out_shift_vectors.gpkg",
        "TIE_POINTS": "/d/out_tie_points.gpkg", "DISPLACEMENT": "/d/out_displacement.tif",
        "UNCERTAINTY": "/d/out_uncertainty.tif", "DH_OUTPUT": "/d/out_dh.tif",
        "REPORT": "/d/out_report.json", "REPORT_PAGE": "/d/out_report.html"}
    assert destinations("/d/out")["OUTPUT"] == "/d/out.tif"
    assert destinations("/d/out.TIFF")["REPORT"] == "/d/out_report.json"


def test_local_uncertainty_loads_named_and_styled(coreg_provider, shared_data, tmp_path):
    """An align_local run as the panel starts it: UNCERTAINTY loads into the project with
    the panel's name and the green-to-red ramp of its post-processor."""
    from local_synthetic import SCENE, write_pair
    from qgis.core import (
        QgsApplication,
        QgsProcessingContext,
        QgsProcessingFeedback,
        QgsProject,
        QgsSingleBandPseudoColorRenderer,
    )

    from coreg.ui.methods import destinations, for_project
    from coreg.ui.results import load_outputs

    reference, secondary = write_pair(shared_data / SCENE, tmp_path, size=200)
    project = QgsProject.instance()
    params = {"REFERENCE": str(reference), "SECONDARY": str(secondary), "GRID_SPACING": 40,
              "WINDOW_SIZE": 64, "MAX_SHIFT": 10,
              **{k: v for k, v in destinations(str(tmp_path / "out.tif")).items()
                 if k in ("OUTPUT", "UNCERTAINTY")}}
    context, feedback = QgsProcessingContext(), QgsProcessingFeedback()
    alg = QgsApplication.processingRegistry().createAlgorithmById("coreg:align_local")
    outputs, ok = alg.run(for_project(params, project, {"UNCERTAINTY": "radius"}), context,
                          feedback)
    assert ok and outputs["UNCERTAINTY"] == str(tmp_path / "out_uncertainty.tif")
    layer = load_outputs(context, outputs, feedback)["UNCERTAINTY"]
    try:
        assert layer.name() == "radius"
        assert isinstance(layer.renderer(), QgsSingleBandPseudoColorRenderer)
    finally:
        project.removeMapLayer(layer.id())
