#!/usr/bin/env bash
# The main job on the bundled sample: prepare it, train the demo G4G checkpoint (tiny
# config, CPU, a few minutes), evaluate it, and write the evaluation's HTML report. Every
# step resumes: re-running skips work already done. Outputs go to $DEMO_DIR (default runs/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
DEMO_DIR=${DEMO_DIR:-runs/demo}

tfbench prepare sample --out "$DEMO_DIR/sample"
tfbench train g4g --config tiny --dataset "$DEMO_DIR/sample" --out "$DEMO_DIR/g4g-tiny" --resume
tfbench evaluate --model g4g --checkpoint "$DEMO_DIR/g4g-tiny/last.pt" \
  --dataset "$DEMO_DIR/sample" --split test --out "$DEMO_DIR/eval-g4g"
tfbench report "$DEMO_DIR/eval-g4g" --out "$DEMO_DIR/report"
echo
echo "Demo report: $(cd "$DEMO_DIR/report" && pwd)/index.html (open it in a browser; it works offline)"
