#!/usr/bin/env bash
# Build (idempotently) a Python venv in which the peer tool xdem runs.
#
#   benchmarks/peers/xdem_env.sh [VENV_DIR]      (default: benchmarks/.venvs/xdem)
#
# The last line printed on stdout is the venv's python; everything else goes to stderr.
#
# Design:
#   * A plain venv of Debian's /usr/bin/python3 (3.11), *without* system site-packages: xdem
#     brings its own rasterio/pyproj/pyogrio wheels (with their own GDAL/PROJ) and numpy 2, which
#     must not mix with Debian's numpy 1.24 / GDAL 3.6 bindings.  It runs in its own process only.
#   * Every package is pinned exactly (the full resolved set), so two builds are the same.
#     All pins have manylinux wheels for CPython 3.11; nothing is compiled.
#   * affine is pinned to 2.4.0: with affine 3.x (what pip picks by default) xdem 0.2.3's
#     BlockwiseCoreg.fit fails with "TypeError: can't multiply sequence by non-int of type
#     'Affine'" (it computes `(col, row) * transform`, which affine 3 no longer supports).
#   * scikit-learn is an optional xdem dependency needed by BlockwiseCoreg.apply (RANSAC).
#   * scikit-gstat (and its matplotlib/numba) is the optional xdem dependency of its empirical
#     variograms (xdem.spatialstats), for benchmarks/dem_variogram.py.
#   * A stamp file in the venv records the pin set; a second call with the same pins is instant.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/venv_common.sh"
peer_env_setup xdem "$@"
export GDAL_PAM_ENABLED=NO       # never write .aux.xml side-cars next to input data

PIP_PINS=(
  xdem==0.2.3
  geoutils==0.2.5
  affine==2.4.0
  scikit-learn==1.9.1
  numpy==2.4.6
  scipy==1.16.3
  rasterio==1.4.4
  pyproj==3.7.2
  pyogrio==0.13.0
  shapely==2.2.0
  geopandas==1.2.0
  pandas==2.3.3
  xarray==2026.9.0
  rioxarray==0.19.0
  attrs==26.1.0
  certifi==2026.10.18
  click==8.5.1
  click-plugins==1.1.1.2
  cligj==0.7.2
  cloudpickle==3.1.2
  joblib==1.6.0
  narwhals==2.29.0
  packaging==26.3
  pyparsing==3.3.3
  python-dateutil==4.0.0
  pytz==2026.6
  threadpoolctl==3.8.0
  tzdata==2026.6
  scikit-gstat==1.0.26
  matplotlib==3.11.2
  numba==0.68.1
  llvmlite==0.50.0
  contourpy==1.3.3
  cycler==0.12.1
  fonttools==4.69.1
  kiwisolver==1.5.1
  pillow==13.0.0
  imageio==2.38.2
  tqdm==4.70.1
  setuptools==66.1.1
)

WANT_STAMP="$(printf '%s\n' "${PIP_PINS[@]}")"

if venv_up_to_date "$WANT_STAMP"; then
  log "up to date: $VENV"
  echo "$VENV/bin/python"
  exit 0
fi

# 1. python3-venv (Debian splits ensurepip out of python3).
apt_ensure python3-venv

# 2. The venv (plain: no system site-packages).
venv_ensure
PY="$VENV/bin/python"

# 3. Pinned packages (binary wheels only; the full set is pinned, so the resolver has no choice).
log "pip install ${PIP_PINS[*]}"
"$PY" -m pip install -q --disable-pip-version-check --no-input --only-binary=:all: "${PIP_PINS[@]}" \
  2> >(grep -v "^WARNING: Location 'file:" >&2)
"$PY" -m pip check >&2

# 4. Verify.
"$PY" - >&2 <<'EOF'
import sys
import affine, geoutils, numpy, rasterio, sklearn, xdem
from xdem.coreg import BlockwiseCoreg, NuthKaab, VerticalShift  # noqa: F401
assert xdem.__version__ == "0.2.3", xdem.__version__
assert affine.__version__.startswith("2."), "xdem 0.2.3 BlockwiseCoreg needs affine<3"
NuthKaab()
print(f"[xdem_env] OK xdem {xdem.__version__}, geoutils {geoutils.__version__}, "
      f"rasterio {rasterio.__version__} (GDAL {rasterio.__gdal_version__}), numpy {numpy.__version__}, "
      f"affine {affine.__version__}, scikit-learn {sklearn.__version__}, Python {sys.version.split()[0]}",
      file=sys.stderr)
EOF

echo "$WANT_STAMP" > "$STAMP"
echo "$PY"
