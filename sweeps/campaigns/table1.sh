#!/usr/bin/env bash
# The Table 1 campaign at CPU scale: one reproduce.py call per cell, in the order the checkpoints
# become ready. Resumable: rerun the same command and finished phases are skipped, interrupted
# ones resumed. Publish each finished cell with `python -m gcttt.results publish` (see results/README.md).
#
#   sweeps/campaigns/table1.sh [WORKERS]          # default 1 worker; 2 when nothing else runs
#
# With WAIT_FOR_PRETRAINING=1 it waits until each cell's three checkpoints exist, for when a separate
# pre-training queue (`gcttt pretrain ... --out $OUT/checkpoints`) makes them: a sweep must never
# train a run that another process has open (two writers would corrupt it). Without it, reproduce.py
# pre-trains what is missing itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORKERS=${1:-1}
OUT=${GCTTT_RESULTS_DIR:-$HOME/gcttt-results}
PY=${PYTHON:-python}
CELLS=(
  gcbc/pointmaze-medium-navigate-v0 gciql/pointmaze-medium-navigate-v0 saw/pointmaze-medium-navigate-v0
  gciql/pointmaze-medium-stitch-v0 gcbc/pointmaze-medium-stitch-v0 saw/pointmaze-medium-stitch-v0
  gciql/antmaze-medium-stitch-v0 gcbc/antmaze-medium-stitch-v0 saw/antmaze-medium-stitch-v0
  gcbc/antmaze-medium-navigate-v0 gciql/antmaze-medium-navigate-v0 saw/antmaze-medium-navigate-v0
)
for cell in "${CELLS[@]}"; do
  backbone=${cell%%/*}; dataset=${cell#*/}
  for s in 0 1 2; do
    run="$OUT/checkpoints/$dataset/$backbone-cpu-w128-s$s"
    while [ "${WAIT_FOR_PRETRAINING:-0}" = 1 ] && [ ! -e "$run/final.pt" ]; do
      echo "table1: waiting for $run/final.pt (pre-trained elsewhere)"; sleep 60
    done
  done
  extra=()
  case $dataset in
    pointmaze-medium-navigate-v0) extra=(--paper-protocol) ;;   # the paper's protocol beside ours
    antmaze-*) extra=(--heldout-size 5) ;;                       # 5 held-out pairs: antmaze episodes cost 10x
  esac
  echo "== $(date +%T) table1: $cell"
  "$PY" sweeps/reproduce.py --name table1-cpu --cells "$cell" --workers "$WORKERS" "${extra[@]}"
done
echo "== $(date +%T) table1: all cells done"
