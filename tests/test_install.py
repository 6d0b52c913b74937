"""Dependency bootstrap: stand-in algorithms, the Install message bar, pip into a private
folder (a real package from PyPI), failures, and the diagnostics text."""

import ast
import importlib
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_wheels import wheel as _wheel
from qgis.core import Qgis

from coreg.provider import dependencies, installer
from coreg.provider import provider as provider_module
from coreg.provider.unavailable import algorithm_name

SMALL_PACKAGE, SMALL_MODULE = "tomli-w", "tomli_w"  # pure Python, ~10 kB, not on Debian 12


class _FreshProvider(provider_module.CoregProvider):
    def id(self):
        return "coreg_test_install"


def _wait_until(condition, timeout=180):
    from qgis.PyQt.QtCore import QCoreApplication

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the install task")
        QCoreApplication.processEvents()
        time.sleep(0.02)


def _buttons(item):
    from qgis.PyQt.QtWidgets import QPushButton

    return {button.text(): button for button in item.findChildren(QPushButton)}


def _coreg_items(iface):
    return [item for item in iface.messageBar().items() if item.title() == "Coreg"]


@pytest.fixture
def plugin(qgis_iface, qgis_processing, monkeypatch):
    """A CoregPlugin (provider under a test id) unloaded after the test."""
    import coreg
    from coreg import plugin as plugin_module

    monkeypatch.setattr(plugin_module, "CoregProvider", _FreshProvider)
    made = []

    def make():
        made.append(coreg.classFactory(qgis_iface))
        return made[-1]

    yield make
    for item in made:
        item.unload()


# ------------------------------------------------------------- hidden dependency

ENGINE = Path(dependencies.__file__).resolve().parents[1] / "core"
SAMPLE = Path(dependencies.__file__).resolve().parents[1] / "sample"


def _engine_imports():
    """Top-level names of the third-party modules imported by core/**/*.py: (imported at
    module level, imported only inside a function or a try); ``if TYPE_CHECKING:``
    blocks are not imports."""
    at_load, guarded = set(), set()  # (the engine's own modules are imported relatively)

    def visit(node, inside):
        for child in ast.iter_child_nodes(node):
            if (isinstance(child, ast.If) and isinstance(child.test, ast.Name)
                    and child.test.id == "TYPE_CHECKING"):
                continue  # for type checkers only: never imported when running
            names = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom) and child.level == 0:
                names = [child.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names:
                    (guarded if inside else at_load).add(top)
            visit(child, inside or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Try)))

    for path in ENGINE.rglob("*.py"):
        visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return at_load, guarded


def test_engine_imports_no_qgis():
    """core/ runs without QGIS: it imports neither qgis nor the plugin parts that do
    (relative imports reach no further than core/ itself)."""
    offenders = []
    for path in ENGINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level > 1 + len(path.relative_to(ENGINE).parts) - 1:
                    offenders.append(f"{path.name}: from {'.' * node.level}{node.module}")
                names = [node.module or ""] if node.level == 0 else []
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names
                          if n.split(".")[0] in ("qgis", "PyQt5", "PyQt6")]
    assert offenders == []


def test_required_packages_are_exactly_what_the_engine_imports():
    at_load, guarded = _engine_imports()
    required = {requirement.module for requirement in dependencies.REQUIRED_PACKAGES}
    optional = {requirement.module for requirement, _ in dependencies.OPTIONAL_PACKAGES}
    assert at_load == required  # each required package is imported, nothing else is
    assert guarded - at_load == optional  # the rest only where it is used, if present
    assert "skimage" not in at_load | guarded
    # The Debian names are what `make deps` installs, and what the messages tell.
    makefile = (ENGINE.parent / "Makefile").read_text(encoding="utf-8")
    apt = makefile.split("APT_PACKAGES :=", 1)[1].split("\n\n", 1)[0]
    for requirement in dependencies.REQUIRED_PACKAGES:
        assert requirement.debian in apt.split()
    assert "python3-skimage" not in apt
    # Nor do the install instructions name what the engine does not import.
    for text in ("metadata.txt", "README.md"):
        for line in (ENGINE.parent / text).read_text(encoding="utf-8").splitlines():
            if re.search(r"apt install|pip install|conda install|Needs the Python|Coreg needs",
                         line):
                assert not re.search(r"skimage|scikit", line), line


_IMPORT_ENGINE_WITHOUT = """
import importlib, importlib.abc, json, pkgutil, sys

class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

HIDDEN = sys.argv[1]
sys.modules.pop(HIDDEN, None)
sys.meta_path.insert(0, Hide())
import coreg.core
failures = {}
for info in pkgutil.walk_packages(coreg.core.__path__, "coreg.core."):
    try:
        importlib.import_module(info.name)
    except ImportError as error:
        failures[info.name] = str(error)
print(json.dumps({"failures": failures, "loaded": HIDDEN in sys.modules}))
"""


