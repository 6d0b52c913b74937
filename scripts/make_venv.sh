#!/usr/bin/env bash
# Create/refresh .venv for tests and lint (idempotent; `make venv` calls this).
# Usage: scripts/make_venv.sh VENV_DIR REQUIREMENTS_FILE
set -euo pipefail

venv=${1:-.venv}
requirements=${2:-scripts/requirements-dev.txt}
system_python=/usr/bin/python3   # Debian's Python: the only one that can import qgis

# A venv made by another Python (e.g. a pyenv one first on PATH) cannot import qgis: remake it.
if [ -x "$venv/bin/python" ] && ! "$venv/bin/python" -c "import qgis.core" >/dev/null 2>&1; then
    echo "venv: $venv cannot import qgis, recreating it"
    rm -rf "$venv"
fi
if [ ! -x "$venv/bin/python" ]; then
    "$system_python" -m venv --system-site-packages "$venv"
fi

# Keep Debian's pytest (7.2 on Debian 12): pin it so pip can never upgrade it.
pytest_version=$("$system_python" -c "import pytest; print(pytest.__version__)")
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
echo "pytest==$pytest_version" > "$constraints"

"$venv/bin/python" -m pip install --disable-pip-version-check --quiet \
    -c "$constraints" -r "$requirements"

# Check that pytest in the venv is still Debian's.
"$venv/bin/python" - "$pytest_version" <<'PY'
import sys

import pytest
import pytest_qgis  # noqa: F401

if pytest.__version__ != sys.argv[1] or not pytest.__file__.startswith("/usr/lib/python3/"):
    sys.exit(f"venv: pytest {pytest.__version__} from {pytest.__file__} is not Debian's")
print(f"venv: ready (pytest {pytest.__version__} from Debian, pytest-qgis installed)")
PY
