#!/usr/bin/env bash
# Align SEC onto REF with the Coreg plugin through qgis_process, then summarise the report.
# Usage (from anywhere; relative paths are taken from the repository root):
#   REF=reference.tif SEC=secondary.tif [DEMO_OUTPUT=demo-output] scripts/demo.sh
# `make demo [REF=...] [SEC=...]` calls this after installing the Debian packages.
# Without REF and SEC: the OSCD Abu Dhabi pair in ../shared/data when it is there, else
# the crop of the same pair shipped in sample/ (see sample/README.md).
set -euo pipefail

repo_root=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo_root"

if [ -z "${REF:-}" ] && [ -z "${SEC:-}" ]; then
    REF=../shared/data/optical/oscd_s2/abudhabi_S2_20160120_B02-B03-B04-B08.tif
    SEC=../shared/data/optical/oscd_s2/abudhabi_S2_20180328_B02-B03-B04-B08.tif
    if [ ! -f "$REF" ] || [ ! -f "$SEC" ]; then
        echo "demo: no ../shared/data next to the repository: using the sample pair in sample/"
        REF=sample/abudhabi_S2_20160120_B02-B03-B04-B08_crop.tif
        SEC=sample/abudhabi_S2_20180328_B02-B03-B04-B08_crop.tif
    fi
elif [ -z "${REF:-}" ] || [ -z "${SEC:-}" ]; then
    echo "demo: give both REF and SEC, or neither" >&2
    exit 1
fi
DEMO_OUTPUT=${DEMO_OUTPUT:-demo-output}
# Band 4 of the OSCD Sentinel-2 stacks (B02, B03, B04, B08) is B08, near infrared.
REF_BAND=${REF_BAND:-4}
SEC_BAND=${SEC_BAND:-4}

for input in "$REF" "$SEC"; do
    if [ ! -f "$input" ]; then
        echo "demo: input raster not found: $input (from $repo_root)" >&2
        exit 1
    fi
done
ref_abs=$(realpath "$REF")
sec_abs=$(realpath "$SEC")
mkdir -p "$DEMO_OUTPUT"
out_abs=$(realpath "$DEMO_OUTPUT")
rm -f "$out_abs/aligned.tif" "$out_abs/shift_vectors.gpkg" "$out_abs/report.json" \
    "$out_abs/qgis_process.json" "$out_abs/qgis_process.log"

# shellcheck source=scripts/qgis_process_env.sh
source "$repo_root/scripts/qgis_process_env.sh"
trap coreg_qgis_env_cleanup EXIT

echo "demo: reference  $ref_abs (band $REF_BAND)"
echo "demo: secondary  $sec_abs (band $SEC_BAND)"
echo "demo: running coreg:align_image with $QGIS_PROCESS ..."
status=0
coreg_qgis_process run coreg:align_image --json -- \
    "REFERENCE=$ref_abs" \
    "SECONDARY=$sec_abs" \
    "REFERENCE_BAND=$REF_BAND" \
    "SECONDARY_BAND=$SEC_BAND" \
    TRANSFORM=1 \
    MAX_SHIFT=20 \
    OUTPUT_MODE=1 \
    RESAMPLING=2 \
    "OUTPUT=$out_abs/aligned.tif" \
    "SHIFT_VECTORS=$out_abs/shift_vectors.gpkg" \
    "REPORT=$out_abs/report.json" \
    >"$out_abs/qgis_process.json" 2>"$out_abs/qgis_process.log" || status=$?

if [ "$status" -ne 0 ]; then
    echo "demo: qgis_process failed (exit $status). Its messages:" >&2
    grep -v 'setapi() is deprecated' "$out_abs/qgis_process.log" | tail -n 40 >&2 || true
    tail -n 20 "$out_abs/qgis_process.json" >&2 || true
    exit "$status"
fi

/usr/bin/python3 "$repo_root/scripts/summarize_report.py" "$out_abs/report.json"
echo
echo "demo: outputs in $out_abs/"
describe() {
    case "$1" in
        aligned.tif) echo "the secondary raster, aligned onto the reference" ;;
        shift_vectors.gpkg) echo "per-patch shift vectors" ;;
        report.json) echo "full alignment report" ;;
        qgis_process.json) echo "raw qgis_process --json output" ;;
        qgis_process.log) echo "qgis_process messages" ;;
    esac
}
for name in aligned.tif shift_vectors.gpkg report.json qgis_process.json qgis_process.log; do
    if [ -e "$out_abs/$name" ]; then
        printf '  %-20s %s\n' "$name" "$(describe "$name")"
    fi
done
