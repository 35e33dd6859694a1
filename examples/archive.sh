#!/usr/bin/env bash
# An archive of scans: render a few PTB-XL sheets (each with its ground truth) into a folder
# tree, digitize the whole tree with `ecgdigitize batch`, and score every record.
#
# Usage: examples/archive.sh [OUT_DIR]
#   OUT_DIR  where scans/ and records/ are made (default: a new temporary folder)
# Needs the PTB-XL records of ../shared/data (or $ECGDIGITIZE_SHARED/data).
# JOBS=N limits the batch to N worker processes (default: all CPUs).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
shared="${ECGDIGITIZE_SHARED:-$here/../../shared}"
ptbxl="$shared/data/ptbxl/records500/00000"
if [ ! -f "$ptbxl/00001_hr.hea" ]; then
    echo "PTB-XL records not found in $ptbxl; set ECGDIGITIZE_SHARED" >&2
    exit 2
fi
out="${1:-$(mktemp -d)}"
scans="$out/scans"
records="$out/records"

# 1. A small "archive": two wards, three layouts and scan qualities (development records only).
ecgdigitize render "$ptbxl/00001_hr" -o "$scans/ward_a/00001.png" --dpi 150
ecgdigitize render "$ptbxl/00002_hr" -o "$scans/ward_a/00002.png" --dpi 150 \
    --layout 6x2+II --grid-color green
ecgdigitize render "$ptbxl/00003_hr" -o "$scans/ward_b/00003.jpg" --dpi 150 \
    --grid-color pink --rotate 2 --noise 0.02 --jpeg-quality 70 --seed 3

# 2. Digitize every page under scans/ into records/ (same tree) plus records/manifest.csv.
#    Running the same command again resumes: finished pages are skipped.
jobs=()
if [ -n "${JOBS:-}" ]; then jobs=(--jobs "$JOBS"); fi
if ecgdigitize --help | grep -qE '^ +batch '; then
    status=0
    ecgdigitize batch "$scans" -o "$records" "${jobs[@]}" --overlay --quiet || status=$?
    # Exit status 1 means some page failed (listed in the manifest); the others are scored.
    if [ "$status" -gt 1 ]; then exit "$status"; fi
    echo "manifest: $records/manifest.csv"
else
    # Older versions without `batch`: one `extract` per sheet.
    for sheet in "$scans"/*/*.png "$scans"/*/*.jpg; do
        rel="${sheet#"$scans"/}"
        mkdir -p "$records/$(dirname "$rel")"
        ecgdigitize extract "$sheet" -o "$records/${rel%.*}"
    done
fi

# 3. Score the records against the ground truth written by `render` (paired by path).
ecgdigitize score all "$scans" "$records"
