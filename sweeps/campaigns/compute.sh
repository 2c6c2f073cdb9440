#!/usr/bin/env bash
# The Figure 6 and compute-allocation campaign at CPU scale (issue: enough episodes to answer).
# Every piece is a resumable sweep; rerun the same command and finished sweeps are skipped.
# Publish each finished sweep with `gcttt results publish ~/gcttt-results/sweeps/NAME --study STUDY`.
#
#   sweeps/campaigns/compute.sh [WORKERS]        # default 1 worker; 2 when nothing else runs
#
# 1. Figure 6, left and middle: GC-IQL on both stitch datasets at the authors' budgets
#    (antmaze-medium-stitch lr 3e-5, N = 200; pointmaze-medium-stitch lr 3e-4, N = 200): the
#    selection ablation at K = 100 and the re-plan curve K = 1000/750/500/200/100, 3 seeds x 3
#    checkpoints x 5 tasks = 45 episodes per point (horizon_sweep with the authors' numbers).
# 2. The compute study in the paper's setting: GC-IQL, antmaze-medium-stitch, widths 128 ... 333
#    and 512, GC-TTT at the authors' budget, the cheap critic arms; 45 episodes per point
#    (width 512's 20k pre-training updates cost over an hour per seed here).
# 3. The same study where GC-TTT matters most here: GC-BC on pointmaze-medium-navigate.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORKERS=${1:-1}
. sweeps/campaigns/common.sh
kept() { run "$@" --checkpoints kept; }  # every piece evaluates the three kept checkpoints
for d in pointmaze:3e-4 antmaze:3e-5; do
  ds=${d%%:*}-medium-stitch-v0; lr=${d#*:}
  kept fig6-ablation-${d%%:*}-stitch sweeps/horizon_sweep.py --backbone gciql --dataset "$ds" --seeds 0 1 2 \
    --selections critic --K 100 --N 200 --lr "$lr" --ablations random no-optimality no-relevance --episodes-per-task 1
  kept fig6-replan-${d%%:*}-stitch sweeps/horizon_sweep.py --backbone gciql --dataset "$ds" --seeds 0 1 2 \
    --selections critic --K 1000 750 500 200 100 --N 200 --lr "$lr" --ablations --no-baseline --episodes-per-task 1
done
kept compute-am-stitch sweeps/compute_sweep.py --seeds 0 1 2 --episodes-per-task 1   # widths 128 ... 333 and 512
kept compute-pm-nav sweeps/compute_sweep.py --backbone gcbc --dataset pointmaze-medium-navigate-v0 --lr 3e-4 --N 100 \
  --seeds 0 1 2 --widths 128 156 183 248 333 512 --episodes-per-task 1
echo "== $(date +%T) compute campaign: all sweeps done"
