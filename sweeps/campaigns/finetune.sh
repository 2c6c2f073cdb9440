#!/usr/bin/env bash
# What test-time training should update (issue 34): every network ('all', the paper's) or the actor
# alone ('actor'), played both ways on the same checkpoints of this machine, piece by piece.
# Resumable: rerun the same command and finished sweeps are skipped, interrupted ones resumed.
# Publish each finished pair into one study (`gcttt results publish OUT/sweeps/NAME --study STUDY`);
# a machine whose pre-training gives other weights than the study's publishes into a study of its own.
#
#   sweeps/campaigns/finetune.sh [WORKERS]        # default 1 worker; 2 when nothing else runs
#
# 1. make demo's sweep (GC-BC, pointmaze-medium-navigate, its K x N x lr grid and the controls): the
#    exactness check on a whole sweep (episode for episode the same success) and its wall time.
# 2. The compute study's GC-TTT arms for GC-BC on pointmaze-medium-navigate at the base width 128
#    (K = 1000 ... 100, N = 100, lr 3e-4, and the cheap once-per-episode arms), 3 seeds x 3 kept
#    checkpoints x 5 tasks: the same success at fewer FLOPs.
# 2b. The compute study's wider models without TTT (widths 156 ... 512, 3 seeds x 3 kept checkpoints)
#    on this machine's pre-training, beside piece 2's arms: GC-TTT and the larger models on the same
#    machine's weights, so the compute answer needs no rows of another CPU. Continues the study
#    (--published): the base-width arms it already holds are copied, not played again, so only the
#    wider checkpoints are pre-trained and played.
# 3. SAW on pointmaze-medium-stitch, its Table 1 configuration (critic, K = 200, N = 100, lr 3e-4):
#    does freezing V keep its gain (.58 -> .89 in the paper)? The shorter of the two methods' pieces
#    (about an hour with 2 workers), so it runs first.
# 4. GC-IQL on antmaze-medium-stitch, the authors' re-plan arms (K = 1000 ... 100, N = 200,
#    lr 3e-5): does freezing V and Q keep GC-TTT's success, and at what cost?
set -euo pipefail
cd "$(dirname "$0")/../.."
WORKERS=${1:-1}
. sweeps/campaigns/common.sh
for part in all actor; do
  run demo-ft-$part sweeps/horizon_sweep.py --finetune $part
done
for part in all actor; do
  run ft-pm-nav-$part sweeps/compute_sweep.py --backbone gcbc --dataset pointmaze-medium-navigate-v0 --lr 3e-4 \
    --N 100 --seeds 0 1 2 --widths 128 --episodes-per-task 1 --checkpoints kept --finetune $part
done
STUDY=$PWD/results/finetune-epyc-avx2
if [ -d "$STUDY/rows" ] && grep -q '"ft-pm-nav-actor"' "$STUDY/manifest.json"; then
  run ft-pm-nav-widths sweeps/compute_sweep.py --backbone gcbc --dataset pointmaze-medium-navigate-v0 --lr 3e-4 \
    --N 100 --seeds 0 1 2 --episodes-per-task 1 --checkpoints kept --finetune actor --published "$STUDY"
else
  echo "== ft-pm-nav-widths: waits for ft-pm-nav-all/actor to be published into $STUDY"
fi
for part in all actor; do
  run ft-saw-pm-stitch-$part sweeps/horizon_sweep.py --backbone saw --dataset pointmaze-medium-stitch-v0 \
    --seeds 0 1 2 --selections critic --K 200 --N 100 --lr 3e-4 --ablations --episodes-per-task 1 \
    --checkpoints kept --finetune $part
done
for part in all actor; do
  run ft-am-stitch-$part sweeps/horizon_sweep.py --backbone gciql --dataset antmaze-medium-stitch-v0 --seeds 0 1 2 \
    --selections critic --K 1000 750 500 200 100 --N 200 --lr 3e-5 --ablations --episodes-per-task 1 \
    --checkpoints kept --finetune $part
done
echo "== $(date +%T) finetune campaign: all sweeps done"
