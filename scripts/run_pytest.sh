#!/usr/bin/env bash
# Run the pytest suite headless from the repo root without leaving files in the tree.
# Usage: scripts/run_pytest.sh [PYTEST ARGS...]   (default: tests)
# pytest-qgis puts its QGIS settings in <rootdir>/.qgis-settings: removed afterwards
# unless it was there before; the cache plugin is disabled and no bytecode is written.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${COREG_TEST_PYTHON:-.venv/bin/python}
if [ $# -eq 0 ]; then
    set -- tests
fi

settings_existed=0
[ -e .qgis-settings ] && settings_existed=1

status=0
scripts/headless.sh "$python" -m pytest -p no:cacheprovider --rootdir=. "$@" || status=$?

if [ "$settings_existed" -eq 0 ]; then
    rm -rf .qgis-settings
fi
exit "$status"