def _import_engine_without(module):
    completed = subprocess.run([sys.executable, "-c", _IMPORT_ENGINE_WITHOUT, module],
                               capture_output=True, text=True, timeout=300, check=False)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.splitlines()[-1])


@pytest.mark.parametrize("module", [r.module for r in dependencies.REQUIRED_PACKAGES])
def test_engine_cannot_be_imported_without_a_required_package(module):
    result = _import_engine_without(module)
    assert result["failures"], f"the engine imports without {module}: not required"
    assert any(repr(module) in message for message in result["failures"].values())


@pytest.mark.parametrize("module", ["skimage"] + [
    requirement.module for requirement, _ in dependencies.OPTIONAL_PACKAGES])
def test_engine_imports_without_an_optional_package(module):
    assert _import_engine_without(module) == {"failures": {}, "loaded": False}


def test_hidden_scikit_image_leaves_the_algorithms_working(plugin, qgis_iface, monkeypatch,
                                                           tmp_path, forget_engine):
    """The real algorithms load afresh with scikit-image hidden, and one runs."""
    import processing

    monkeypatch.setitem(sys.modules, "skimage", None)  # as if it were not installed
    assert dependencies.dependency_problems() == []
    coreg_plugin = plugin()
    coreg_plugin.initGui()
    provider = coreg_plugin.provider
    assert provider.load_errors == [] and provider.problems == []
    assert all(algorithm.canExecute()[0] for algorithm in provider.algorithms())
    assert _coreg_items(qgis_iface) == []  # nothing to offer
    reference, secondary = sorted(SAMPLE.glob("*_crop.tif"))
    result = processing.run("coreg_test_install:align_image", {
        "REFERENCE": str(reference), "REFERENCE_BAND": 4, "SECONDARY": str(secondary),
        "TRANSFORM": 0, "OUTPUT": str(tmp_path / "aligned.tif"),
        "SHIFT_VECTORS": "TEMPORARY_OUTPUT", "REPORT": str(tmp_path / "report.json")})
    assert Path(result["OUTPUT"]).is_file()
    assert "shift_x_map" in json.loads((tmp_path / "report.json").read_text())
    assert sys.modules["skimage"] is None  # never imported


def test_hidden_rasterio_gives_stand_ins_and_install_offer(plugin, qgis_iface, monkeypatch):
    import processing
    from qgis.core import QgsApplication, QgsProcessingException

    # As if rasterio were not installed: find_spec() returns None, import fails.
    monkeypatch.setitem(sys.modules, "rasterio", None)
    with pytest.raises(ImportError):
        importlib.import_module("rasterio")

    coreg_plugin = plugin()
    coreg_plugin.initGui()

    registry = QgsApplication.processingRegistry()
    provider = registry.providerById("coreg_test_install")
    assert provider is coreg_plugin.provider
    names = sorted(algorithm.name() for algorithm in provider.algorithms())
    assert names == sorted(algorithm_name(module) for module, _ in provider_module.ALGORITHMS)
    for algorithm in provider.algorithms():
        can_execute, reason = algorithm.canExecute()
        assert can_execute is False
        assert "rasterio (not found)" in reason
        assert "scipy" not in reason.split(".")[0]  # only what is missing is named

    with pytest.raises(QgsProcessingException, match="rasterio"):
        processing.run("coreg_test_install:align_image", {})

    items = _coreg_items(qgis_iface)
    assert len(items) == 1
    assert "rasterio (not found)" in items[0].text()
    assert {"Install…", "Details"} <= set(_buttons(items[0]))
    entry = coreg_plugin.diagnostics
    qgis_iface.addPluginToRasterMenu.assert_any_call("&Coreg", entry.action)
    entry.action.trigger()  # the menu works without the dependencies
    dialog = entry.dialog
    assert dialog.isVisible()
    assert "Missing, too old or broken: rasterio (not found)" in dialog.text.toPlainText()
    assert dialog.install_button is not None  # for when the message bar was closed
    dialog.close()

    coreg_plugin.unload()
    assert registry.providerById("coreg_test_install") is None
    assert _coreg_items(qgis_iface) == []


def _stub_package(folder, module):
    """A package ``module`` in ``folder`` whose import fails, like a broken install."""
    (folder / module).mkdir(parents=True)
    (folder / module / "__init__.py").write_text(
        f"raise ImportError('{module} stub: hidden by the test')\n")
    return folder


def _reimported(name):
    return name.split(".")[0] == "pyproj" or name.startswith(("coreg.core", "coreg.algorithms"))


