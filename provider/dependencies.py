"""Check the third-party Python packages Coreg needs, without importing them.

Only :func:`importlib.util.find_spec` and :mod:`importlib.metadata` are used, so the
check is cheap and never raises because a package is broken or absent.  A package that
is already imported is judged by the version actually loaded (``__version__``): after an
upgrade on disk, the old one stays in memory until QGIS restarts.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from typing import NamedTuple


class Requirement(NamedTuple):
    """One Python package Coreg needs."""

    module: str  # import name
    pip: str  # PyPI name
    debian: str  # Debian/Ubuntu package
    minimum: str  # lowest version whose API the core uses


# Exactly the third-party packages the engine (core/) imports at module level, in the
# order they are reported; tests/test_install.py checks both ways (each one is imported
# by core/, and the engine cannot be imported without it).  affine comes with rasterio
# but core/ imports it itself.
REQUIRED_PACKAGES = (
    Requirement("numpy", "numpy", "python3-numpy", "1.20"),
    Requirement("scipy", "scipy", "python3-scipy", "1.6"),
    Requirement("rasterio", "rasterio", "python3-rasterio", "1.2"),
    Requirement("affine", "affine", "python3-affine", "2.0"),
    Requirement("pyproj", "pyproj", "python3-pyproj", "3.0"),
)

# Used when present, never required, never installed by the Install button: what each
# one adds.  core/ imports them only inside a try or a function.
OPTIONAL_PACKAGES = (
    (Requirement("threadpoolctl", "threadpoolctl", "python3-threadpoolctl", "2.0"),
     "keeps BLAS on one thread while the engine's own threads work"),
    (Requirement("psutil", "psutil", "python3-psutil", "5.0"),
     "free memory where /proc/meminfo is missing (Windows, macOS)"),
    (Requirement("distributed", "distributed", "python3-distributed", "2021.1"),
     "runs 'Align time series to anchor' on a Dask cluster"),
    (Requirement("cloudpickle", "cloudpickle", "python3-cloudpickle", "2.0"),
     "sends Coreg's engine to the workers of a Dask cluster (comes with distributed)"),
    (Requirement("pystac", "pystac", "", "1.10"),
     "reads STAC items and writes those of 'Align STAC items' and stacks"),
    (Requirement("pystac_client", "pystac-client", "", "0.7"),
     "searches STAC APIs ('Search a STAC catalogue')"),
    (Requirement("laspy", "laspy", "", "2.0"),
     "reads LAS lidar points (LAZ: with its lazrs backend) as the reference of 'Align DEM'"),
    (Requirement("fiona", "fiona", "python3-fiona", "1.8"),
     "reads masks given as GeoPackage, Shapefile, ... to the command line"),
    (Requirement("pyarrow", "pyarrow", "", "10.0"),
     "reads GeoParquet / Parquet points as the reference of 'Align DEM'"),
    (Requirement("h5py", "h5py", "python3-h5py", "3.0"),
     "reads ICESat-2 ATL06 HDF5 granules as the reference of 'Align DEM'"),
)


class Problem(NamedTuple):
    """A required package that is missing (``found`` is None), older than needed, or
    installed but failing to import (``error``)."""

    requirement: Requirement
    found: str | None
    error: str | None = None

    @property
    def loaded(self) -> bool:
        """True when the too-old version is already imported: only a restart replaces it."""
        module = sys.modules.get(self.requirement.module)
        return self.found is not None and self.error is None and module is not None

    def describe(self) -> str:
        req = self.requirement
        if self.error is not None:
            return f"{req.pip} (cannot be imported: {self.error})"
        if self.found is None:
            return f"{req.pip} (not found)"
        return f"{req.pip} {self.found} (needs {req.minimum} or newer)"

    def short(self) -> str:
        """:meth:`describe` without the error message, for the message bar."""
        if self.error is not None:
            return f"{self.requirement.pip} (cannot be imported)"
        return self.describe()

    def pip_spec(self) -> str:
        return f"{self.requirement.pip}>={self.requirement.minimum}"


def version_tuple(version: str) -> tuple[int, ...]:
    """Leading numeric release of a version string: ``"1.10.0rc1"`` -> ``(1, 10, 0)``."""
    match = re.match(r"\d+(\.\d+)*", version.strip())
    return tuple(int(part) for part in match.group(0).split(".")) if match else ()


def is_available(module_name: str) -> bool:
    try:
        return importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):
        # A broken half-installed package, or a module with __spec__ = None.
        return False


def installed_version(requirement: Requirement) -> str | None:
    """Version of the loaded module if imported, else of the distribution on sys.path;
    None when unknown (no metadata): an unknown version is not reported as too old."""
    module = sys.modules.get(requirement.module)
    version = getattr(module, "__version__", None) if module is not None else None
    if isinstance(version, str):
        return version
    try:
        from importlib import metadata  # ~50 ms to import: only when a version is needed
    except ImportError:  # Python < 3.8: versions unknown, presence still checked
        return None
    try:
        return metadata.version(requirement.pip)
    except Exception:  # PackageNotFoundError, or a broken metadata file
        pass
    try:  # a distribution named otherwise (Debian's h5py is h5py._debian_h5py_serial)
        names = getattr(metadata, "packages_distributions", dict)().get(requirement.module)
        return metadata.version(names[0]) if names else None
    except Exception:
        return None


def dependency_problems() -> list[Problem]:
    """Required packages that are missing or too old, in REQUIRED_PACKAGES order."""
    problems = []
    for requirement in REQUIRED_PACKAGES:
        if not is_available(requirement.module):
            problems.append(Problem(requirement, None))
            continue
        found = installed_version(requirement)
        if found and version_tuple(found) < version_tuple(requirement.minimum):
            problems.append(Problem(requirement, found))
    return problems


def import_problems() -> list[Problem]:
    """Required packages that are present but fail to import.  This imports them, as
    loading the algorithms does anyway."""
    problems = []
    for requirement in REQUIRED_PACKAGES:
        try:
            importlib.import_module(requirement.module)
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            problems.append(Problem(requirement, installed_version(requirement), message))
    return problems


# PEP 440 versions (packaging's pattern without its groups): only those can be pinned.
_PEP440 = re.compile(
    r"v?(\d+!)?\d+(\.\d+)*([-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?\d*)?"
    r"(-\d+|[-_.]?(post|rev|r)[-_.]?\d*)?([-_.]?dev[-_.]?\d*)?(\+[a-z0-9]+([-_.][a-z0-9]+)*)?",
    re.IGNORECASE)
_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")


def canonical_name(name: str) -> str:
    """PEP 503 normalized project name: ``Scikit_Image`` -> ``scikit-image``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_distributions(path: list[str] | None = None) -> dict[str, tuple[str, str, str]]:
    """``{canonical name: (name, version, folder)}`` of the distributions on ``path``
    (default sys.path), the first copy of each name, as imports find it."""
    from importlib import metadata

    found = {}
    for distribution in metadata.distributions(path=sys.path if path is None else path):
        try:
            name, version = distribution.metadata["Name"], distribution.version
        except Exception:  # a broken metadata file
            continue
        if not name or not version:
            continue
        folder = str(distribution.locate_file(""))
        found.setdefault(canonical_name(name), (name, version, folder))
    return found


