"""Every algorithm runs headless with only its mandatory parameters and writes only what
was asked; warnings reach the feedback as warnings, once; failures name parameters by
their labels."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from dem_synthetic import shift_dem
from local_synthetic import SCENE, write_pair
from stack_fixture import build_stack
from synthetic import Case, crop, make_secondary

BEIRUT = "optical/oscd_s2/beirut_S2_20150820_B02-B03-B04-B08.tif"
ASTER = "dem/exploradores_aster/AST_L1A_00303182012144228_Z.tif"
OLCI = "swath/O_L2_0001_SNS_2017104102450_v1.0.nc"

#: The main output of each algorithm: the one destination that stays mandatory.
MAIN_OUTPUTS = {"align_image": "OUTPUT", "align_dem": "OUTPUT", "align_local": "OUTPUT",
                "align_stack": "OUTPUT_FOLDER", "apply_alignment": "OUTPUT",
                "band_math": "OUTPUT", "coregistered_stack": "OUTPUT_FOLDER",
                "rectify_swath": "OUTPUT", "align_items": "OUTPUT_FOLDER",
                "search_stac": "OUTPUT"}
#: Inputs of which one group or another must be given (checkParameterValues), the group
#: these tests give: align_stack takes scenes and their anchor, or STAC items.
#: Optional parameters the test gives anyway, one of two ways to give an input
#: (align_stack: INPUTS or ITEMS; align_dem: REFERENCE or REFERENCE_POINTS).
ONE_OF = {"align_stack": {"INPUTS", "ANCHOR"}, "align_dem": {"REFERENCE"}}
#: The file name given to a main output that is no raster file (default ``out.tif``).
MAIN_NAMES = {"OUTPUT_FOLDER": "folder", "search_stac": "out.gpkg"}


def _algorithms(provider):
    return {algorithm.name(): algorithm for algorithm in provider.algorithms()}


def _mandatory(algorithm) -> set[str]:
    """Parameters a run must give: not optional and without a default."""
    from qgis.core import QgsProcessingParameterDefinition

    return {d.name() for d in algorithm.parameterDefinitions()
            if not d.flags() & QgsProcessingParameterDefinition.Flag.FlagOptional
            and d.defaultValue() is None}


def test_secondary_destinations_are_optional_and_created_by_default(coreg_provider):
    algorithms = _algorithms(coreg_provider)
    assert set(MAIN_OUTPUTS) == set(algorithms)
    from qgis.core import QgsProcessingParameterDefinition

    for name, algorithm in algorithms.items():
        for definition in algorithm.destinationParameterDefinitions():
            optional = bool(definition.flags()
                            & QgsProcessingParameterDefinition.Flag.FlagOptional)
            if definition.name() == MAIN_OUTPUTS[name]:
                assert not optional, f"{name}: {definition.name()} must stay mandatory"
            else:
                assert optional, f"{name}: {definition.name()} should be optional"


def test_secondary_outputs_the_toolbox_creates_by_default(coreg_provider):
    """As before they became optional, the dialog still creates these unless unticked."""
    algorithms = _algorithms(coreg_provider)
    by_default = {"align_image": {"SHIFT_VECTORS", "REPORT"},
                  "align_dem": {"DH_OUTPUT", "REPORT"},
                  "align_local": {"DISPLACEMENT", "UNCERTAINTY", "TIE_POINTS", "REPORT"},
                  "align_stack": {"SUMMARY", "FOOTPRINTS"}}
    for name, keys in by_default.items():
        for key in keys:
            assert algorithms[name].parameterDefinition(key).createByDefault(), (name, key)


# ------------------------------------------------------------ headless, mandatory only


@pytest.fixture(scope="module")
def inputs(shared_data, tmp_path_factory, stac_site):
    """Small inputs for each algorithm, and the mandatory parameters' values, keyed by
    algorithm name (output destinations filled in by the test)."""
    from coreg.core.matching.align import align_image

    folder = tmp_path_factory.mktemp("mandatory_inputs")
    reference = crop(shared_data / BEIRUT, folder / "reference.tif", 300, 300, 300)
    secondary = folder / "secondary.tif"
    make_secondary(reference, 4, secondary, Case(1.3, -0.8))
    report = folder / "alignment.json"
    report.write_text(json.dumps(align_image(reference, secondary, folder / "aligned.tif",
                                             reference_band=4).report()))
    (folder / "local").mkdir()
    local_reference, local_secondary = write_pair(shared_data / SCENE, folder / "local",
                                                  size=300)
    dem = folder / "dem_shifted.tif"
    shift_dem(shared_data / ASTER, dem, 0.6, -1.4, 4.5)
    stack = build_stack(folder / "stack")
    scenes = [str(path) for name, path in stack.items() if name not in ("mask", "t6_elsewhere")]
    return {
        "align_image": {"REFERENCE": reference, "SECONDARY": secondary},
        "align_local": {"REFERENCE": local_reference, "SECONDARY": local_secondary},
        "align_dem": {"REFERENCE": shared_data / ASTER, "DEM": dem},
        "align_stack": {"INPUTS": scenes, "ANCHOR": stack["anchor"]},
        "apply_alignment": {"ALIGNMENT": report, "INPUT": secondary},
        "band_math": {"INPUTS": [reference], "EXPRESSION": "ndvi:(norm_diff 1.b4 1.b3)"},
        "coregistered_stack": {"INPUTS": [reference, secondary], "ASSETS": "1.b4,2.b1",
                               "REFERENCE_ASSET": "1.b4"},
        "rectify_swath": {"INPUT": f'NETCDF:"{shared_data / OLCI}":rtoa_8'},
        "align_items": {"SOURCE_ITEM": f"{stac_site['files']}/source/item.json",
                        "REFERENCE_ITEM": f"{stac_site['files']}/reference/item.json"},
        "search_stac": {"API_URL": stac_site["api"]},
    }


#: What each run may leave in its (empty) output folder: the main output alone.
EXPECTED = {"align_image": {"out.tif"}, "align_local": {"out.tif"}, "align_dem": {"out.tif"},
            "apply_alignment": {"out.tif"}, "band_math": {"out.tif"},
            "rectify_swath": {"out.tif"}, "align_stack": {"folder"},
            "coregistered_stack": {"folder"}, "align_items": {"folder"},
            "search_stac": {"out.gpkg"}}


@pytest.mark.parametrize("name", sorted(MAIN_OUTPUTS))
def test_runs_headless_with_only_mandatory_parameters(name, inputs, coreg_provider, tmp_path,
                                                      qgis_process_runner):
    algorithm = _algorithms(coreg_provider)[name]
    main = MAIN_OUTPUTS[name]
    given = dict(inputs[name])
    given[main] = tmp_path / MAIN_NAMES.get(name, MAIN_NAMES.get(main, "out.tif"))
    assert set(given) == _mandatory(algorithm) | ONE_OF.get(name, set()), \
        "the test gives exactly the mandatory ones"
    args = [f"{key}={item}" for key, value in given.items()
            for item in (value if isinstance(value, list) else [value])]
    code, stdout, stderr = qgis_process_runner("run", f"coreg:{name}", "--json", "--", *args)
    assert code == 0, stdout + stderr
    results = json.loads(stdout)["results"]
    assert set(os.listdir(tmp_path)) == EXPECTED[name]
    secondary = {d.name() for d in algorithm.destinationParameterDefinitions()} - {main}
    assert not secondary & {key for key, value in results.items() if value}
    if main == "OUTPUT_FOLDER":
        written = {p.suffix for p in Path(results[main]).iterdir()}
        assert not written & {".csv", ".gpkg"}, written  # no summary, no footprints


# ---------------------------------------------------------------- warnings and errors


def _text(parameters: dict) -> dict:
    return {key: str(value) for key, value in parameters.items()}


class _Recorder:
    """A QgsProcessingFeedback that records what the algorithm reports, by kind."""

    def __new__(cls):
        from qgis.core import QgsProcessingFeedback

        class Recorder(QgsProcessingFeedback):
            def __init__(self):
                super().__init__()
                self.calls = []

            def pushWarning(self, warning):  # noqa: N802 - QGIS API
                self.calls.append(("warning", warning))
                super().pushWarning(warning)

            def reportError(self, error, fatalError=False):  # noqa: N802, N803 - QGIS API
                self.calls.append(("error" if fatalError else "error-not-fatal", error))
                super().reportError(error, fatalError)

            def pushInfo(self, info):  # noqa: N802 - QGIS API
                self.calls.append(("info", info))
                super().pushInfo(info)

        return Recorder()


def test_nodata_warning_is_a_warning_said_once(inputs, tmp_path, coreg_provider):
    import processing

    feedback = _Recorder()
    processing.run("coreg:align_image", {**_text(inputs["align_image"]), "REFERENCE_BAND": 4,
                                         "OUTPUT": str(tmp_path / "a.tif")}, feedback=feedback)
    nodata = [(kind, text) for kind, text in feedback.calls if "no nodata value" in text]
    assert nodata == [("warning", nodata[0][1])]
    assert not [kind for kind, _ in feedback.calls if kind.startswith("error")]


def test_failure_names_the_parameter_by_its_label(inputs, tmp_path, coreg_provider):
    import processing
    from qgis.core import QgsProcessingException

    feedback = _Recorder()
    with pytest.raises(QgsProcessingException) as raised:
        processing.run("coreg:align_image", {**_text(inputs["align_image"]), "REFERENCE_BAND": 4,
                                             "MAX_SHIFT": 0.5,
                                             "OUTPUT": str(tmp_path / "a.tif")},
                       feedback=feedback)
    message = str(raised.value)
    assert '"Maximum expected shift (reference pixels)"' in message
    assert "MAX_SHIFT" not in message


def test_labelled_replaces_whole_keys_only(coreg_provider):
    algorithm = _algorithms(coreg_provider)["align_dem"]
    text = algorithm.labelled("OUTPUT and DH_OUTPUT, not OUTPUTS or output.")
    assert text == ('"Aligned DEM" and "Elevation difference after (reference - aligned)", '
                    "not OUTPUTS or output.")


def test_stack_warnings_are_warnings_and_a_failed_precondition_is_said_once(
        shared_data, inputs, tmp_path, coreg_provider):
    import processing
    from qgis.core import QgsProcessingException

    beirut = str(shared_data / BEIRUT)
    elsewhere = str(shared_data / "optical/landsat_pairs/taizhou_LE07_20000317_B1-5_7.tif")
    feedback = _Recorder()
    with pytest.raises(QgsProcessingException, match="overlaps the reference"):
        processing.run("coreg:coregistered_stack", {
            "INPUTS": [beirut, elsewhere], "ASSETS": "1.b4,2.b3", "REFERENCE_ASSET": "1.b4",
            "OUTPUT_FOLDER": str(tmp_path / "out")}, feedback=feedback)
    said = [text for _, text in feedback.calls if "overlaps the reference" in text]
    assert len(said) <= 1, said  # by QGIS for the exception, never also by the algorithm


def test_align_local_applies_to_further_rasters_without_a_displacement_output(
        inputs, tmp_path, coreg_provider):
    """APPLY_TO needs the field on file: a temporary one, not left in the output folder."""
    import processing

    secondary = Path(inputs["align_local"]["SECONDARY"])
    result = processing.run("coreg:align_local", {
        **_text(inputs["align_local"]), "GRID_SPACING": 40, "WINDOW_SIZE": 64,
        "APPLY_TO": [str(secondary)], "OUTPUT": str(tmp_path / "out.tif")})
    assert set(os.listdir(tmp_path)) == {"out.tif", f"{secondary.stem}_coreg.tif"}
    assert result["APPLIED"] == [str(tmp_path / f"{secondary.stem}_coreg.tif")]
    assert "DISPLACEMENT" not in result
