"""The engine as a Python library: the lazy public API of the root package, explicit
keywords and docstrings on the entry points, the generated API page, the package
definition, and a fresh virtual environment without QGIS that installs the package with
pip from PyPI and runs the README's example and ``coreg align-image`` (run with -s to
see its timings).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import coreg

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REFERENCE = DATA / "optical" / "oscd_s2" / "abudhabi_S2_20160120_B02-B03-B04-B08.tif"
SECONDARY = DATA / "optical" / "oscd_s2" / "abudhabi_S2_20180328_B02-B03-B04-B08.tif"
LYB_REF = DATA / "dem" / "longyearbyen" / "aligned_elev.tif"
LYB_DEM = DATA / "dem" / "longyearbyen" / "DEM_1995.tif"
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
ENTRY_POINTS = ("align_image", "align_local", "align_dem", "align_stack", "apply_alignment",
                "band_math", "rectify_swath")
HEAVY = ("numpy", "scipy", "rasterio", "pyproj", "click")
#: The fresh-environment test installs from PyPI (about 20 s here, rasterio's 36 MB wheel
#: included; the suite needs PyPI anyway, for .venv); COREG_OFFLINE=1 skips it.
NEEDS_PYPI = pytest.mark.skipif(os.environ.get("COREG_OFFLINE") == "1",
                                reason="needs PyPI (COREG_OFFLINE=1)")


@pytest.fixture(scope="module")
def home(tmp_path_factory, repo_root):
    """A folder holding only a ``coreg`` symlink to the checkout."""
    folder = tmp_path_factory.mktemp("library-home")
    (folder / "coreg").symlink_to(repo_root, target_is_directory=True)
    return folder


def python(home: Path, code: str, python: str = PYTHON, **kwargs) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([python, "-c", code], cwd=kwargs.pop("cwd", home), env=env,
                          capture_output=True, text=True, timeout=600, check=False, **kwargs)


def readme_example(repo_root: Path) -> str:
    text = (repo_root / "README.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- library-example[^>]*-->\n```python\n(.*?)```", text, re.S)
    assert match, "README has no library-example block"
    return match.group(1)


def example_folder(folder: Path) -> Path:
    """The README example's inputs: reference.tif and secondary.tif, the Abu Dhabi pair."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "reference.tif").symlink_to(REFERENCE)
    (folder / "secondary.tif").symlink_to(SECONDARY)
    return folder


# ----------------------------------------------------------------------- the public API


def test_import_coreg_imports_nothing_heavy_until_a_name_is_used(home):
    completed = python(home, f"""
import sys
import coreg
heavy = {HEAVY!r}
loaded = lambda: sorted(m for m in sys.modules if m.split('.')[0] in heavy)
print(loaded())
assert callable(coreg.classFactory)
coreg.align_image
print(loaded())
""")
    assert completed.returncode == 0, completed.stderr
    before, after = completed.stdout.splitlines()
    assert before == "[]"
    assert "numpy" in after and "rasterio" in after


def test_a_missing_dependency_breaks_neither_the_plugin_entry_nor_the_error_message(home):
    """QGIS without rasterio: classFactory is still there (the plugin reports what is
    missing); a public name raises the ImportError; the command line says it in a line."""
    blocker = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in ('numpy', 'rasterio', 'scipy', 'pyproj'):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
"""
    completed = python(home, blocker + """
import coreg
assert callable(coreg.classFactory)
assert not hasattr(coreg, 'qCleanupResources')  # what QGIS's plugin unloader asks
try:
    coreg.align_image
except ImportError as exc:
    print('ImportError', exc.name)
