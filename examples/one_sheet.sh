#!/usr/bin/env bash
# One sheet: digitize it into a WFDB record, with the QA overlay and the diagnostics as JSON;
# when ground truth (SHEET's name with .hea/.dat) sits beside the sheet, score against it.
#
# Usage: examples/one_sheet.sh [SHEET] [OUT_DIR]
#   SHEET    image or PDF (default: examples/ptbxl_00010.png)
#   OUT_DIR  where the outputs go (default: a new temporary folder); must not hold them yet
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
sheet="${1:-$here/ptbxl_00010.png}"
out="${2:-$(mktemp -d)}"
mkdir -p "$out"
name="$(basename "${sheet%.*}")"

# 1. Digitize: OUT/NAME.hea + .dat (12 leads, mV, 500 Hz), NAME.json, NAME_overlay.png.
ecgdigitize extract "$sheet" -o "$out/$name" --overlay "$out/${name}_overlay.png" --json

# 2. Look at NAME_overlay.png: every recovered trace is drawn in colour over the page.
echo "overlay: $out/${name}_overlay.png"
echo "diagnostics: $out/$name.json"

# 3. Score against the ground truth, if there is one (PhysioNet 2024 metrics, per lead).
truth="${sheet%.*}"
if [ -f "$truth.hea" ]; then
    ecgdigitize score all "$truth" "$out/$name"
fi
