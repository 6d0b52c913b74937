#!/usr/bin/env bash
# Build (idempotently) a Python venv in which the peer tool AROSICS runs.
#
#   benchmarks/peers/arosics_env.sh [VENV_DIR]      (default: benchmarks/.venvs/arosics)
#
# The last line printed on stdout is the venv's python; everything else goes to stderr.
#
# Design:
#   * Compiled libraries come from Debian 12 (GDAL 3.6 bindings, numpy 1.24, scipy, shapely,
#     pyproj, pandas, geopandas, scikit-image, scikit-learn, cartopy, ...).  The venv is made with
#     /usr/bin/python3 -m venv --system-site-packages so it sees them.
#   * Only pure-Python packages come from PyPI, with exact pins and --no-deps, so pip can never
#     replace Debian's numpy (AROSICS needs numpy<2 here because python3-gdal is built on 1.24).
#   * A stamp file in the venv records the pin set; a second call with the same pins is instant.
#   * apt runs only when dpkg reports a package missing (needs root, or sudo).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/venv_common.sh"
peer_env_setup arosics "$@"

# Debian packages: everything compiled that arosics / geoarray / py_tools_ds import.
APT_PKGS=(
  python3-venv python3-pip
  python3-numpy python3-scipy python3-gdal python3-shapely python3-pyproj
  python3-matplotlib python3-pandas python3-geopandas python3-skimage python3-sklearn
  python3-cartopy python3-plotly python3-folium python3-geojson python3-spectral python3-dill
  proj-bin   # puts `proj` on PATH: Debian's pyproj, run from a venv, finds /usr/share/proj only that way
)

# PyPI packages, all pure Python, installed with --no-deps (their dependencies are the Debian ones).
PIP_PINS=(
  arosics==1.12.1
  geoarray==0.17.2
  py_tools_ds==0.21.1
  joblib==1.4.2      # arosics needs joblib>=1.3 (Debian 12 ships 1.2.0)
  cmocean==4.0.3     # only used for COREG_LOCAL plots; imported lazily
)

WANT_STAMP="$(printf '%s\n' "${PIP_PINS[@]}" "${APT_PKGS[@]}")"

if venv_up_to_date "$WANT_STAMP"; then
  log "up to date: $VENV"
  echo "$VENV/bin/python"
  exit 0
fi

# 1. Debian packages (only when some are missing).
apt_ensure "${APT_PKGS[@]}"

# 2. The venv (sees Debian's dist-packages).
venv_ensure --system-site-packages
PY="$VENV/bin/python"

# 3. Pinned pure-Python packages.  --no-deps: pip resolves nothing, so Debian's numpy stays.
# (arosics/geoarray/py_tools_ds are sdists; pip builds them in an isolated env from PyPI's setuptools.)
NUMPY_BEFORE="$("$PY" -c 'import numpy; print(numpy.__version__)')"
log "pip install --no-deps ${PIP_PINS[*]}"
"$PY" -m pip install -q --disable-pip-version-check --no-input --no-deps "${PIP_PINS[@]}" >&2

# 4. Verify.
"$PY" - "$NUMPY_BEFORE" >&2 <<'EOF'
import sys
import numpy
from osgeo import gdal
import arosics
from arosics import COREG, COREG_LOCAL  # noqa: F401
import geoarray, py_tools_ds, joblib, skimage
import pyproj
pyproj.datadir.get_data_dir()  # raises if PROJ's data (proj.db) is not found from inside the venv
assert numpy.__version__ == sys.argv[1], f"numpy changed: {sys.argv[1]} -> {numpy.__version__}"
assert int(numpy.__version__.split(".")[0]) < 2, "arosics with Debian GDAL needs numpy<2"
print(f"[arosics_env] OK arosics {arosics.__version__}, geoarray {geoarray.__version__}, "
      f"py_tools_ds {py_tools_ds.__version__}, numpy {numpy.__version__}, GDAL {gdal.__version__}, "
      f"joblib {joblib.__version__}, scikit-image {skimage.__version__}", file=sys.stderr)
EOF

echo "$WANT_STAMP" > "$STAMP"
echo "$PY"
