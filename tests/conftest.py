"""Shared pytest set-up for the Coreg test suite.

Importable without QGIS: tests/core (plain pytest) only pays for what it uses.  QGIS is
imported lazily inside the fixtures that need it (the pytest-qgis fixtures ``qgis_app``,
``qgis_iface``, ``qgis_processing`` and ``qgis_new_project`` come from pytest-qgis).

What this file provides:

* the plugin package is importable as ``coreg`` (``import coreg.core...``) whatever the
  checkout folder is called;
* constants ``REPO_ROOT``, ``SHARED_DATA`` (= ``DATA``) and ``QGIS_PROCESS``;
* fixtures ``repo_root``, ``shared_data``, ``coreg_provider``, ``qgis_process_runner``
  and ``make_qgis_process_runner`` (see their docstrings);
* the ``slow`` marker (``make test`` runs ``-m "not slow"``, ``make test-slow`` the rest).
"""

import atexit
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PLUGIN_PACKAGE = "coreg"
SHARED_DATA = DATA = REPO_ROOT.parent / "shared" / "data"
QGIS_PROCESS = os.environ.get("COREG_QGIS_PROCESS", "/usr/bin/qgis_process.bin")
QGIS_PROCESS_TIMEOUT = 900  # seconds, for one qgis_process call

# Headless Qt, and no bytecode/__pycache__ written into the tree by the tests.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
# Never write GDAL .aux.xml side-car files next to the (shared, read-only) test data.
os.environ["GDAL_PAM_ENABLED"] = "NO"
sys.dont_write_bytecode = True
# pyproj in a venv looks for PROJ's data under the venv (sys.prefix) and finds none:
# point it at the system's (pyproj 3.7 on Debian 13 fails without it, 3.4 warns).
if not (os.environ.get("PROJ_DATA") or os.environ.get("PROJ_LIB")):
    _proj_data = Path(sys.base_prefix, "share", "proj")
    if (_proj_data / "proj.db").is_file():
        os.environ["PROJ_DATA"] = str(_proj_data)


def _private_tmpdir(prefix):
    """A 0700 temporary folder removed when the test process exits."""
    path = tempfile.mkdtemp(prefix=prefix)
    os.chmod(path, 0o700)
    atexit.register(shutil.rmtree, path, True)
    return path


if not os.environ.get("XDG_RUNTIME_DIR"):
    os.environ["XDG_RUNTIME_DIR"] = _private_tmpdir("coreg-xdg-")


def _register_plugin_package():
    """Make this checkout importable as the package ``coreg`` (QGIS imports it by folder
    name, and this folder may be called ``main`` or anything else), also in the worker
    processes tests start: a private folder holding a ``coreg`` symlink goes first on
    sys.path and PYTHONPATH."""
    module = sys.modules.get(PLUGIN_PACKAGE)
    if module is not None and Path(getattr(module, "__file__", "")).resolve().parent == REPO_ROOT:
        return
    packages = Path(_private_tmpdir("coreg-packages-"))
    (packages / PLUGIN_PACKAGE).symlink_to(REPO_ROOT, target_is_directory=True)
    sys.path.insert(0, str(packages))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(packages), *filter(None, [os.environ.get("PYTHONPATH")])])
    importlib.import_module(PLUGIN_PACKAGE)


_register_plugin_package()


def _hypothesis_without_database():
    """Hypothesis keeps no example database and its caches in a private temporary
    folder: nothing written into the checkout."""
    os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", _private_tmpdir("coreg-hypothesis-"))
    try:
        from hypothesis import settings
    except ImportError:
        return
    settings.register_profile("coreg", database=None)
    settings.load_profile("coreg")


_hypothesis_without_database()

# Ctrl+C reaches the tests and the processes they start as in a terminal's foreground,
# also when the suite runs as a shell's background job (which starts with SIGINT
# ignored, and the CLI keeps an ignored signal ignored).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: a check of scale or of installation taking tens of seconds, which "
                   "`make test` leaves to `make test-slow` (the suite stays within minutes)")


# --------------------------------------------------------------------------- data


