"""The s-expression band-math language: parser, evaluator, rasters block by block."""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile

import numpy as np
import pytest
import rasterio
import rasterio.windows
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from numpy.testing import assert_allclose, assert_array_equal
from osgeo_utils.samples.validate_cloud_optimized_geotiff import validate as validate_cog

from coreg.core.bandmath import raster_math
from coreg.core.bandmath.band_math import (
    OPERATORS,
    Asset,
    BandMathError,
    Call,
    Number,
    evaluate_block,
    mean_nodes,
    parse_definition,
    parse_definitions,
    parse_expression,
)
from coreg.core.bandmath.raster_math import AssetSource, band_math, write_expressions
from coreg.core.io.raster_io import BLOCK

#: The examples of the service this replaces, with their documented meaning in numpy.
EXAMPLES = {
    "sum:(+ 1.pan 2.pan)": lambda a: a["1.pan"] + a["2.pan"],
    "difference:(- 1.pan 2.pan)": lambda a: a["1.pan"] - a["2.pan"],
    "average:(/ (+ 1.pan 2.pan) 2)": lambda a: (a["1.pan"] + a["2.pan"]) / 2,
    "diff_from_avg:(- 1.pan (mean 1.pan))": lambda a: a["1.pan"] - np.nanmean(a["1.pan"]),
    "ndvi:(norm_diff 1.nir 1.red)": lambda a: (a["1.nir"] - a["1.red"]) / (a["1.nir"]
                                                                           + a["1.red"]),
    "rescaled:(interp 1.red (asarray 0 10000) (asarray 0 1))":
        lambda a: np.interp(a["1.red"], [0, 10000], [0, 1]),
    "opt_water_mask:(where (>= (norm_diff 1.green 1.nir) 0.3) 1 0)":
        lambda a: np.where((a["1.green"] - a["1.nir"]) / (a["1.green"] + a["1.nir"]) >= 0.3,
                           1, 0),
}
SAR_EXAMPLE = "sar_water_mask:(where (<= 1.s0_db_c_hh -23) 1 0)"


# ------------------------------------------------------------------------ parser


def test_examples_parse_to_the_documented_trees():
    text = "average:(/ (+ 1.pan 2.pan) 2)"
    average = parse_definition(text)
    assert average.name == "average"
    assert average.expression == Call("/", (Call("+", (Asset("1.pan", text.index("1.pan")),
                                                       Asset("2.pan", text.index("2.pan"))),
                                                 text.index("(+")),
                                            Number(2.0, text.index("2)"))), text.index("(/"))
    assert average.assets == ["1.pan", "2.pan"]
    plus = average.expression.args[0]
    assert [plus.position, plus.args[0].position, plus.args[1].position] == [
        text.index("(+"), text.index("1.pan"), text.index("2.pan")]
    mask = parse_definition(SAR_EXAMPLE).expression
    assert mask.args[0].args[1] == Number(-23.0, SAR_EXAMPLE.index("-23"))
    assert [mask.args[0].args[1].position, mask.args[1].position, mask.args[2].position] == [
        SAR_EXAMPLE.index("-23"), 44, 46]


@pytest.mark.parametrize("text, value", [("7", 7.0), ("-23", -23.0), ("+0.5", 0.5),
                                         ("1e-3", 1e-3), ("-2.5E+2", -250.0), (".25", 0.25),
                                         ("3.", 3.0)])
def test_numbers(text, value):
    assert parse_expression(text) == Number(value, 0)


def test_unnamed_expression_and_definition_list():
    assert parse_definition("  (+ 1.b1 1)").name == "expression"
    defs = parse_definitions("a:(+ 1.b1 1);b:(* 1.b1 2)\n\nc:(- 1.b1)")
    assert [d.name for d in defs] == ["a", "b", "c"]
    with pytest.raises(BandMathError, match="unique: a"):
        parse_definitions("a:(+ 1.b1 1); a:(+ 1.b1 2)")


@pytest.mark.parametrize("text, position, expected", [
    ("x:(+ 1.pan", 10, "')'"),
    ("x:(foo 1 2)", 3, "one of + - * /"),
    ("(+ 1)", 0, "at least 2 arguments"),
    ("(norm_diff 1.a 1.b 1.c)", 0, "2 arguments"),
    ("(where 1 2)", 0, "3 arguments"),
    ("(interp 1.a 2 3)", 12, "(asarray"),
    ("(interp 1.a (asarray 2 1) (asarray 0 1))", 12, "increasing"),
    ("(interp 1.a (asarray 1 2 3) (asarray 0 1))", 28, "3 numbers"),
    ("(+ (asarray 1 2) 1)", 3, "a number, an asset"),
    ("(asarray 1.a)", 9, "a number"),
    ("(+ 1 2))", 7, "the end of the expression"),
    ("(+ 1 pan)", 5, "an asset such as 1.B04"),
    ("+", 0, "'(+ ...)'"),
    ("()", 1, "one of + -"),
    (")", 0, "a number"),
    ("(+ 1 1e999)", 5, "a finite number"),
    ("bad name:(+ 1 2)", 0, "a name of letters"),
    ("ok:   ", 3, "(operator ...)"),
    ("(+ " * 100, 195, "deeper than 64"),
])
def test_parse_errors_say_where_and_what_was_expected(text, position, expected):
    with pytest.raises(BandMathError) as info:
        parse_definition(text)
    assert info.value.position == position
    assert f"(character {position + 1})" in str(info.value)
    assert expected in info.value.expected or expected in str(info.value)