@pytest.fixture
def forget_engine():
    """Drop the engine, the algorithms and pyproj from sys.modules so that they are
    imported again; afterwards put back exactly the modules (and the package attributes
    pointing at them) that were there, so later tests see one copy of each class."""
    saved = {name: module for name, module in sys.modules.items() if _reimported(name)}
    for name in saved:
        del sys.modules[name]
    yield
    for name in [name for name in sys.modules if _reimported(name)]:
        del sys.modules[name]
    sys.modules.update(saved)
    for name, module in saved.items():
        parent, _, child = name.rpartition(".")
        if parent in sys.modules:
            setattr(sys.modules[parent], child, module)


def test_stub_that_fails_to_import_gives_stand_ins(plugin, qgis_iface, monkeypatch, tmp_path,
                                                    forget_engine):
    # find_spec() sees the stub, so only importing it reveals the problem.
    monkeypatch.syspath_prepend(str(_stub_package(tmp_path / "stubs", "pyproj")))
    assert dependencies.dependency_problems() == []

    coreg_plugin = plugin()
    coreg_plugin.initGui()
    provider = coreg_plugin.provider
    assert provider.load_errors == []
    stand_ins = {algorithm.name(): algorithm.canExecute()
                 for algorithm in provider.algorithms() if not algorithm.canExecute()[0]}
    # Every algorithm needs pyproj (another CRS), though the engine imports it only then.
    assert "align_image" in stand_ins
    assert len(stand_ins) == len(provider.algorithms())
    for _ok, reason in stand_ins.values():
        assert "pyproj (cannot be imported: ImportError: pyproj stub" in reason
    [item] = _coreg_items(qgis_iface)
    assert "pyproj (cannot be imported" in item.text()
    assert "Install…" in _buttons(item)


def test_qgis_process_run_says_what_to_install(qgis_process_runner, tmp_path):
    """Headless, a pyproj that fails to import: the plugin loads, the algorithm is
    listed and running it names the package instead of a traceback."""
    stubs = _stub_package(tmp_path / "stubs", "pyproj")
    saved = qgis_process_runner.env.get("PYTHONPATH")
    qgis_process_runner.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(stubs), saved]))
    try:
        returncode, stdout, stderr = qgis_process_runner("run", "coreg:align_image", "--")
    finally:
        if saved is None:
            qgis_process_runner.env.pop("PYTHONPATH")
        else:
            qgis_process_runner.env["PYTHONPATH"] = saved
    assert returncode != 0
    assert "pyproj (cannot be imported: ImportError: pyproj stub" in stderr
    assert 'python -m pip install "pyproj>=3.0"' in stderr
    assert "Traceback" not in stdout + stderr


def test_too_old_package_is_reported_with_versions(plugin, qgis_iface, monkeypatch):
    import scipy  # noqa: F401 - loaded, as in a QGIS session that used it

    real = dependencies.installed_version
    monkeypatch.setattr(dependencies, "installed_version",
                        lambda req: "1.5.2" if req.module == "scipy" else real(req))
    problems = dependencies.dependency_problems()
    assert [problem.describe() for problem in problems] == ["scipy 1.5.2 (needs 1.6 or newer)"]
    assert problems[0].loaded  # scipy is imported: a restart is needed after upgrading
    assert problems[0].pip_spec() == "scipy>=1.6"

    coreg_plugin = plugin()
    coreg_plugin.initGui()
    [item] = _coreg_items(qgis_iface)
    assert "scipy 1.5.2 (needs 1.6 or newer)" in item.text()
    assert "own GDAL" not in item.text()  # the rasterio warning only when rasterio is needed


def test_missing_rasterio_offer_explains_gdal_in_details(qgis_iface, tmp_path):
    from coreg.provider.environment import qgis_gdal_version
    from coreg.ui.installer import MAX_TEXT, DependencyInstaller

    rasterio_req = next(r for r in dependencies.REQUIRED_PACKAGES if r.module == "rasterio")
    deps = DependencyInstaller(qgis_iface, userbase=tmp_path)
    item = deps.offer([dependencies.Problem(rasterio_req, None)])
    assert item.text() == "Coreg needs rasterio (not found)."
    assert len(item.text()) <= MAX_TEXT and "GDAL" not in item.text()
    _buttons(item)["Details"].click()
    details = deps.details.text.toPlainText()
    assert 'python -m pip install "rasterio>=1.2"' in details  # by hand, if preferred
    assert "sudo apt install python3-rasterio" in details  # this machine is Debian
    assert "brings its own GDAL" in details
    assert f"the GDAL QGIS has already loaded ({qgis_gdal_version()})" in details
    deps.unload()