@pytest.fixture(scope="session")
def repo_root():
    """Absolute path of the repository root (the plugin folder)."""
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data():
    """Path of ``<repo>/../shared/data``.  Fails (never skips) when it is missing."""
    if not SHARED_DATA.is_dir():
        pytest.fail(
            f"shared test data folder not found: {SHARED_DATA} "
            "(it must sit next to the repository as ../shared/data)",
            pytrace=False,
        )
    return SHARED_DATA


# ------------------------------------------------------------- provider in-process

# Module-level references: a provider that Python forgets is garbage-collected and its
# algorithms vanish from the registry.
_PROVIDERS = []


@pytest.fixture(scope="session")
def coreg_provider(qgis_processing):
    """The Coreg provider registered once per session in QGIS's processing registry.

    Request it (with pytest-qgis' ``qgis_processing``) before running
    ``processing.run("coreg:align_image", ...)``.  Returns the ``CoregProvider``.
    """
    from qgis.core import QgsApplication

    from coreg.provider.provider import CoregProvider

    registry = QgsApplication.processingRegistry()
    existing = registry.providerById("coreg")
    if existing is not None:
        _PROVIDERS.append(existing)
        yield existing
        return
    provider = CoregProvider()
    assert registry.addProvider(provider), "could not register the coreg provider"
    _PROVIDERS.append(provider)
    yield provider
    if registry.providerById("coreg") is provider:
        registry.removeProvider(provider)  # the registry deletes the C++ object
    _PROVIDERS.remove(provider)


# ---------------------------------------------------------------- qgis_process


class QgisProcessRunner:
    """Runs ``/usr/bin/qgis_process.bin`` headless in its own QGIS profile.

    ``runner(*args, timeout=QGIS_PROCESS_TIMEOUT)`` returns ``(returncode, stdout, stderr)``
    (text).  ``config_dir`` is passed as ``QGIS_CUSTOM_CONFIG_PATH`` (profile in
    ``<config_dir>/profiles/default``), ``plugin_path`` (optional) as ``QGIS_PLUGINPATH``.
    The Debian wrapper ``/usr/bin/qgis_process`` is not used: it adds
    ``--noversioncheck``, which qgis_process 3.22 rejects.
    """

    def __init__(self, config_dir, plugin_path=None, runtime_dir=None):
        self.config_dir = Path(config_dir)
        self.plugin_path = Path(plugin_path) if plugin_path is not None else None
        self.config_dir.mkdir(parents=True, exist_ok=True)
        if runtime_dir is None:
            runtime_dir = _private_tmpdir("coreg-qgis-xdg-")
        self.runtime_dir = Path(runtime_dir)
        env = dict(os.environ)
        # pytest-qgis points these at its own settings folder: never share it.
        for name in ("QGIS_CUSTOM_CONFIG_PATH", "QGIS_OPTIONS_PATH", "QGIS_PLUGINPATH"):
            env.pop(name, None)
        env.update(
            QGIS_CUSTOM_CONFIG_PATH=str(self.config_dir),
            QT_QPA_PLATFORM="offscreen",
            XDG_RUNTIME_DIR=str(self.runtime_dir),
            PYTHONDONTWRITEBYTECODE="1",
        )
        if self.plugin_path is not None:
            env["QGIS_PLUGINPATH"] = str(self.plugin_path)
        if sys.prefix != sys.base_prefix:  # a venv's packages (pystac...) after QGIS's own
            import site
            env["PYTHONPATH"] = os.pathsep.join(
                filter(None, [env.get("PYTHONPATH"), *site.getsitepackages()]))
        self.env = env

    def __call__(self, *args, timeout=QGIS_PROCESS_TIMEOUT):
        if not os.access(QGIS_PROCESS, os.X_OK):
            pytest.fail(f"{QGIS_PROCESS} not found: run `make deps`", pytrace=False)
        completed = subprocess.run(
            [QGIS_PROCESS, *[str(arg) for arg in args]],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
        )
        return completed.returncode, completed.stdout, completed.stderr

    def enable_plugin(self, name=PLUGIN_PACKAGE):
        """``qgis_process.bin plugins enable NAME``; "already enabled" counts as success."""
        returncode, stdout, stderr = self("plugins", "enable", name)
        if returncode != 0 and "already enabled" not in stdout + stderr:
            raise AssertionError(
                f"qgis_process plugins enable {name} failed ({returncode}):\n{stdout}\n{stderr}"
            )