def installed_pins(exclude=()) -> list[str]:
    """``name==version`` of every distribution this process can import, except the
    ``exclude``d project names (those being installed or upgraded).  pip gets them as
    constraints: it installs only what is missing and never replaces a package that QGIS
    or the system already provides.  A required package already imported is pinned at the
    version in memory, which stays there until QGIS restarts whatever pip puts on disk."""
    skip = {canonical_name(name) for name in exclude}
    pins = {}
    for key, (name, version, _folder) in installed_distributions().items():
        if key not in skip and _NAME.fullmatch(name) and _PEP440.fullmatch(version):
            pins[key] = f"{name}=={version}"
    for requirement in REQUIRED_PACKAGES:
        key = canonical_name(requirement.pip)
        version = getattr(sys.modules.get(requirement.module), "__version__", None)
        if key not in skip and isinstance(version, str) and _PEP440.fullmatch(version):
            pins[key] = f"{requirement.pip}=={version}"
    return [pins[key] for key in sorted(pins)]


def missing_dependencies() -> list[str]:
    """Import names of the required packages that are missing or too old."""
    return [problem.requirement.module for problem in dependency_problems()]


def missing_dependencies_message(problems: list[Problem] | None = None) -> str:
    """What is missing and how to install it by hand; empty when nothing is missing.

    ``problems`` defaults to :func:`dependency_problems`.
    """
    if problems is None:
        problems = dependency_problems()
    if not problems:
        return ""
    specs = " ".join(f'"{problem.pip_spec()}"' for problem in problems)
    debs = " ".join(problem.requirement.debian for problem in problems)
    return (
        "Coreg needs Python packages that are missing, too old or broken: "
        f"{', '.join(problem.describe() for problem in problems)}. "
        "Click Install in Coreg's message bar or in Raster > Coreg > About / diagnostics; "
        "or install them yourself: "
        f"on Debian/Ubuntu: sudo apt install {debs}; "
        f"on Windows, in the OSGeo4W Shell: python -m pip install {specs}; "
        f"elsewhere, with the Python interpreter QGIS uses: python -m pip install {specs}. "
        "Coreg's Processing algorithms cannot run until then."
    )
