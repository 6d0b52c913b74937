"""The Coreg Processing provider (id ``coreg``)."""

import importlib
import importlib.util
import os
import traceback

from qgis.core import Qgis, QgsMessageLog, QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from . import dependencies
from .dependencies import missing_dependencies_message
from .unavailable import UnavailableAlgorithm, algorithm_name, display_name

PROVIDER_ID = "coreg"
PROVIDER_NAME = "Coreg"
LOG_TAG = "Coreg"

_PLUGIN_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ICON_PATH = os.path.join(_PLUGIN_DIR, "resources", "icon.svg")

# Every algorithm of the provider, as (module relative to the plugin package, class name).
# Adding an algorithm is one line here; the module name is the algorithm's name().
# Modules are imported only when every dependency is present, so a missing
# rasterio never breaks QGIS: stand-ins say what to install instead.
ALGORITHMS = (
    ("..algorithms.align_image", "AlignImageAlgorithm"),
    ("..algorithms.apply_alignment", "ApplyAlignmentAlgorithm"),
    ("..algorithms.align_dem", "AlignDemAlgorithm"),
    ("..algorithms.align_stack", "AlignStackAlgorithm"),
    ("..algorithms.band_math", "BandMathAlgorithm"),
    ("..algorithms.coregistered_stack", "CoregisteredStackAlgorithm"),
    ("..algorithms.rectify_swath", "RectifySwathAlgorithm"),
    ("..algorithms.align_local", "AlignLocalAlgorithm"),
    ("..algorithms.align_items", "AlignItemsAlgorithm"),
    ("..algorithms.search_stac", "SearchStacAlgorithm"),
)


def _plugin_version():
    """Read ``version`` from metadata.txt (no configparser interpolation surprises)."""
    try:
        with open(os.path.join(_PLUGIN_DIR, "metadata.txt"), encoding="utf-8") as handle:
            for line in handle:
                key, sep, value = line.partition("=")
                if sep and key.strip() == "version":
                    return value.strip()
    except OSError:
        pass
    return ""


class CoregProvider(QgsProcessingProvider):
    """Processing provider holding the Coreg algorithms."""

    def __init__(self):
        super().__init__()
        # Missing or too old packages found by the last loadAlgorithms().
        self.problems = []
        # Errors of the last loadAlgorithms(): list of (class name, message).
        self.load_errors = []

    def id(self):
        return PROVIDER_ID

    def name(self):
        return PROVIDER_NAME

    def longName(self):
        version = _plugin_version()
        return f"{PROVIDER_NAME} {version}".strip()

    def versionInfo(self):
        return _plugin_version()

    def icon(self):
        return QIcon(ICON_PATH)

    def svgIconPath(self):
        return ICON_PATH

    def warningMessage(self):
        # Shown by the Processing toolbox next to the provider.
        return missing_dependencies_message(self.problems) if self.problems else ""

    def loadAlgorithms(self):
        self.load_errors = []
        # Missing or too old (read from the installed metadata), else installed but not
        # importable (a broken build, a DLL conflict): every algorithm needs them all, and
        # the engine imports some only when a run needs them (pyproj: another CRS).
        self.problems = dependencies.dependency_problems() or dependencies.import_problems()
        missing = bool(self.problems)  # then no algorithm module can be imported
        if missing:
            self._log_problems()
        for module_name, class_name in ALGORITHMS:
            if missing:
                self._add_stand_in(module_name, class_name)
                continue
            # One broken algorithm must not hide the others: log it and go on.
            try:
                module = importlib.import_module(module_name, package=__package__)
                algorithm = getattr(module, class_name)()
                if not self.addAlgorithm(algorithm):
                    raise RuntimeError("QgsProcessingProvider.addAlgorithm() refused it")
            except Exception as error:
                full_name = importlib.util.resolve_name(module_name, __package__)
                message = (
                    f"Could not load {full_name}.{class_name}: {error!r}\n{traceback.format_exc()}"
                )
                self.load_errors.append((class_name, message))
                QgsMessageLog.logMessage(message, LOG_TAG, Qgis.MessageLevel.Critical)

    def _log_problems(self):
        QgsMessageLog.logMessage(
            missing_dependencies_message(self.problems), LOG_TAG, Qgis.MessageLevel.Warning)

    def _add_stand_in(self, module_name, class_name):
        """An algorithm that lists, in canExecute(), what to install before it can run."""
        self.addAlgorithm(UnavailableAlgorithm(
            algorithm_name(module_name), display_name(class_name),
            missing_dependencies_message(self.problems)))
