"""Stand-ins for Coreg's algorithms while their Python packages are missing.

The real algorithm modules import the core (rasterio, scipy, ...) at module level, so
they cannot be imported without those packages.  The provider registers one stand-in per
``ALGORITHMS`` entry instead, under the same id: the toolbox lists it, and a model or a
``qgis_process run`` that uses it is told by ``canExecute`` what to install, instead of
"algorithm not found".
"""

from __future__ import annotations

import re

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException


def algorithm_name(module_name: str) -> str:
    """The algorithm id inside the provider: its module's name (``..algorithms.align_dem``
    -> ``align_dem``); tests check that every real algorithm follows this rule."""
    return module_name.rsplit(".", 1)[-1]


def display_name(class_name: str) -> str:
    """``AlignDemAlgorithm`` -> ``Align dem`` (the real names need the real module)."""
    words = re.findall(r"[A-Z][a-z0-9]*", re.sub(r"Algorithm$", "", class_name))
    return " ".join(words).capitalize() if words else class_name


class UnavailableAlgorithm(QgsProcessingAlgorithm):
    """An algorithm that cannot run: ``canExecute`` returns False and says why."""

    def __init__(self, name: str, display: str, reason: str):
        super().__init__()
        self._name, self._display, self._reason = name, display, reason

    def name(self) -> str:
        return self._name

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return f"{self._display} (needs Python packages)"

    def group(self) -> str:
        return "Coregistration"

    def groupId(self) -> str:  # noqa: N802 - QGIS API
        return "coregistration"

    def shortHelpString(self) -> str:  # noqa: N802 - QGIS API
        return self._reason

    def createInstance(self):  # noqa: N802 - QGIS API
        return UnavailableAlgorithm(self._name, self._display, self._reason)

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        pass  # parameters are defined by the real algorithm

    def canExecute(self):  # noqa: N802 - QGIS API
        return False, self._reason

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS API
        raise QgsProcessingException(self._reason)
