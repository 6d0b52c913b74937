"""Where Coreg's packages come from, and which GDAL rasterio really runs on.

Both answers are measured in the running process, as the diagnostics and the message bar
must say the same thing:

* a package's origin is the folder its module is (or would be) imported from: the
  system's (QGIS's) Python, Coreg's folder in the QGIS profile, the user site, or
  elsewhere on ``sys.path``;
* a rasterio wheel from PyPI carries its own GDAL (``rasterio.libs``), yet inside the QGIS
  process on Linux rasterio calls the GDAL that QGIS has already loaded: the dynamic
  linker resolves the wheel's GDAL functions in the global scope first, where QGIS's
  ``libgdal`` is.  Only a function that QGIS's GDAL lacks still comes from the wheel's
  copy.  ``rasterio.__gdal_version__`` asks GDAL at run time, so it tells which one
  answers; plain Python (no QGIS loaded) gets the wheel's own.
"""

from __future__ import annotations

import importlib.util
import os
import re
import site
import sys
from pathlib import Path
from typing import NamedTuple

from . import installer

SYSTEM, PROFILE, USER_SITE, ELSEWHERE = "system", "Coreg's folder in the profile", \
    "user site", "elsewhere"


def module_folder(module_name: str) -> Path | None:
    """The sys.path folder a top-level module is loaded (or would be imported) from;
    None when it cannot be found.  Imports nothing."""
    module = sys.modules.get(module_name)
    location = getattr(module, "__file__", None) if module is not None else None
    if location is None:
        try:
            spec = importlib.util.find_spec(module_name)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            return None
        location = spec.origin if spec.has_location and spec.origin else None
        if location is None and spec.submodule_search_locations:
            location = os.path.join(list(spec.submodule_search_locations)[0], "__init__.py")
    if location is None:
        return None
    path = Path(location).resolve()
    # A package's __init__.py lives one folder deeper than a plain module.
    return path.parent.parent if path.name.startswith("__init__.") else path.parent


def _under(path: Path, folder) -> bool:
    try:
        path.relative_to(Path(folder).resolve())
        return True
    except (ValueError, OSError):
        return False


def folder_origin(folder: Path, userbase: Path | None = None) -> str:
    """SYSTEM, PROFILE, USER_SITE or ELSEWHERE for a sys.path folder."""
    userbase = installer.default_userbase() if userbase is None else userbase
    if _under(folder, installer.site_packages(userbase)):
        return PROFILE
    user_site = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
    if isinstance(user_site, str) and _under(folder, user_site):
        return USER_SITE
    system = list(getattr(site, "getsitepackages", list)()) + [sys.base_prefix]
    if folder.name in ("dist-packages", "site-packages") and any(
            _under(folder, prefix) for prefix in system):
        return SYSTEM
    return ELSEWHERE


def origin(module_name: str, userbase: Path | None = None) -> str:
    """``"system: /usr/lib/python3/dist-packages"``, ``"Coreg's folder in the profile: ..."``,
    ...; ``"not found"`` when the module is not on sys.path."""
    folder = module_folder(module_name)
    if folder is None:
        return "not found"
    return f"{folder_origin(folder, userbase)}: {folder}"


def qgis_gdal_version() -> str:
    """The GDAL version QGIS runs on (its osgeo bindings ask the loaded library), or
    "unknown"."""
    try:
        from osgeo import gdal

        return str(gdal.VersionInfo("RELEASE_NAME")) or gdal.__version__
    except Exception:
        return "unknown"


def bundled_gdal(package: Path) -> tuple[bool, str | None]:
    """(whether the rasterio package folder ``package`` comes with its own GDAL, that
    GDAL's version when its file name tells it).  PyPI wheels put it in ``rasterio.libs``
    next to the package (manylinux, Windows) or ``rasterio/.dylibs`` (macOS)."""
    for libs in (package.parent / "rasterio.libs", package / ".dylibs"):
        if not libs.is_dir():
            continue
        for name in sorted(os.listdir(libs)):
            # libgdal-c8c9c467.so.36.3.10.3, libgdal.36.3.10.3.dylib, gdal-1a2b.dll
            if re.match(r"(lib)?gdal\b|(lib)?gdal-", name):
                match = re.search(r"\.\d+\.(\d+\.\d+\.\d+)(?:\.dylib)?$", name)
                return True, match.group(1) if match else None
        return True, None
    return False, None


class RasterioGdal(NamedTuple):
    """The GDAL a loaded rasterio runs on (``runtime``), QGIS's (``qgis``), and the one
    its wheel brings (``wheel``: False for a rasterio built on a system GDAL)."""

    runtime: str
    qgis: str
    wheel: bool
    wheel_version: str | None

    @property
    def on_qgis_gdal(self) -> bool:
        return self.runtime == self.qgis

    def short(self) -> str:
        """One sentence for the message bar."""
        if self.on_qgis_gdal:
            return f"rasterio runs on QGIS's GDAL {self.qgis}."
        own = "its own GDAL" if self.wheel else "GDAL"
        return f"rasterio runs on {own} {self.runtime}, QGIS on GDAL {self.qgis}."

    def describe(self) -> str:
        """The diagnostics' value: the version rasterio reports at run time, and why."""
        if not self.wheel:
            return (f"{self.runtime}, the same GDAL as QGIS" if self.on_qgis_gdal
                    else f"{self.runtime}, not QGIS's {self.qgis} (another build of GDAL)")
        own = f"GDAL {self.wheel_version}" if self.wheel_version else "GDAL"
        if self.on_qgis_gdal and self.wheel_version != self.runtime:
            return (f"{self.runtime}, QGIS's: inside QGIS it takes the place of the {own} "
                    "that the rasterio wheel brings (plain Python gets that one)")
        if self.on_qgis_gdal:
            return f"{self.runtime}, QGIS's (the rasterio wheel brings the same version)"
        return f"{self.runtime}, the rasterio wheel's own, not QGIS's {self.qgis}"


def rasterio_gdal() -> RasterioGdal | None:
    """Measured on the rasterio this process imports (importing it); None without one."""
    try:
        import rasterio
    except Exception:
        return None
    wheel, version = bundled_gdal(Path(rasterio.__file__).resolve().parent)
    return RasterioGdal(str(rasterio.__gdal_version__), qgis_gdal_version(), wheel, version)
