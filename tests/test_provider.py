"""The Processing provider, the dependency check and the plugin object."""

import importlib.util
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

from coreg.provider import dependencies
from coreg.provider import provider as provider_module

ALIGN_IMAGE_ID = "coreg:align_image"


def _load_errors(provider):
    return "\n".join(message for _name, message in getattr(provider, "load_errors", []))


# ------------------------------------------------------------------ registration


def test_provider_registers_with_id_coreg(coreg_provider):
    from qgis.core import QgsApplication

    registry = QgsApplication.processingRegistry()
    assert registry.providerById("coreg") is not None
    assert coreg_provider.id() == "coreg"
    assert coreg_provider.name() == "Coreg"
    assert coreg_provider.longName().startswith("Coreg")
    assert Path(coreg_provider.svgIconPath()).is_file()
    assert not coreg_provider.icon().isNull()


def test_provider_lists_align_image(coreg_provider):
    from qgis.core import QgsApplication

    ids = [algorithm.id() for algorithm in coreg_provider.algorithms()]
    assert ALIGN_IMAGE_ID in ids, (
        f"{ALIGN_IMAGE_ID} not loaded; provider algorithms: {ids}\n{_load_errors(coreg_provider)}"
    )
    assert QgsApplication.processingRegistry().algorithmById(ALIGN_IMAGE_ID) is not None
    assert _load_errors(coreg_provider) == ""


def test_qgis_process_lists_align_image(qgis_process_runner):
    returncode, stdout, stderr = qgis_process_runner("--json", "list")
    assert returncode == 0, stderr
    providers = json.loads(stdout)["providers"]
    assert "coreg" in providers, f"providers: {sorted(providers)}\n{stderr}"
    assert providers["coreg"]["name"] == "Coreg"
    assert ALIGN_IMAGE_ID in providers["coreg"]["algorithms"], stderr


# -------------------------------------------------------------- dependency check


def _fake_find_spec(missing):
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name in missing:
            return None
        return real_find_spec(name, *args, **kwargs)

    return find_spec


def test_no_dependency_missing_here():
    # The test machine installs every dependency (make deps).
    assert dependencies.missing_dependencies() == []
    assert dependencies.missing_dependencies_message() == ""


def test_missing_dependency_message_names_fake_package(monkeypatch):
    fake = dependencies.Requirement("coreg_fake_mod", "coreg-fake-dist", "python3-coregfake", "1.0")
    monkeypatch.setattr(dependencies, "REQUIRED_PACKAGES", (*dependencies.REQUIRED_PACKAGES, fake))
    monkeypatch.setattr(
        dependencies.importlib.util, "find_spec", _fake_find_spec({"coreg_fake_mod", "affine"})
    )
    missing = dependencies.missing_dependencies()
    assert missing == ["affine", "coreg_fake_mod"]

    message = dependencies.missing_dependencies_message()
    assert "affine (not found), coreg-fake-dist (not found)" in message
    assert "apt install python3-affine python3-coregfake" in message
    assert 'python -m pip install "affine>=2.0" "coreg-fake-dist>=1.0"' in message
    assert "OSGeo4W" in message
    for present in ("rasterio", "scipy", "pyproj", "numpy"):
        assert present not in message


def test_find_spec_errors_count_as_missing(monkeypatch):
    def broken_find_spec(name, *args, **kwargs):
        raise ValueError(f"{name}.__spec__ is None")

    monkeypatch.setattr(dependencies.importlib.util, "find_spec", broken_find_spec)
    assert dependencies.missing_dependencies() == [
        requirement.module for requirement in dependencies.REQUIRED_PACKAGES
    ]


