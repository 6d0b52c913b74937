#!/usr/bin/env bash
# Build (idempotently) a Python venv in which the peer tool xcube-resampling runs.
#
#   benchmarks/peers/xcube_env.sh [VENV_DIR]      (default: benchmarks/.venvs/xcube)
#
# The last line printed on stdout is the venv's python; everything else goes to stderr.
#
# Design (as xdem_env.sh):
#   * A plain venv of Debian's /usr/bin/python3 (3.11), *without* system site-packages:
#     xcube-resampling brings numpy 2, numba, dask and xarray wheels that must not mix with
#     Debian's numpy 1.24. It runs in its own process only (peers/run_xcube.py) and reads
#     .npz arrays, so it needs no GDAL.
#   * Every package is pinned exactly (the full resolved set); all have manylinux wheels for
#     CPython 3.11, nothing is compiled. A stamp file makes a second call instant.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/venv_common.sh"
peer_env_setup xcube "$@"

PIP_PINS=(
  xcube-resampling==0.3.6
  affine==3.0.1
  attrs==26.1.0
  certifi==2026.10.18
  click==8.5.1
  cloudpickle==3.1.2
  dask==2026.8.0
  dask-image==2026.5.0
  fsspec==2026.9.0
  ImageIO==2.38.1
  importlib_metadata==10.2.0
  lazy-importer==0.1.0
  llvmlite==0.50.0
  locket==1.0.0
  numba==0.68.1
  numpy==2.4.6
  packaging==26.3
  pandas==3.1.1
  partd==1.4.2
  pillow==13.0.0
  PIMS==0.6.0
  pyproj==3.7.2
  python-dateutil==4.0.0
  PyYAML==6.0.3
  scipy==1.17.1
  slicerator==1.1.0
  tifffile==2026.3.3
  toolz==1.2.0
  tzdata==2026.6
  xarray==2026.9.0
  zipp==4.1.2
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
"$PY" - >&2 <<'PYEOF'
import sys
import numba, numpy, xarray, xcube_resampling
from xcube_resampling import rectify_dataset  # noqa: F401
from xcube_resampling.gridmapping import GridMapping  # noqa: F401
assert xcube_resampling.__version__ == "0.3.6", xcube_resampling.__version__
print(f"[xcube_env] OK xcube-resampling {xcube_resampling.__version__}, numba {numba.__version__}, "
      f"xarray {xarray.__version__}, numpy {numpy.__version__}, Python {sys.version.split()[0]}",
      file=sys.stderr)
PYEOF

echo "$WANT_STAMP" > "$STAMP"
echo "$PY"
