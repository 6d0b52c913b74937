"""Coreg: sub-pixel coregistration of Earth-observation rasters.

Coreg is a QGIS plugin (QGIS calls :func:`classFactory`), and its engine is a Python
library and a command line (``coreg``, ``python -m coreg``) usable without QGIS::

    import coreg

    alignment = coreg.align_image("reference.tif", "secondary.tif", "aligned.tif",
                                  reference_band=4, secondary_band=4)
    print(alignment.shift_x_px, alignment.shift_y_px)

The public names below are imported on first use (PEP 562), so that QGIS loading the
plugin imports neither numpy nor rasterio, and a missing dependency does not stop the
plugin from loading (the plugin reports it itself).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public name -> the engine module (relative to this package) that defines it.
_EXPORTS = {
    # Entry points, as the Processing algorithms of the same names.
    "align_image": "core.matching.align",
    "align_local": "core.local.local",
    "align_dem": "core.dem.dem",
    "align_stack": "core.stack.stack",
    "align_items": "core.stac.align_items",
    "apply_alignment": "core.transforms.apply",
    "band_math": "core.bandmath.raster_math",
    "rectify_swath": "core.swath.swath",
    # Measuring without writing, and reading a saved alignment back.
    "estimate_alignment": "core.matching.align",
    "estimate_dem_alignment": "core.dem.dem",
    "elevation_change_uncertainty": "core.dem.dh_uncertainty",
    "read_alignment": "core.transforms.saved",
    "write_dem_report": "core.dem.report",
    # Results and alignments.
    "Alignment": "core.matching.alignment",
    "PatchResult": "core.matching.alignment",
    "LocalAlignment": "core.local.local",
    "DemAlignment": "core.dem.dem",
    "BlockShift": "core.dem.dem",
    "ItemResult": "core.stack.stack",
    "ItemsResult": "core.stac.align_items",
    "Applied": "core.transforms.apply",
    "SwathResult": "core.swath.swath",
    "AlignmentResult": "core.results",
    # The transformation model: every alignment is one of these.
    "Transform": "core.transforms.model",
    "Rigid": "core.transforms.model",
    "AffineTransform": "core.transforms.model",
    "BlockField": "core.transforms.model",
    "DisplacementField": "core.transforms.model",
    "Composite": "core.transforms.model",
    "Uncertainty": "core.transforms.model",
    "RigidModel": "core.matching.fit",
    "PolygonMask": "core.io.masks",
    "PointOptions": "core.dem.point_sources",
    "PointCloud": "core.dem.points",
    # Errors (core/errors.py: each has its exit_code for a command line).
    "CoregError": "core.errors",
    "CoregInputError": "core.errors",
    "CoregOutputError": "core.errors",
    "CoregResourceError": "core.errors",
    "CoregistrationError": "core.errors",
    "CanceledError": "core.errors",
    "BandMathError": "core.bandmath.band_math",
}

#: Literal, for the tools that read it without running this file (a test checks that it
#: lists every name of _EXPORTS).
__all__ = [
    "align_image", "align_local", "align_dem", "align_stack", "align_items", "apply_alignment",
    "band_math", "rectify_swath",
    "estimate_alignment", "estimate_dem_alignment", "elevation_change_uncertainty",
    "read_alignment", "write_dem_report",
    "Alignment", "PatchResult", "LocalAlignment", "DemAlignment", "BlockShift",
    "ItemResult", "ItemsResult", "Applied", "SwathResult", "AlignmentResult", "RigidModel",
    "PolygonMask", "PointOptions", "PointCloud",
    "Transform", "Rigid", "AffineTransform", "BlockField", "DisplacementField", "Composite",
    "Uncertainty",
    "CoregError", "CoregInputError", "CoregOutputError", "CoregResourceError",
    "CoregistrationError", "CanceledError", "BandMathError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """Import a public name's engine module on first use (PEP 562)."""
    if name == "__version__":
        value: Any = _version()
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def _version() -> str:
    """The plugin's version (metadata.txt beside this file), else the installed
    distribution's."""
    import os
    import re

    metadata = os.path.join(os.path.dirname(os.path.abspath(__file__)), "metadata.txt")
    try:
        with open(metadata, encoding="utf-8") as handle:
            match = re.search(r"(?m)^version\s*=\s*(\S+)", handle.read())
        if match:
            return match.group(1)
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(__name__)
    except PackageNotFoundError:
        return "unknown"


if TYPE_CHECKING:  # what static analysers and IDEs see
    from .core.bandmath.band_math import BandMathError
    from .core.bandmath.raster_math import band_math
    from .core.dem.dem import BlockShift, DemAlignment, align_dem, estimate_dem_alignment
    from .core.dem.dh_uncertainty import elevation_change_uncertainty
    from .core.dem.point_sources import PointOptions
    from .core.dem.points import PointCloud
    from .core.dem.report import write_dem_report
    from .core.errors import (
        CanceledError,
        CoregError,
        CoregInputError,
        CoregistrationError,
        CoregOutputError,
        CoregResourceError,
    )
    from .core.io.masks import PolygonMask
    from .core.local.local import LocalAlignment, align_local
    from .core.matching.align import align_image, estimate_alignment
    from .core.matching.alignment import Alignment, PatchResult
    from .core.matching.fit import RigidModel
    from .core.results import AlignmentResult
    from .core.stac.align_items import ItemsResult, align_items
    from .core.stack.stack import ItemResult, align_stack
    from .core.swath.swath import SwathResult, rectify_swath
    from .core.transforms.apply import Applied, apply_alignment
    from .core.transforms.model import (
        AffineTransform,
        BlockField,
        Composite,
        DisplacementField,
        Rigid,
        Transform,
        Uncertainty,
    )
    from .core.transforms.saved import read_alignment

    __version__: str


def classFactory(iface):  # noqa: N802 - name required by QGIS
    """Entry point called by QGIS to create the plugin."""
    from .plugin import CoregPlugin

    return CoregPlugin(iface)