def test_error_type_is_a_value_error():
    assert issubclass(BandMathError, ValueError)  # algorithms map it to a clear message


# ------------------------------------------------------------------------ evaluation


def _evaluate(text, assets):
    tree = parse_expression(text)
    means = {}
    for node in mean_nodes(tree):
        means[node] = float(np.nanmean(evaluate_block(node.args[0], assets, means, (2, 2))))
    return evaluate_block(tree, assets, means, (2, 2))


def test_division_by_zero_and_nodata_give_nan():
    assets = {"1.a": np.array([[1, 2], [0, np.nan]], np.float32),
              "1.b": np.array([[1, 0], [0, 3]], np.float32)}
    assert_array_equal(_evaluate("(/ 1.a 1.b)", assets), [[1, np.nan], [np.nan, np.nan]])
    assert_array_equal(_evaluate("(norm_diff 1.a 1.b)", assets), [[0, 1], [np.nan, np.nan]])
    assert_array_equal(_evaluate("(/ 1 0)", assets), np.full((2, 2), np.nan))
    assert_array_equal(_evaluate("(where (>= 1.a 1) 7 0)", assets), [[7, 7], [0, np.nan]])
    assert_array_equal(_evaluate("(& (> 1.a 0) (> 1.b 0))", assets), [[1, 0], [0, np.nan]])
    assert_array_equal(_evaluate("(| (> 1.a 0) (> 1.b 0))", assets), [[1, 1], [0, np.nan]])
    assert_array_equal(_evaluate("(- 1.a)", assets), [[-1, -2], [0, np.nan]])
    assert_array_equal(_evaluate("(- 10 1.b 1 1)", assets), [[7, 8], [8, 5]])
    assert_allclose(_evaluate("(- 1.b (mean 1.b))", assets), [[0, -1], [-1, 2]])


def test_unknown_asset_is_an_error_with_its_position():
    with pytest.raises(BandMathError, match="Unknown asset '2.x'") as info:
        _evaluate("(+ 1.a 2.x)", {"1.a": np.zeros((2, 2), np.float32)})
    assert info.value.position == 7


# ------------------------------------------------------------------------ real rasters


def _read(path, band):
    with rasterio.open(path) as ds:
        return ds.read(band).astype(np.float32)


def _strip_crop(path, out, height, width):
    """The top-left ``height`` x ``width`` of every band: tall enough for several strips."""
    window = rasterio.windows.Window(0, 0, width, height)
    with rasterio.open(path) as src:
        profile = src.profile | {"width": width, "height": height,
                                 "transform": src.window_transform(window)}
        with rasterio.open(out, "w", **profile) as dst:
            dst.write(src.read(window=window))
            dst.descriptions = src.descriptions
    return out


@pytest.fixture(scope="module")
def oscd(shared_data, tmp_path_factory):
    folder, tmp = shared_data / "optical" / "oscd_s2", tmp_path_factory.mktemp("oscd")
    first, second = (_strip_crop(folder / f"beirut_S2_{date}_B02-B03-B04-B08.tif",
                                 tmp / f"{date}.tif", 1100, 160)
                     for date in ("20150820", "20171003"))
    return {"1.pan": AssetSource(str(first), 4, None), "2.pan": AssetSource(str(second), 4, None),
            "1.nir": AssetSource(str(first), 4, None), "1.red": AssetSource(str(first), 3, None),
            "1.green": AssetSource(str(first), 2, None)}


@pytest.fixture(scope="module")
def landsat(shared_data, tmp_path_factory):
    folder, tmp = shared_data / "optical" / "landsat_pairs", tmp_path_factory.mktemp("landsat")
    first, second = (str(_strip_crop(folder / f"nanjing_LT05_{d}_B1-5_7.tif", tmp / f"{d}.tif",
                                     600, 200)) for d in ("20000503", "20020712"))
    # TM bands 1-6 = B1 B2 B3 B4 B5 B7: green B2, red B3, nir B4, "pan" the red band.
    return {"1.pan": AssetSource(first, 3, None), "2.pan": AssetSource(second, 3, None),
            "1.nir": AssetSource(first, 4, None), "1.red": AssetSource(first, 3, None),
            "1.green": AssetSource(first, 2, None)}