import runpy
runpy.run_module('coreg', run_name='__main__', alter_sys=True)
""")
    assert completed.stdout.strip() == "ImportError numpy", completed.stderr
    assert completed.returncode == 1
    assert completed.stderr.startswith("coreg: error: No module named")
    assert "Traceback" not in completed.stderr


def test_all_lists_every_public_name_and_each_resolves():
    assert set(coreg.__all__) == {*coreg._EXPORTS, "__version__"}
    for name in coreg.__all__:
        value = getattr(coreg, name)
        assert value is not None, name
        assert name in dir(coreg)
    for name in ENTRY_POINTS:
        assert getattr(coreg, name).__module__.startswith("coreg.core."), name
    assert issubclass(coreg.CoregInputError, coreg.CoregError)
    assert coreg.CoregOutputError.exit_code == 3
    with pytest.raises(AttributeError):
        coreg.no_such_name  # noqa: B018


def _keywords(function) -> dict[str, object]:
    return {p.name: p.default for p in inspect.signature(function).parameters.values()
            if p.kind is p.KEYWORD_ONLY}


#: Estimator options an entry point builds from one of its own: the Dask client from the
#: scheduler's address (the entry point connects, checks the workers and closes it).
GIVEN_AS = {"client": "dask_scheduler", "read_ahead": "output_mode"}


def test_entry_points_take_every_option_of_what_they_forward_to():
    """align_image, align_dem and align_stack name their options instead of **options: a
    new option of the estimator must be added to them (with the same default)."""
    from coreg.core.stack.stack import StackOptions

    for entry, estimator in ((coreg.align_image, coreg.estimate_alignment),
                             (coreg.align_dem, coreg.estimate_dem_alignment)):
        assert not any(p.kind is p.VAR_KEYWORD
                       for p in inspect.signature(entry).parameters.values())
        options, own = _keywords(estimator), _keywords(entry)
        for name, default in options.items():
            if name in GIVEN_AS:  # the entry point makes it from another option
                assert GIVEN_AS[name] in own, (entry.__name__, GIVEN_AS[name])
                continue
            assert name in own and own[name] == default, (entry.__name__, name)
    stack = _keywords(coreg.align_stack)
    for option in dataclasses.fields(StackOptions):
        assert stack[option.name] == option.default, option.name


def _documented(function) -> set[str]:
    """Parameter names in the numpy-style Parameters section of the docstring."""
    doc = inspect.getdoc(function) or ""
    match = re.search(r"^Parameters\n-+\n(.*?)(?:^\w[\w ]*\n-+\n|\Z)", doc, re.S | re.M)
    assert match, f"{function.__name__} has no Parameters section"
    names = set()
    for line in match.group(1).splitlines():
        if line and not line.startswith(" "):
            names.update(n.strip() for n in line.split(" : ")[0].split(","))
    return names


@pytest.mark.parametrize("name", ENTRY_POINTS)
def test_entry_points_document_every_parameter(name):
    function = getattr(coreg, name)
    parameters = set(inspect.signature(function).parameters)
    assert parameters <= _documented(function), parameters - _documented(function)
    doc = inspect.getdoc(function)
    assert "\nReturns\n-------\n" in doc and "\nRaises\n------\n" in doc


def test_api_page_is_generated_from_the_current_docstrings(repo_root):
    completed = subprocess.run([sys.executable, str(repo_root / "scripts" / "make_api_docs.py"),
                                "--check"], capture_output=True, text=True, timeout=300,
                               check=False)
    assert completed.returncode == 0, completed.stderr
    page = (repo_root / "docs" / "api.md").read_text(encoding="utf-8")
    for name in ENTRY_POINTS:
        assert f"### `coreg.{name}`" in page


def test_align_dem_protects_its_exclusion_rasters(tmp_path):
    exclusion = tmp_path / "unstable.tif"
    shutil.copyfile(LYB_DEM, exclusion)
    before = exclusion.read_bytes()
    with pytest.raises(coreg.CoregOutputError, match="Unstable terrain"):
        coreg.align_dem(LYB_REF, LYB_DEM, exclusion, exclude=[exclusion])
    assert exclusion.read_bytes() == before


def assert_abu_dhabi_shift(stdout: str) -> None:
    """The README example's printed shift: the Abu Dhabi pair's known misregistration,
    about 0.5 px E-W and 1.3 px N-S (../shared/data/optical/MANIFEST.md), within 0.1 px."""
    match = re.match(r"shift (-?\d+\.\d+), (-?\d+\.\d+) px", stdout)
    assert match, stdout
    assert abs(float(match[1]) + 0.5) < 0.1 and abs(float(match[2]) + 1.3) < 0.1, stdout


def test_readme_example_runs_on_the_checkout(home, repo_root, tmp_path):
    folder = example_folder(tmp_path / "example")
    (folder / "example.py").write_text(readme_example(repo_root), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(home)}
    completed = subprocess.run([PYTHON, "example.py"], cwd=folder, env=env,
                               capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr
    assert_abu_dhabi_shift(completed.stdout)
    assert "no reliable alignment (5)" in completed.stdout
    for name in ("aligned.tif", "report.json", "secondary_again.tif"):
        assert (folder / name).is_file(), name


# ------------------------------------------------------------------- the package itself


def _pyproject(repo_root: Path) -> dict:
    tomllib = pytest.importorskip("tomllib")
    with open(repo_root / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def test_pyproject_ships_the_engine_and_the_command_line(repo_root):
    project = _pyproject(repo_root)
    assert project["project"]["name"] == "coreg"
    assert project["project"]["scripts"] == {"coreg": "coreg.cli:main"}
    from coreg.provider.dependencies import REQUIRED_PACKAGES

    # One list of what the engine needs (the plugin's), plus the command line's click.
    declared = set(project["project"]["dependencies"])
    assert {f"{r.pip}>={r.minimum}" for r in REQUIRED_PACKAGES} | {"click>=7.0"} == declared
    assert "dask[distributed]" in project["project"]["optional-dependencies"]["dask"]
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["sources"] == {"": "coreg"}
    for entry in wheel["only-include"]:
        assert (repo_root / entry).exists(), entry
    for plugin_part in ("plugin.py", "algorithms", "provider", "ui", "tests"):
        assert plugin_part not in wheel["only-include"]
    # What Coreg sends to Dask workers is the wheel's engine (core/stack/cluster.py).
    from coreg.core.stack.cluster import ENGINE_FILES, ENGINE_FOLDERS

    assert {*ENGINE_FILES, *ENGINE_FOLDERS} <= set(wheel["only-include"])
    version = project["tool"]["hatch"]["version"]
    text = (repo_root / version["path"]).read_text(encoding="utf-8")
    assert re.search(version["pattern"], text).group("version") == coreg.__version__


# ------------------------------------------------------------- fresh virtual environment


def _copy_sources(repo_root: Path, target: Path) -> Path:
    """What the sdist holds (pyproject's list), copied: a tree pip can build from that
    has no tests, no plugin parts, no .git."""
    for entry in _pyproject(repo_root)["tool"]["hatch"]["build"]["targets"]["sdist"][
            "only-include"]:
        source = repo_root / entry
        if source.is_dir():
            shutil.copytree(source, target / entry,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            target.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target / entry)
    return target


@pytest.mark.slow
@NEEDS_PYPI
def test_fresh_venv_without_qgis_installs_the_package_and_runs_it(repo_root, tmp_path):
    """A virtual environment of Debian's Python without its site packages (so no QGIS,
    no Debian numpy): pip installs the package and its dependencies from PyPI; the
    README's example and ``coreg align-image`` then run on the OSCD pair."""
    timings = {}
    start = time.monotonic()
    env_dir = tmp_path / "venv"
    subprocess.run([PYTHON, "-m", "venv", str(env_dir)], check=True, timeout=300)
    bin_dir = env_dir / "bin"
    timings["venv"] = time.monotonic() - start
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PROJ_DATA", "PROJ_LIB", "GDAL_DATA")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"

    def run(*args, cwd=tmp_path, timeout=900) -> subprocess.CompletedProcess:
        return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                              text=True, timeout=timeout, check=False)

    source = _copy_sources(repo_root, tmp_path / "source")
    start = time.monotonic()
    installed = run(bin_dir / "python", "-m", "pip", "install", source)
    timings["pip install"] = time.monotonic() - start
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]

    no_qgis = run(bin_dir / "python", "-c", "import qgis")
    assert no_qgis.returncode != 0 and "No module named 'qgis'" in no_qgis.stderr
    layout = run(bin_dir / "python", "-c", """
import coreg, os, sys
root = os.path.dirname(coreg.__file__)
print(root.startswith(sys.prefix), sorted(os.listdir(root)))
""")
    assert layout.returncode == 0, layout.stderr
    assert layout.stdout.startswith("True ")
    for shipped in ("__init__.py", "__main__.py", "cli.py", "core", "py.typed"):
        assert f"'{shipped}'" in layout.stdout, shipped
    for left_out in ("plugin.py", "algorithms", "provider", "ui", "metadata.txt"):
        assert f"'{left_out}'" not in layout.stdout, left_out

    example = example_folder(tmp_path / "example")
    (example / "example.py").write_text(readme_example(repo_root), encoding="utf-8")
    start = time.monotonic()
    ran = run(bin_dir / "python", "example.py", cwd=example)
    timings["README example"] = time.monotonic() - start
    assert ran.returncode == 0, ran.stderr
    assert_abu_dhabi_shift(ran.stdout)

    start = time.monotonic()
    cli = run(bin_dir / "coreg", "align-image", REFERENCE, SECONDARY, "-o",
              tmp_path / "aligned.tif", "--band-ref", 4, "--band-sec", 4, "--json")
    timings["coreg align-image"] = time.monotonic() - start
    assert cli.returncode == 0, cli.stderr
    assert (tmp_path / "aligned.tif").is_file()
    report = json.loads(cli.stdout)
    own = run(bin_dir / "python", "-c", f"""
import json, coreg
a = coreg.align_image({str(REFERENCE)!r}, {str(SECONDARY)!r}, reference_band=4,
                      secondary_band=4)
print(json.dumps([a.shift_x_px, a.shift_y_px]))
""")
    assert own.returncode == 0, own.stderr
    shift_x, shift_y = json.loads(own.stdout)
    assert report["shift_x_px"] == pytest.approx(shift_x, abs=1e-9)
    assert report["shift_y_px"] == pytest.approx(shift_y, abs=1e-9)
    # PyPI's numpy / GDAL against Debian's: the same shift within a thousandth of a pixel.
    debian = coreg.estimate_alignment(REFERENCE, SECONDARY, reference_band=4,
                                      secondary_band=4)
    assert shift_x == pytest.approx(debian.shift_x_px, abs=1e-3)
    assert shift_y == pytest.approx(debian.shift_y_px, abs=1e-3)

    missing = run(bin_dir / "coreg", "align-image", tmp_path / "nope.tif", SECONDARY, "-o",
                  tmp_path / "x.tif")
    assert missing.returncode == 2 and missing.stderr.startswith("coreg: error: ")
    collision = run(bin_dir / "python", "-m", "coreg", "align-image", tmp_path / "aligned.tif",
                    SECONDARY, "-o", tmp_path / "aligned.tif")
    assert collision.returncode == 3 and "Traceback" not in collision.stderr
    print("fresh venv timings (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