def test_every_installed_distribution_is_pinned_for_pip():
    import numpy
    import scipy

    pins = dependencies.installed_pins()
    assert f"numpy=={numpy.__version__}" in pins  # loaded: pip must keep this version
    assert f"scipy=={scipy.__version__}" in pins
    names = [pin.split("==")[0].lower() for pin in pins]
    assert len(names) == len(set(names))  # one pin per project
    # Not loaded, yet installed: pinned all the same (pip must not replace it either).
    installed = dependencies.installed_distributions()
    assert "pip" in installed and f"pip=={installed['pip'][1]}" in pins
    assert len(pins) >= len(installed) - 3  # all but unpinnable versions
    # What is being installed or upgraded is left free.
    assert not any(pin.lower().startswith("scipy==")
                   for pin in dependencies.installed_pins(["SciPy"]))


def test_version_tuple():
    assert dependencies.version_tuple("1.10.0rc1") == (1, 10, 0)
    assert dependencies.version_tuple("0.19.3") > dependencies.version_tuple("0.18")
    assert dependencies.version_tuple("2.0") > dependencies.version_tuple("1.26.4")
    assert dependencies.version_tuple("unknown") == ()


def test_every_algorithm_is_named_after_its_module(coreg_provider):
    # The stand-ins take their ids from the module names: one source of truth.
    names = {algorithm.name() for algorithm in coreg_provider.algorithms()}
    for module, _class_name in provider_module.ALGORITHMS:
        assert algorithm_name(module) in names


# ------------------------------------------------------------------- interpreter