@pytest.mark.parametrize("scene", ["oscd", "landsat"])
def test_every_example_matches_numpy_on_real_scenes(scene, request, tmp_path):
    assets = request.getfixturevalue(scene)
    definitions = parse_definitions(";".join(EXAMPLES))
    outputs = {d.name: tmp_path / f"{d.name}.tif" for d in definitions}
    write_expressions(definitions, assets, _grid(assets["1.pan"].path), outputs)
    arrays = {name: _read(s.path, s.band) for name, s in assets.items()}
    with np.errstate(all="ignore"):
        for text, meaning in EXAMPLES.items():
            name = text.split(":")[0]
            expected = np.asarray(meaning(arrays), np.float64)
            expected[~np.isfinite(expected)] = np.nan  # a division by zero is nodata
            result = _read(outputs[name], 1)
            assert_allclose(result, expected, rtol=2e-6, atol=2e-6 * np.nanmax(abs(expected)),
                            err_msg=name)
            assert np.isnan(result).sum() == np.isnan(expected).sum(), name
    if scene == "oscd":  # Beirut: sea and land, so the mask is no constant
        assert 0.05 < np.nanmean(_read(outputs["opt_water_mask"], 1)) < 0.95


def test_sar_water_mask_matches_numpy_on_sentinel1(shared_data, tmp_path):
    """Backscatter in dB from the GeFolki Sentinel-1 patch (normalised amplitude; the
    calibration constant -10 dB is arbitrary): its water mask as documented."""
    amplitude = _read(shared_data / "sar_optical" / "S1_patch11.tif", 1)
    db = (20 * np.log10(amplitude) - 10).astype(np.float32)
    db[:5, :5] = np.nan  # nodata stays nodata
    path = tmp_path / "s1_db.tif"
    with rasterio.open(shared_data / "sar_optical" / "S1_patch11.tif") as src:
        profile = src.profile | {"count": 1, "nodata": np.nan}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(db, 1)
        dst.set_band_description(1, "s0_db_c_hh")
    out = tmp_path / "mask.tif"
    definition = band_math([path], SAR_EXAMPLE, out)
    assert definition.name == "sar_water_mask"
    expected = np.where(db <= -23, 1.0, 0.0)
    expected[:5, :5] = np.nan
    result = _read(out, 1)
    assert_array_equal(result, expected)
    assert 0.05 < np.nanmean(result) < 0.95


def test_band_math_names_assets_by_number_and_description(oscd, tmp_path):
    first = oscd["1.pan"].path
    out = tmp_path / "ndvi.tif"
    band_math([first], "ndvi:(norm_diff 1.b4 1.B04)", out)
    nir, red = _read(first, 4), _read(first, 3)
    assert_allclose(_read(out, 1), (nir - red) / (nir + red), rtol=1e-6)
    with rasterio.open(out) as ds:
        assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert ds.dtypes[0] == "float32" and ds.descriptions[0] == "ndvi"
    errors, _, structure = validate_cog(str(out), full_check=True)  # GDAL's COG validator
    assert not errors and "overview_0" in structure["ifd_offsets"]
    with pytest.raises(BandMathError, match="Unknown asset '1.B05'"):
        band_math([first], "(+ 1.B05 1)", tmp_path / "x.tif")
    assert not (tmp_path / "x.tif").exists()
    with pytest.raises(ValueError, match="would replace the input"):
        band_math([first], "(+ 1.b1 1)", first)


def test_the_same_mean_in_two_expressions_is_one_pass(oscd, tmp_path, monkeypatch):
    reads = []
    real = raster_math.read_on_grid
    monkeypatch.setattr(raster_math, "read_on_grid",
                        lambda ds, band, grid, *, nodata: reads.append(1) or real(
                            ds, band, grid, nodata=nodata))
    definitions = parse_definitions("a:(- 1.pan (mean 1.pan)); b:(/ 1.pan (mean  1.pan))")
    write_expressions(definitions, oscd, _grid(oscd["1.pan"].path),
                      {d.name: tmp_path / f"{d.name}.tif" for d in definitions})
    assert len(reads) == 3 + 3  # 3 strips for the mean, 3 for both outputs