def test_dependency_check_imports_nothing_heavy():
    # Checking must not import the packages (slow, and may crash QGIS when broken).
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('deps', {str(dependencies.__file__)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "mod.missing_dependencies()\n"
        "heavy = [m for m in ('rasterio', 'affine', 'scipy', 'pyproj', 'numpy') "
        "if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------- provider robustness


class _FreshProvider(provider_module.CoregProvider):
    """Same provider under another id, so tests never clash with the session one."""

    def id(self):
        return "coreg_test_fresh"


def _problems(*modules):
    """Problems as dependency_problems() reports them for missing ``modules``."""
    return [dependencies.Problem(requirement, None)
            for requirement in dependencies.REQUIRED_PACKAGES if requirement.module in modules]


def test_provider_loads_stand_ins_when_dependency_missing(qgis_processing, monkeypatch):
    monkeypatch.setattr(dependencies, "dependency_problems",
                        lambda: _problems("rasterio", "affine"))
    provider = _FreshProvider()
    provider.refreshAlgorithms()
    names = [algorithm.name() for algorithm in provider.algorithms()]
    assert names == sorted(module.rsplit(".", 1)[-1] for module, _ in provider_module.ALGORITHMS)
    for algorithm in provider.algorithms():
        can_execute, reason = algorithm.canExecute()
        assert not can_execute
        assert "rasterio (not found), affine (not found)" in reason
    assert "rasterio (not found), affine (not found)" in provider.warningMessage()


def test_broken_algorithm_is_logged_and_others_still_load(qgis_processing, monkeypatch):
    from qgis.core import QgsProcessingAlgorithm

    class WorkingAlgorithm(QgsProcessingAlgorithm):
        def name(self):
            return "working"

        def displayName(self):  # noqa: N802
            return "Working"

        def createInstance(self):  # noqa: N802
            return WorkingAlgorithm()

        def initAlgorithm(self, config=None):  # noqa: N802
            pass

        def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
            return {}

    fake_module = types.ModuleType("coreg._test_fake_algorithms")
    fake_module.WorkingAlgorithm = WorkingAlgorithm
    monkeypatch.setitem(sys.modules, "coreg._test_fake_algorithms", fake_module)
    monkeypatch.setattr(
        provider_module,
        "ALGORITHMS",
        (
            ("..algorithms.does_not_exist", "NoSuchAlgorithm"),
            (".._test_fake_algorithms", "WorkingAlgorithm"),
        ),
    )
    monkeypatch.setattr(dependencies, "dependency_problems", lambda: [])

    logged = []
    monkeypatch.setattr(
        provider_module.QgsMessageLog,
        "logMessage",
        staticmethod(lambda message, tag="", level=None, *a: logged.append((message, tag))),
    )

    provider = _FreshProvider()
    provider.refreshAlgorithms()
    assert [algorithm.name() for algorithm in provider.algorithms()] == ["working"]
    assert [name for name, _message in provider.load_errors] == ["NoSuchAlgorithm"]
    assert any(
        "coreg.algorithms.does_not_exist" in message and tag == "Coreg" for message, tag in logged
    )


def test_algorithm_table_points_at_align_image():
    assert ("..algorithms.align_image", "AlignImageAlgorithm") in provider_module.ALGORITHMS


# ------------------------------------------------------------------- plugin object


@pytest.fixture
def plugin_factory(qgis_iface, qgis_processing, monkeypatch):
    """Build CoregPlugin objects whose provider uses a test id (no clash with the
    session provider); unloads whatever the test left behind."""
    import coreg
    from coreg import plugin as plugin_module

    monkeypatch.setattr(plugin_module, "CoregProvider", _FreshProvider)
    created = []

    def make(missing=()):
        monkeypatch.setattr(dependencies, "dependency_problems", lambda: _problems(*missing))
        plugin = coreg.classFactory(qgis_iface)
        created.append(plugin)
        return plugin

    yield make
    for plugin in created:
        plugin.unload()


def _bar_texts(iface):
    return [item.text() for item in iface.messageBar().items()]


def test_plugin_registers_and_unloads_provider(plugin_factory, qgis_iface):
    from qgis.core import QgsApplication

    registry = QgsApplication.processingRegistry()
    plugin = plugin_factory()
    plugin.initGui()
    assert registry.providerById("coreg_test_fresh") is plugin.provider
    assert plugin.dependency_installer.item is None
    assert not any("Coreg needs " in text for text in _bar_texts(qgis_iface))

    plugin.initProcessing()  # QGIS may call it again: no second provider
    assert registry.providerById("coreg_test_fresh") is plugin.provider

    plugin.unload()
    assert registry.providerById("coreg_test_fresh") is None
    assert plugin.provider is None


def test_plugin_reports_missing_dependencies_once(plugin_factory, qgis_iface):
    plugin = plugin_factory(missing=("rasterio", "affine"))
    plugin.initGui()
    texts = [text for text in _bar_texts(qgis_iface) if "Coreg needs " in text]
    assert len(texts) == 1
    assert "rasterio (not found), affine (not found)" in texts[0]
    assert len(texts[0]) <= 64  # one line: the GDAL note is behind Details

    plugin.unload()
    assert not any("Coreg needs " in text for text in _bar_texts(qgis_iface))
