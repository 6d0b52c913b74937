"""Check the third-party Python packages Coreg needs, without importing them.

Only :func:`importlib.util.find_spec` is used, so calling this module is cheap
and never raises because a package is broken or absent.  QGIS itself ships
numpy; everything else must be installed next to QGIS's Python.
"""

import importlib.util

# (import name, pip/PyPI name, Debian/Ubuntu package) in the order they are reported.
REQUIRED_PACKAGES = (
    ("numpy", "numpy", "python3-numpy"),
    ("scipy", "scipy", "python3-scipy"),
    ("rasterio", "rasterio", "python3-rasterio"),
    ("skimage", "scikit-image", "python3-skimage"),
    ("pyproj", "pyproj", "python3-pyproj"),
)


def _is_available(module_name):
    try:
        return importlib.util.find_spec(module_name) is not None
    except (ImportError, ValueError):
        # A broken half-installed package, or a module with __spec__ = None.
        return False


def missing_dependencies():
    """Return the import names of the required packages that cannot be found.

    :rtype: list[str]
    """
    return [name for name, _pip, _deb in REQUIRED_PACKAGES if not _is_available(name)]


def pip_names(missing):
    """Map import names (e.g. ``skimage``) to pip names (``scikit-image``)."""
    table = {name: pip for name, pip, _deb in REQUIRED_PACKAGES}
    return [table.get(name, name) for name in missing]


def debian_names(missing):
    """Map import names to Debian/Ubuntu package names (``python3-skimage``)."""
    table = {name: deb for name, _pip, deb in REQUIRED_PACKAGES}
    return [table.get(name, f"python3-{name}") for name in missing]


def missing_dependencies_message(missing=None):
    """Return a human readable message explaining how to install what is missing.

    Returns an empty string when nothing is missing.  ``missing`` defaults to
    :func:`missing_dependencies`.
    """
    if missing is None:
        missing = missing_dependencies()
    if not missing:
        return ""
    pips = " ".join(pip_names(missing))
    debs = " ".join(debian_names(missing))
    return (
        "Coreg needs Python packages that QGIS cannot find: "
        f"{', '.join(pip_names(missing))}. "
        f"On Debian/Ubuntu: sudo apt install {debs}. "
        f"On Windows, in the OSGeo4W Shell: python -m pip install {pips}. "
        "Elsewhere, with the Python interpreter QGIS uses: "
        f"python -m pip install {pips}. "
        "Then restart QGIS. Coreg's Processing algorithms stay hidden until then."
    )