def test_mean_is_computed_strip_by_strip(oscd, tmp_path, monkeypatch):
    """The first pass reads strips of at most BLOCK rows: no band is loaded whole."""
    heights = []
    real = raster_math.read_on_grid

    def spy(ds, band, grid, *, nodata):
        heights.append(grid.height)
        return real(ds, band, grid, nodata=nodata)

    monkeypatch.setattr(raster_math, "read_on_grid", spy)
    definitions = parse_definitions("d:(- 1.pan (mean (mean 1.pan)))")
    write_expressions(definitions, oscd, _grid(oscd["1.pan"].path), {"d": tmp_path / "d.tif"})
    assert max(heights) == BLOCK and len(heights) == 3 * 3  # two means, then the output
    pan = _read(oscd["1.pan"].path, 1 + 3)
    assert_allclose(_read(tmp_path / "d.tif", 1), pan - pan.astype(np.float64).mean(),
                    atol=1e-3)


def _grid(path):
    from coreg.core.io.raster_io import read_info
    return read_info(path).grid


# ------------------------------------------------------------------------ properties

ASSETS = {"1.a": np.array([[1, -2, 0], [np.nan, 5e30, 3]], np.float32),
          "2.b": np.array([[0, 0, 1], [2, -3, np.nan]], np.float32)}
SHAPE = (2, 3)


def _call(children, name: str, count: int):
    return st.lists(children, min_size=count, max_size=count).map(
        lambda args: f"({name} {' '.join(args)})")


def _tree(children):
    """Calls with the right number of arguments (mostly) or any number (sometimes)."""
    right = st.sampled_from(sorted(OPERATORS)).flatmap(
        lambda name: st.integers(OPERATORS[name].min_args,
                                 OPERATORS[name].max_args or OPERATORS[name].min_args + 2)
        .flatmap(lambda n: _call(children, name, n)))
    interp = st.lists(st.integers(-5, 5), min_size=1, max_size=3, unique=True).flatmap(
        lambda xs: st.tuples(children, st.just(sorted(xs)),
                             st.lists(st.integers(-5, 5), min_size=len(xs), max_size=len(xs)))
    ).map(lambda t: f"(interp {t[0]} (asarray {' '.join(map(str, t[1]))}) "
                    f"(asarray {' '.join(map(str, t[2]))}))")
    wrong = st.sampled_from(sorted(OPERATORS)).flatmap(
        lambda name: st.integers(0, 4).flatmap(lambda n: _call(children, name, n)))
    return st.one_of(right, right, interp, wrong)


EXPRESSIONS = st.recursive(
    st.one_of(st.sampled_from(["1.a", "2.b", "1.a", "2.b", "3.c"]),
              st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
              st.integers(-10**6, 10**6).map(str)),
    _tree, max_leaves=12)


def _run(text: str) -> None:
    """Parse and evaluate; the result, if any, is a float32 block of the right shape."""
    definition = parse_definition(text)
    means = {}
    for node in mean_nodes(definition.expression):
        means[node] = float(np.nanmean(evaluate_block(node.args[0], ASSETS, means, SHAPE)))
    result = evaluate_block(definition.expression, ASSETS, means, SHAPE)
    assert result.shape == SHAPE and result.dtype == np.float32


#: Audit events that running code, a program or a file would raise (PEP 578).
CODE_EVENTS = ("exec", "compile", "os.system", "os.exec", "os.posix_spawn",
               "subprocess.Popen", "open", "import")
_events: list[str] | None = None


def _audit(event: str, args) -> None:
    if _events is not None and event in CODE_EVENTS:
        _events.append(event)


sys.addaudithook(_audit)  # inert outside _no_code_run


def _no_code_run(text: str) -> None:
    """:func:`_run`, failing if it ran code, imported or opened anything."""
    global _events
    _events = []
    try:
        _run(text)
    finally:
        seen, _events = _events, None
        assert not seen, f"the band-math language ran code: {seen}"


# Hypothesis caches Unicode tables in .hypothesis/: keep them out of the tree.
HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="coreg-hypothesis-")
atexit.register(shutil.rmtree, HYPOTHESIS_HOME, True)
set_hypothesis_home_dir(HYPOTHESIS_HOME)
PROPERTY = settings(max_examples=120, deadline=None, database=None)


@PROPERTY
@given(st.text(max_size=60) | st.lists(st.sampled_from(
    [*"()+-*/<=>!&|.:; 0123456789eE_abnrz\n\t", *OPERATORS, "1.a", "2.b", "-23", "1e5"]),
    max_size=40).map("".join))
def test_random_text_raises_only_band_math_errors(text):
    try:
        _no_code_run(text)
    except BandMathError:
        pass


@PROPERTY
@given(EXPRESSIONS)
def test_random_well_formed_expressions_raise_only_band_math_errors(text):
    try:
        _no_code_run(f"out:{text}")
    except BandMathError:
        pass


def test_python_code_is_not_an_expression():
    for text in ("__import__('os').system('true')", "(exec 1)", "(eval 1.a)",
                 "(+ 1 (lambda x: x))", "(open 1.a)", "(__class__ 1.a)"):
        with pytest.raises(BandMathError):
            _no_code_run(text)