def test_finds_qgis_python_not_the_path_one(tmp_path):
    python = installer.find_interpreter()
    probe = subprocess.run(
        [str(python), "-c", "import site, sys; print(sys.version); print(sys.base_prefix); "
         "print(site.getusersitepackages())"],
        capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONUSERBASE": str(tmp_path)})
    version, prefix, user_site = probe.stdout.splitlines()
    assert version == sys.version
    assert os.path.realpath(prefix) == os.path.realpath(sys.base_prefix)
    # pip --user with PYTHONUSERBASE installs where activate() looks.
    assert user_site == str(installer.site_packages(tmp_path))


def test_sys_executable_and_path_python_are_not_trusted(monkeypatch, tmp_path):
    # Inside QGIS sys.executable is the qgis binary; on PATH there may be another Python
    # of the same minor version (here a pyenv shim): neither may run pip for QGIS.
    monkeypatch.setattr(sys, "executable", "/usr/bin/qgis_process.bin")
    assert installer.find_interpreter().name.startswith("python")
    other = tmp_path / "python3"  # a Python 3.x that is not QGIS's
    other.write_text("#!/bin/sh\necho 3.11.99; echo /opt/other; echo /opt/other/site\n")
    other.chmod(0o755)
    monkeypatch.setattr(installer, "interpreter_candidates", lambda: [other])
    with pytest.raises(installer.InstallerError, match="runs another Python"):
        installer.find_interpreter()


# ------------------------------------------------------------- pip from PyPI


@pytest.fixture
def installed_module_cleanup():
    saved_path = list(sys.path)
    yield
    sys.path[:] = saved_path
    for name in [name for name in sys.modules if name.split(".")[0] == SMALL_MODULE]:
        del sys.modules[name]
    importlib.invalidate_caches()


def test_install_click_installs_from_pypi_and_loads_algorithms_without_restart(
        plugin, qgis_iface, tmp_path, monkeypatch, installed_module_cleanup):
    """The whole path with a small real package standing in for a missing dependency:
    Install click -> pip's plan with the download size -> Install click -> pip (QGIS's
    Python, private folder) -> progress -> the installed list -> the real algorithms
    replace the stand-ins -> the module imports, no restart."""
    import numpy  # noqa: F401 - loaded, as usual in QGIS: pip must keep this version
    assert importlib.util.find_spec(SMALL_MODULE) is None, f"{SMALL_MODULE} already installed"
    needed = dependencies.Requirement(SMALL_MODULE, SMALL_PACKAGE, "python3-tomli-w", "1.0")
    monkeypatch.setattr(dependencies, "REQUIRED_PACKAGES",
                        (*dependencies.REQUIRED_PACKAGES, needed))
    userbase = tmp_path / "coreg-deps"
    monkeypatch.setattr(installer, "default_userbase", lambda: userbase)

    coreg_plugin = plugin()
    coreg_plugin.initGui()
    provider = coreg_plugin.provider
    deps = coreg_plugin.dependency_installer
    assert all(not algorithm.canExecute()[0] for algorithm in provider.algorithms())
    [offer] = _coreg_items(qgis_iface)
    assert "tomli-w (not found)" in offer.text()
    _buttons(offer)["Details"].click()
    assert str(userbase) in deps.details.text.toPlainText()
    assert not userbase.exists()  # nothing installed before the click

    _buttons(offer)["Install…"].click()
    [asking] = _coreg_items(qgis_iface)
    assert asking.text() == "Asking pip what tomli-w needs…"
    _wait_until(lambda: deps.item is not asking)
    [plan] = _coreg_items(qgis_iface)
    assert deps.task.succeeded, deps.task.output
    assert [dependencies.canonical_name(p.name) for p in deps.task.packages] == [SMALL_PACKAGE]
    name = deps.task.packages[0].name  # as its metadata spells it
    version, size = deps.task.packages[0].version, deps.task.packages[0].size
    assert 1000 < size < 100_000  # a HEAD request to PyPI's file host
    assert plan.text() == f"Download {size / 1000:.1f} kB to install {name} {version}?"
    assert importlib.util.find_spec(SMALL_MODULE) is None  # still nothing installed
    assert "numpy==" in (userbase / "constraints.txt").read_text()  # loaded numpy is kept

    _buttons(plan)["Install"].click()
    task = deps.task
    progress = []
    task.progressChanged.connect(progress.append)
    [running] = _coreg_items(qgis_iface)
    assert f"Installing {name}" in running.text()
    _wait_until(lambda: deps.item is not running)
    assert task.succeeded, task.output
    assert progress and max(progress) == 100 and min(progress) < 100
    [done] = _coreg_items(qgis_iface)
    assert done.level() == Qgis.MessageLevel.Success
    assert done.text() == f"Installed {name} {version}; no restart needed."

    assert provider.problems == []
    assert all(algorithm.canExecute()[0] for algorithm in provider.algorithms())
    assert "align_image" in {algorithm.name() for algorithm in provider.algorithms()}
    module = importlib.import_module(SMALL_MODULE)  # same process, no restart
    assert module.dumps({"a": 1}).strip() == "a = 1"
    assert str(installer.site_packages(userbase)) in module.__file__


# ------------------------------------------------------- offline, a local index


@pytest.fixture
def local_index(tmp_path, monkeypatch):
    """pip sees only a folder of wheels made here (no network, no pip configuration):
    coregfake-a 2.0 needs numpy>=99 (offered as a fake numpy 99 wheel), coregfake-a 1.0
    needs any numpy and coregfake-b."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    made = {
        "a2": _wheel(wheels, "coregfake-a", "2.0", ["numpy>=99", "coregfake-b"], 30_000),
        "a1": _wheel(wheels, "coregfake-a", "1.0", ["numpy>=1.0", "coregfake-b>=1.0"], 20_000),
        "b": _wheel(wheels, "coregfake-b", "1.0", [], 10_000),
        "numpy": _wheel(wheels, "numpy", "99.0", [], 50_000),
    }
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    yield made
    for name in [name for name in sys.modules if name.startswith("coregfake")]:
        del sys.modules[name]


def _plan(specs, userbase, pins):
    task = installer.PipPlanTask(specs, userbase, pins=pins)
    assert task.run(), task.output
    return task


def test_plan_installs_only_what_is_missing(local_index, tmp_path):
    """pip's dry-run report, within pins of everything installed: the missing package and
    its missing dependency, never a replacement of the installed numpy; sizes from the
    wheel files."""
    pins = dependencies.installed_pins(["coregfake-a"])
    plan = _plan(["coregfake-a"], tmp_path / "deps", pins)
    assert plan.planned
    assert [(p.name, p.version, p.requested) for p in plan.packages] == [
        ("coregfake-a", "1.0", True), ("coregfake-b", "1.0", False)]
    assert [p.size for p in plan.packages] == [
        local_index["a1"].stat().st_size, local_index["b"].stat().st_size]
    installed = dependencies.installed_distributions()
    assert not [p.name for p in plan.packages if dependencies.canonical_name(p.name) in installed]
    assert not (tmp_path / "deps" / "lib").exists()  # a plan installs nothing
    # Without the pins pip takes the newest coregfake-a and replaces numpy for it, as it
    # replaced Debian's scipy for scikit-image.
    unpinned = _plan(["coregfake-a"], tmp_path / "deps", [])
    assert {(p.name, p.version) for p in unpinned.packages} == {
        ("coregfake-a", "2.0"), ("coregfake-b", "1.0"), ("numpy", "99.0")}
    assert installer.total_size(plan.packages) == installer.format_size(
        local_index["a1"].stat().st_size + local_index["b"].stat().st_size)


def test_install_shows_the_size_first_and_lists_what_it_installed(
        local_index, qgis_iface, qgis_app, tmp_path, installed_module_cleanup):
    from coreg.ui.installer import MAX_TEXT, DependencyInstaller

    userbase = tmp_path / "deps"
    deps = DependencyInstaller(qgis_iface, userbase=userbase, problems=lambda: [])
    deps.install(["coregfake-a"])
    _wait_until(lambda: not deps.running)
    [plan] = _coreg_items(qgis_iface)
    size = installer.format_size(local_index["a1"].stat().st_size
                                 + local_index["b"].stat().st_size)
    assert plan.text() == f"Download {size} to install coregfake-a 1.0 + 1 more?"
    assert len(plan.text()) <= MAX_TEXT
    assert set(_buttons(plan)) == {"Install", "Details"}
    _buttons(plan)["Details"].click()
    details = deps.details.text.toPlainText()
    assert "  coregfake-a 1.0  (" in details and "  coregfake-b 1.0  (" in details
    assert "numpy" not in details.split("Download:")[0]
    assert not (userbase / "lib").exists()

    _buttons(plan)["Install"].click()
    task = deps.task
    assert task.specs == ["coregfake-a==1.0", "coregfake-b==1.0"] and task.no_deps
    _wait_until(lambda: not deps.running)
    [done] = _coreg_items(qgis_iface)
    assert done.level() == Qgis.MessageLevel.Success
    assert done.text() == "Installed coregfake-a 1.0, coregfake-b 1.0; no restart needed."
    _buttons(done)["Details"].click()
    details = deps.details.text.toPlainText()
    assert f"Downloaded: {size}." in details
    site = installer.site_packages(userbase)
    assert sorted(p.name for p in site.iterdir() if p.name.endswith(".dist-info")) == [
        "coregfake_a-1.0.dist-info", "coregfake_b-1.0.dist-info"]  # numpy left alone
    assert importlib.import_module("coregfake_a").__version__ == "1.0"
    deps.unload()


# ------------------------------------------- a profile copy hiding the system's one


def _profile_with(userbase, *wheels):
    """Unpack ``wheels`` into Coreg's folder as pip would (files, dist-info, RECORD)."""
    import zipfile

    site = installer.site_packages(userbase)
    site.mkdir(parents=True, exist_ok=True)
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(site)
    return site


def test_profile_copy_unused_once_the_system_provides_it(plugin, qgis_iface, tmp_path,
                                                          monkeypatch, installed_module_cleanup):
    """As after `apt install python3-rasterio` following a PyPI install: the system's
    copy is used (the folder stays off sys.path), and one click deletes the folder."""
    import affine

    userbase = tmp_path / "coreg-deps"
    site = _profile_with(userbase, _wheel(tmp_path, "affine", "9.9", padding=2000))
    monkeypatch.setattr(installer, "default_userbase", lambda: userbase)
    [shadowed], needed = installer.profile_copies(userbase)
    assert (shadowed.requirement.pip, shadowed.profile, shadowed.system, needed) == (
        "affine", "9.9", affine.__version__, False)

    coreg_plugin = plugin()
    assert coreg_plugin.profile_unused and str(site) not in sys.path
    coreg_plugin.initGui()
    [item] = _coreg_items(qgis_iface)
    assert item.text() == (f"Coreg uses the system's affine {affine.__version__}; its PyPI "
                           "copy is unused.")
    assert {"Remove", "Details"} <= set(_buttons(item))
    _buttons(item)["Details"].click()
    assert f"affine {affine.__version__} in " in \
        coreg_plugin.dependency_installer.details.text.toPlainText()
    _buttons(item)["Remove"].click()
    assert not userbase.exists()
    [done] = _coreg_items(qgis_iface)
    assert done.level() == Qgis.MessageLevel.Success
    assert done.text().startswith("Deleted Coreg's PyPI copies (2.")


def test_profile_copy_hiding_the_system_one_is_removed_in_one_click(
        plugin, qgis_iface, tmp_path, monkeypatch, installed_module_cleanup):
    """The folder still holds a package the system lacks, so it is used, and its copy of
    affine wins over the system's: the bar says so; Remove deletes that copy only."""
    userbase = tmp_path / "coreg-deps"
    site = _profile_with(userbase, _wheel(tmp_path, "affine", "9.9"),
                         _wheel(tmp_path, "coregfake-a", "1.0"))
    only_here = dependencies.Requirement("coregfake_a", "coregfake-a", "python3-x", "1.0")
    monkeypatch.setattr(dependencies, "REQUIRED_PACKAGES",
                        (*dependencies.REQUIRED_PACKAGES, only_here))
    monkeypatch.setattr(installer, "default_userbase", lambda: userbase)
    coreg_plugin = plugin()
    assert not coreg_plugin.profile_unused and str(site) in sys.path
    coreg_plugin.initGui()
    [item] = _coreg_items(qgis_iface)
    assert item.text() == "Coreg's PyPI affine 9.9 hides the system's copy."
    _buttons(item)["Remove"].click()
    [done] = _coreg_items(qgis_iface)
    assert done.text() == "Removed affine 9.9: restart QGIS to use the system's."
    assert sorted(path.name for path in site.iterdir()) == [
        "coregfake_a", "coregfake_a-1.0.dist-info"]
    assert installer.profile_copies(userbase) == ([], True)


def test_bad_package_name_ends_in_failure_message_with_pip_output(qgis_iface, qgis_app, tmp_path):

    from coreg.ui.installer import DependencyInstaller

    bad = "coreg-no-such-package-7f3a"
    deps = DependencyInstaller(qgis_iface, userbase=tmp_path / "deps")
    task = deps.install([bad])
    assert deps.install([bad]) is task  # a second click while pip runs starts nothing
    _wait_until(lambda: deps.item is not None and "Cannot" in deps.item.text())
    [item] = _coreg_items(qgis_iface)
    assert item.level() == Qgis.MessageLevel.Critical
    assert item.text() == f"Cannot install {bad}: no build for this platform."
    assert "Retry" in _buttons(item)
    _buttons(item)["Details"].click()
    assert deps.details.isVisible()
    details = deps.details.text.toPlainText()
    assert f"ERROR: No matching distribution found for {bad}" in details
    assert "install it with your QGIS distribution's package manager" in details
    assert not (tmp_path / "deps" / "lib").exists()
    deps.unload()


def test_canceled_install_says_so_and_offers_retry(qgis_iface, qgis_app, tmp_path):
    from coreg.ui.installer import DependencyInstaller

    deps = DependencyInstaller(qgis_iface, userbase=tmp_path / "deps")
    task = deps.install(["coreg-no-such-package-7f3a"])
    task.cancel()  # from the task manager, at once
    _wait_until(lambda: not deps.running)
    [item] = _coreg_items(qgis_iface)
    assert "canceled" in item.text()
    assert {"Retry", "Details"} <= set(_buttons(item))
    deps.unload()


def test_outcome_says_when_a_restart_or_a_manual_install_is_needed(qgis_iface, tmp_path):
    import types

    import scipy  # noqa: F401 - loaded: an upgrade on disk needs a restart

    from coreg.ui.installer import MAX_TEXT, DependencyInstaller

    scipy_req, rasterio_req = (next(r for r in dependencies.REQUIRED_PACKAGES if r.module == m)
                               for m in ("scipy", "rasterio"))
    many = [installer.Package(f"package-number-{k}", "1.0.0") for k in range(12)]
    task = types.SimpleNamespace(succeeded=True, specs=["scipy>=1.6"], output="", error="",
                                 packages=[installer.Package("scipy", "1.11.4"), *many])
    cases = {
        "; restart QGIS to finish.":
            [dependencies.Problem(scipy_req, "1.5.2")],
        "; rasterio fails: restart QGIS.":
            [dependencies.Problem(rasterio_req, "1.3.9", "ImportError: DLL load failed")],
        " more; no restart needed.": [],
    }
    for expected, problems in cases.items():
        deps = DependencyInstaller(qgis_iface, userbase=tmp_path, problems=lambda p=problems: p)
        _level, text, details = deps._outcome(task)
        assert expected in text, text
        assert text.startswith("Installed scipy 1.11.4") and len(text) <= MAX_TEXT, text
        for package in many:  # every installed package is listed, in the details
            assert f"  {package}" in details


def test_gdal_of_rasterio_is_worded_from_what_runs():
    from coreg.provider.environment import RasterioGdal

    inside_qgis = RasterioGdal("3.6.2", "3.6.2", True, "3.10.3")
    assert inside_qgis.short() == "rasterio runs on QGIS's GDAL 3.6.2."
    assert inside_qgis.describe().startswith("3.6.2, QGIS's: inside QGIS it takes the place "
                                             "of the GDAL 3.10.3 that the rasterio wheel")
    plain = RasterioGdal("3.10.3", "3.6.2", True, "3.10.3")
    assert plain.short() == "rasterio runs on its own GDAL 3.10.3, QGIS on GDAL 3.6.2."
    assert plain.describe() == "3.10.3, the rasterio wheel's own, not QGIS's 3.6.2"
    debian = RasterioGdal("3.6.2", "3.6.2", False, None)
    assert debian.describe() == "3.6.2, the same GDAL as QGIS"


def test_bundled_gdal_version_from_the_wheel_layout(tmp_path):
    from coreg.provider.environment import bundled_gdal

    linux = tmp_path / "linux"
    (linux / "rasterio").mkdir(parents=True)
    (linux / "rasterio.libs").mkdir()
    (linux / "rasterio.libs" / "libgdal-c8c9c467.so.36.3.10.3").write_bytes(b"")
    (linux / "rasterio.libs" / "libgeos-1269e1bd.so.3.14.1").write_bytes(b"")
    assert bundled_gdal(linux / "rasterio") == (True, "3.10.3")
    mac = tmp_path / "mac" / "rasterio" / ".dylibs"
    mac.mkdir(parents=True)
    (mac / "libgdal.36.3.10.3.dylib").write_bytes(b"")
    assert bundled_gdal(mac.parent) == (True, "3.10.3")
    windows = tmp_path / "win"
    (windows / "rasterio").mkdir(parents=True)
    (windows / "rasterio.libs").mkdir()
    (windows / "rasterio.libs" / "gdal-1a2b3c.dll").write_bytes(b"")
    assert bundled_gdal(windows / "rasterio") == (True, None)
    import rasterio

    assert bundled_gdal(Path(rasterio.__file__).parent) == (False, None)  # Debian's


def test_pip_uses_the_proxy_set_in_qgis(qgis_app, tmp_path, monkeypatch):
    from qgis.core import QgsNetworkAccessManager
    from qgis.PyQt.QtNetwork import QNetworkProxy

    for name in ("HTTPS_PROXY", "https_proxy", "PIP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    manager = QgsNetworkAccessManager.instance()
    saved = manager.fallbackProxy(), manager.excludeList(), manager.noProxyList()
    try:
        manager.setFallbackProxyAndExcludes(
            QNetworkProxy(QNetworkProxy.HttpProxy, "proxy.example", 3128, "ana", "p@ss"), [], [])
        url = installer.qgis_proxy_url()
        manager.setFallbackProxyAndExcludes(QNetworkProxy(QNetworkProxy.NoProxy), [], [])
        assert installer.qgis_proxy_url() == ""
    finally:
        manager.setFallbackProxyAndExcludes(*saved)
    assert url == "http://ana:p%40ss@proxy.example:3128"
    assert installer.pip_environment(tmp_path, url)["PIP_PROXY"] == url
    monkeypatch.setenv("HTTPS_PROXY", "http://other:8080")  # the user's own setting wins
    assert "PIP_PROXY" not in installer.pip_environment(tmp_path, url)


def test_failure_advice():
    assert "pip" in installer.next_step_advice("/usr/bin/python3: No module named pip")
    assert "proxy" in installer.next_step_advice("Connection to pypi.org timed out")
    assert installer.summarize_failure("x\nERROR: boom\ny") == "ERROR: boom"


# ------------------------------------------------------------------- diagnostics


def test_diagnostics_lists_real_versions(qgis_app):
    import affine
    import numpy
    import pyproj
    import rasterio
    import scipy
    from osgeo import gdal
    from qgis.PyQt.QtWidgets import QApplication

    from coreg.ui.diagnostics import DiagnosticsDialog, diagnostics_text

    text = diagnostics_text()
    lines = dict(line.split(":", 1) for line in text.splitlines())
    lines = {key.strip(): value.strip() for key, value in lines.items()}
    assert lines["QGIS"] == Qgis.version()
    assert lines["GDAL (QGIS)"] == gdal.__version__
    assert lines["GDAL (rasterio)"] == f"{rasterio.__gdal_version__}, the same GDAL as QGIS"
    for module in (numpy, scipy, affine, pyproj, rasterio):  # each from Debian here
        folder = Path(module.__file__).parent.parent
        assert lines[module.__name__] == f"{module.__version__} (system: {folder})"
    for requirement, _purpose in dependencies.OPTIONAL_PACKAGES:
        assert lines[requirement.pip].startswith(dependencies.installed_version(requirement))
    assert lines["Python"].startswith(sys.version.split()[0])
    assert lines["Reprojection (rasterio)"] == "ok"
    assert lines["Python interpreter"] == str(installer.find_interpreter())
    assert lines["Missing, too old or broken"] == "nothing"

    dialog = DiagnosticsDialog()
    dialog.copy()
    assert QApplication.clipboard().text() == dialog.text.toPlainText()
    assert dialog.install_button is None  # nothing to install here


def test_plan_that_would_replace_an_installed_package_is_refused(local_index, qgis_iface,
                                                                  qgis_app, tmp_path):
    """Only a version needing numpy 99 exists: pip would have to replace the installed
    numpy, which the pins forbid; the bar says so and installs nothing."""
    from fake_wheels import wheel

    from coreg.ui.installer import DependencyInstaller

    wheels = local_index["a1"].parent
    wheel(wheels, "coregfake-c", "1.0", ["numpy>=99"])
    deps = DependencyInstaller(qgis_iface, userbase=tmp_path / "deps", problems=lambda: [])
    deps.install(["coregfake-c"])
    _wait_until(lambda: not deps.running)
    [item] = _coreg_items(qgis_iface)
    assert item.level() == Qgis.MessageLevel.Critical
    assert item.text() == "Cannot install coregfake-c: no version fits what is installed."
    _buttons(item)["Details"].click()
    assert "never replaces" in deps.details.text.toPlainText()
    assert not (tmp_path / "deps" / "lib").exists()
    deps.unload()
