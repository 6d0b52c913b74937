#!/usr/bin/env bash
# Run a command with a headless Qt/QGIS environment:
# QT_QPA_PLATFORM=offscreen and a private (0700) XDG_RUNTIME_DIR removed afterwards.
# Also keeps Python from writing __pycache__ into the tree.
# Usage: scripts/headless.sh COMMAND [ARG...]
set -euo pipefail

runtime_dir=$(mktemp -d "${TMPDIR:-/tmp}/coreg-xdg.XXXXXX")   # mktemp -d makes it 0700
chmod 700 "$runtime_dir"
cleanup() { rm -rf "$runtime_dir"; }
trap cleanup EXIT

export QT_QPA_PLATFORM=offscreen
export XDG_RUNTIME_DIR="$runtime_dir"
export PYTHONDONTWRITEBYTECODE=1

status=0
"$@" || status=$?
exit "$status"
