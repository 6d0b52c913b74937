# shellcheck shell=bash
# Source this file to run /usr/bin/qgis_process.bin headless with the Coreg plugin
# from this checkout, in a throwaway QGIS profile (the user's profile is never touched).
#
#   source scripts/qgis_process_env.sh       # sets everything up, enables the plugin
#   coreg_qgis_process run coreg:align_image -- REFERENCE=a.tif ...
#   coreg_qgis_env_cleanup                   # removes the temporary folder (or trap it)
#
# What it sets up (tests/conftest.py does the same in Python):
# - COREG_QGIS_TMP: a private temporary folder holding everything below;
# - $COREG_QGIS_TMP/plugins/coreg -> the plugin source folder (default: this checkout,
#   override with COREG_PLUGIN_SRC), because QGIS loads a plugin by its folder name and
#   the checkout may be named anything; QGIS_PLUGINPATH=$COREG_QGIS_TMP/plugins;
# - QGIS_CUSTOM_CONFIG_PATH=$COREG_QGIS_TMP/config: qgis_process (3.22 and later) keeps its
#   profile in $QGIS_CUSTOM_CONFIG_PATH/profiles/default instead of ~/.local/share/QGIS;
# - QT_QPA_PLATFORM=offscreen and a private 0700 XDG_RUNTIME_DIR;
# - runs `qgis_process.bin plugins enable coreg`, which records the plugin as enabled in
#   that profile so that `list`/`run` load it.
# /usr/bin/qgis_process is Debian's wrapper that adds --noversioncheck, which 3.22 rejects,
# so the real binary /usr/bin/qgis_process.bin is used (override with QGIS_PROCESS).

_coreg_env_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

COREG_PLUGIN_SRC=$(cd "${COREG_PLUGIN_SRC:-$_coreg_env_root}" && pwd)
QGIS_PROCESS=${QGIS_PROCESS:-/usr/bin/qgis_process.bin}
COREG_QGIS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/coreg-qgis.XXXXXX")
chmod 700 "$COREG_QGIS_TMP"
mkdir -p "$COREG_QGIS_TMP/plugins" "$COREG_QGIS_TMP/config" "$COREG_QGIS_TMP/xdg"
chmod 700 "$COREG_QGIS_TMP/xdg"
ln -s "$COREG_PLUGIN_SRC" "$COREG_QGIS_TMP/plugins/coreg"

export QGIS_PLUGINPATH="$COREG_QGIS_TMP/plugins"
export QGIS_CUSTOM_CONFIG_PATH="$COREG_QGIS_TMP/config"
export QT_QPA_PLATFORM=offscreen
export XDG_RUNTIME_DIR="$COREG_QGIS_TMP/xdg"
export PYTHONDONTWRITEBYTECODE=1
export GDAL_PAM_ENABLED=NO   # no .aux.xml side-cars written next to the inputs
export COREG_QGIS_TMP COREG_PLUGIN_SRC QGIS_PROCESS

coreg_qgis_process() {
    "$QGIS_PROCESS" "$@"
}

coreg_qgis_env_cleanup() {
    if [ -n "${COREG_QGIS_TMP:-}" ] && [ -d "$COREG_QGIS_TMP" ]; then
        rm -rf "$COREG_QGIS_TMP"
    fi
}

if [ ! -x "$QGIS_PROCESS" ]; then
    echo "qgis_process_env: $QGIS_PROCESS not found; run 'make deps' first" >&2
    return 1 2>/dev/null || exit 1
fi

# `plugins enable` exits 1 with "Plugin is already enabled!" when it already is: that is fine.
if ! _coreg_enable_out=$(coreg_qgis_process plugins enable coreg 2>&1) \
    && ! grep -q "already enabled" <<<"$_coreg_enable_out"; then
    echo "$_coreg_enable_out" >&2
    echo "qgis_process_env: 'qgis_process.bin plugins enable coreg' failed" >&2
    return 1 2>/dev/null || exit 1
fi
unset _coreg_enable_out _coreg_env_root
