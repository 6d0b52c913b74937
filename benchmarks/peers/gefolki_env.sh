#!/usr/bin/env bash
# Build (idempotently) a Python venv in which the peer tool gefolki (ONERA's GeFolki) runs.
#
#   benchmarks/peers/gefolki_env.sh [VENV_DIR]      (default: benchmarks/.venvs/gefolki)
#
# The last line printed on stdout is the venv's python; everything else goes to stderr.
#
# Same design as arosics_env.sh: a --system-site-packages venv on Debian's python, compiled
# libraries (numpy, scipy, scikit-image, rasterio, matplotlib) from Debian, and only pure-Python
# packages from PyPI, pinned and installed with --no-deps so pip never replaces Debian's numpy.
# gefolki 1.1.0 needs Python >= 3.10 (Debian 12 has 3.11).  Its CLAHE step fails with
# scikit-image >= 0.19; benchmarks/peers/run_gefolki.py patches that at import time
# (see its docstring); the installed package is left untouched.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$HERE/venv_common.sh"
peer_env_setup gefolki "$@"

APT_PKGS=(
  python3-venv python3-pip
  python3-numpy python3-scipy python3-skimage python3-rasterio python3-matplotlib python3-click
)
PIP_PINS=(
  gefolki==1.1.0
  loguru==0.7.3   # imported by gefolki/__init__ (logging only)
)

WANT_STAMP="$(printf '%s\n' "${PIP_PINS[@]}" "${APT_PKGS[@]}")"

if venv_up_to_date "$WANT_STAMP"; then
  log "up to date: $VENV"
  echo "$VENV/bin/python"
  exit 0
fi

apt_ensure "${APT_PKGS[@]}"

venv_ensure --system-site-packages
PY="$VENV/bin/python"

NUMPY_BEFORE="$("$PY" -c 'import numpy; print(numpy.__version__)')"
log "pip install --no-deps ${PIP_PINS[*]}"
"$PY" -m pip install -q --disable-pip-version-check --no-input --no-deps "${PIP_PINS[@]}" >&2

"$PY" - "$NUMPY_BEFORE" >&2 <<'PYEOF'
import sys
import numpy
import gefolki
from gefolki import EFolki, GEFolki  # noqa: F401
from importlib.metadata import version
assert numpy.__version__ == sys.argv[1], f"numpy changed: {sys.argv[1]} -> {numpy.__version__}"
print(f"[gefolki_env] OK gefolki {version('gefolki')}, numpy {numpy.__version__}", file=sys.stderr)
PYEOF

echo "$WANT_STAMP" > "$STAMP"
echo "$PY"