@pytest.fixture(scope="session")
def make_qgis_process_runner(tmp_path_factory):
    """Factory ``(config_dir, plugin_path=None) -> QgisProcessRunner`` for custom profiles,
    e.g. a profile with the plugin unzipped into ``profiles/default/python/plugins``."""

    def make(config_dir, plugin_path=None):
        runtime_dir = tmp_path_factory.mktemp("xdg")
        runtime_dir.chmod(0o700)
        return QgisProcessRunner(config_dir, plugin_path, runtime_dir=runtime_dir)

    return make


@pytest.fixture(scope="session")
def qgis_process_runner(tmp_path_factory, make_qgis_process_runner):
    """``run(*args, timeout=...) -> (returncode, stdout, stderr)`` for qgis_process.bin with
    this checkout loaded as the ``coreg`` plugin, in a throwaway profile.

    Set up once per session: ``<tmp>/plugins/coreg -> repo root`` on ``QGIS_PLUGINPATH``,
    ``QGIS_CUSTOM_CONFIG_PATH=<tmp>/config`` and ``qgis_process.bin plugins enable coreg``
    (scripts/qgis_process_env.sh does the same for the shell).  Example::

        rc, out, err = qgis_process_runner("run", "coreg:align_image", "--json", "--",
                                           f"REFERENCE={ref}", ...)
    """
    base = tmp_path_factory.mktemp("qgis_process")
    plugins = base / "plugins"
    plugins.mkdir()
    (plugins / PLUGIN_PACKAGE).symlink_to(REPO_ROOT, target_is_directory=True)
    runner = make_qgis_process_runner(base / "config", plugin_path=plugins)
    runner.enable_plugin(PLUGIN_PACKAGE)
    return runner


# ------------------------------------------------------------------ Dask cluster


def _load_dask_cluster_script():
    """scripts/dask_cluster.py as a module (scripts/ is not a package)."""
    module = sys.modules.get("dask_cluster")
    if module is None:
        spec = importlib.util.spec_from_file_location(
            "dask_cluster", REPO_ROOT / "scripts" / "dask_cluster.py")
        module = sys.modules["dask_cluster"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


dask_cluster = _load_dask_cluster_script()


@pytest.fixture(scope="session")
def real_dask_cluster(tmp_path_factory):
    """A ``dask scheduler`` and two ``dask worker`` processes started as a cluster runs
    (scripts/dask_cluster.py: clean environment, own working folder), stopped at the end
    of the session: ``(cluster, hidden)``, where ``hidden`` is a folder the second worker
    sees empty (None where ``unshare`` cannot hide it)."""
    hidden = tmp_path_factory.mktemp("hidden_from_worker_1")
    hidden = hidden if dask_cluster.can_hide() else None
    with dask_cluster.running_cluster(2, hidden_from_last=hidden) as cluster:
        yield cluster, hidden


# ------------------------------------------------------------------- STAC servers


@pytest.fixture(scope="session")
def stac_site(tmp_path_factory, shared_data):
    """Real servers on 127.0.0.1 for the whole session (scripts/serve_stac.sh): nginx
    serving two STAC items made from the shared Sentinel-2 data and their COG assets
    (range requests, an access log), and rustac's STAC API holding the same items.
    ``{"data": StacData, "files": nginx URL, "log": access log, "api": API URL}``."""
    import stac_fixture

    folder = tmp_path_factory.mktemp("stac-site")
    port = stac_fixture.free_port()
    data = stac_fixture.build_stac(folder / "data", f"http://127.0.0.1:{port}")
    with stac_fixture.file_server(data.root, folder / "nginx", port) as (url, log), \
            stac_fixture.stac_api(data.root / "collection.json",
                                  data.root / "reference" / "item.json",
                                  data.root / "source" / "item.json") as api:
        yield {"data": data, "files": url, "log": log, "api": api}


@pytest.fixture
def no_map_canvas(monkeypatch):
    """search_stac without its EXTENT takes the map canvas's extent; the session's canvas
    (pytest-qgis's iface) is the one the panel tests moved. Without a canvas, as in
    qgis_process: the whole catalogue."""
    from coreg.algorithms import search_stac

    monkeypatch.setattr(search_stac, "canvas_extent", lambda crs: None)
