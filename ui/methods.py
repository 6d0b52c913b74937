"""Which Processing algorithm runs each method of the dialog, and with which parameters.

The dialog collects one set of choices; each algorithm receives only the parameters it
declares, so a method appears (and works) as soon as its algorithm is registered.
"""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qgis.core import QgsApplication, QgsProcessingAlgorithm, QgsProcessingOutputLayerDefinition

#: The qgis_process launchers, preferred first: Debian's ``qgis_process`` wrapper adds
#: ``--noversioncheck``, which its qgis_process 3.22 rejects; ``qgis_process.bin`` beside
#: it is the program itself.
QGIS_PROCESS_NAMES = ("qgis_process.bin", "qgis_process")


@dataclass(frozen=True)
class Method:
    """One entry of the method list: an algorithm, fixed parameter values and key names."""

    label: str
    algorithm_id: str
    fixed: dict = field(default_factory=dict)
    secondary_key: str = "SECONDARY"
    mask_key: str = "MASK"
    #: Output holding the shift vectors drawn as arrows, if the algorithm writes one,
    #: and what its layer is called.
    vectors_key: str | None = "SHIFT_VECTORS"
    vectors_name: str = "shift vectors"
    #: Whether the algorithm reads one band of each raster (DEMs are single-band).
    uses_bands: bool = True

    @property
    def key(self) -> str:
        """Stable identifier for the settings (algorithm id plus fixed values)."""
        fixed = ",".join(f"{k}={v}" for k, v in sorted(self.fixed.items()))
        return f"{self.algorithm_id}[{fixed}]" if fixed else self.algorithm_id


METHODS = (
    Method("Global (shift, rotation)", "coreg:align_image"),
    Method("Local: tie-point grid", "coreg:align_local", {"METHOD": 0},
           vectors_key="TIE_POINTS", vectors_name="tie points"),
    Method("Local: dense optical flow", "coreg:align_local", {"METHOD": 1},
           vectors_key="TIE_POINTS", vectors_name="tie points"),
    Method("Automatic: one affine field unless the tie points show distortion",
           "coreg:align_local", {"METHOD": 2}, vectors_key="TIE_POINTS",
           vectors_name="tie points"),
    Method("DEM (Nuth & Kääb)", "coreg:align_dem", secondary_key="DEM",
           mask_key="EXCLUDE", vectors_key=None, uses_bands=False),
)

#: File written for each destination parameter, as a suffix of the chosen output name.
DESTINATION_SUFFIXES = {"OUTPUT": ".tif", "SHIFT_VECTORS": "_shift_vectors.gpkg",
                        "TIE_POINTS": "_tie_points.gpkg", "DISPLACEMENT": "_displacement.tif",
                        "UNCERTAINTY": "_uncertainty.tif", "DH_OUTPUT": "_dh.tif",
                        "REPORT": "_report.json", "REPORT_PAGE": "_report.html"}


def available_methods() -> list[Method]:
    """The methods whose algorithm is registered in Processing now."""
    registry = QgsApplication.processingRegistry()
    return [m for m in METHODS if registry.algorithmById(m.algorithm_id) is not None]


def algorithm(method: Method) -> QgsProcessingAlgorithm | None:
    return QgsApplication.processingRegistry().algorithmById(method.algorithm_id)


@dataclass
class Choices:
    """What the user chose in the dialog, independent of any algorithm."""

    reference: str
    secondary: str
    output: str
    reference_band: int = 1
    secondary_band: int = 1
    mask: str | None = None
    max_shift: float = 20.0
    resampling: int = 2
    advanced: dict = field(default_factory=dict)


def has_file_name(output: str) -> bool:
    """Whether ``output`` names a file (not a folder, not a path still being typed as
    ``/`` or ``/data/``)."""
    return bool(output) and not output.endswith(("/", os.sep)) and bool(Path(output).name) \
        and not os.path.isdir(output)


def destinations(output: str) -> dict[str, str]:
    """Every destination file derived from the chosen output raster path; only OUTPUT
    (as typed) while the path names no file yet."""
    if not has_file_name(output):
        return {"OUTPUT": output}
    base = Path(output)
    if not base.suffix:  # typed without an extension: GeoTIFF
        base = base.with_suffix(".tif")
    stem = base.with_suffix("") if base.suffix.lower() in (".tif", ".tiff") else base
    return {key: str(stem) + suffix for key, suffix in DESTINATION_SUFFIXES.items()
            if key != "OUTPUT"} | {"OUTPUT": str(base)}


def parameters(method: Method, choices: Choices) -> dict[str, Any]:
    """Processing parameters for ``method``: only those its algorithm declares."""
    values = {"REFERENCE": choices.reference, method.secondary_key: choices.secondary,
              "MAX_SHIFT": choices.max_shift, "RESAMPLING": choices.resampling,
              **choices.advanced, **method.fixed, **destinations(choices.output)}
    if method.uses_bands:
        values.update(REFERENCE_BAND=choices.reference_band,
                      SECONDARY_BAND=choices.secondary_band)
    if choices.mask:
        values[method.mask_key] = [choices.mask]
    alg = algorithm(method)
    if alg is None:
        return values
    return {key: value for key, value in values.items()
            if alg.parameterDefinition(key) is not None}


def for_project(params: dict[str, Any], project, names: dict[str, str]) -> dict[str, Any]:
    """``params`` with the layer outputs wrapped so that Processing loads them into
    ``project`` (named by ``names``) and runs the algorithm's own styling on them."""
    wrapped = dict(params)
    for key, name in names.items():
        if key in wrapped:
            definition = QgsProcessingOutputLayerDefinition(wrapped[key], project)
            definition.destinationName = name
            wrapped[key] = definition
    return wrapped


def qgis_process_program() -> str:
    """The qgis_process to call: the first of :data:`QGIS_PROCESS_NAMES` on PATH (by
    name), else found beside the running QGIS (by full path), else ``qgis_process``."""
    for name in QGIS_PROCESS_NAMES:
        if shutil.which(name):
            return name
    folder = QgsApplication.prefixPath()
    for name in QGIS_PROCESS_NAMES:
        path = os.path.join(folder, "bin", name)
        if os.access(path, os.X_OK):
            return path
    return QGIS_PROCESS_NAMES[-1]


def qgis_process_command(algorithm_id: str, params: dict[str, Any],
                         program: str | None = None) -> str:
    """The shell command that runs the same algorithm headless, quoted for POSIX shells."""
    args = [program or qgis_process_program(), "run", algorithm_id, "--"]
    for key, value in params.items():
        for item in value if isinstance(value, (list, tuple)) else [value]:
            args.append(f"{key}={_as_text(item)}")
    return " ".join(shlex.quote(arg) for arg in args)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
