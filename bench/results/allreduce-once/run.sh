#!/bin/bash
# Step time on 2 logical CPU replicas, before and after the one-all-reduce step, alternating.
# BEFORE: a checkout of fa3cdbc with this branch's tfrnn/training/bench.py (for --cpu-replicas);
# AFTER: this branch. TILES: any `tfrnn prepare` output (here: the sample photos, prepared).
BEFORE=${BEFORE:?checkout of fa3cdbc + bench.py}; AFTER=${AFTER:-$PWD}; TILES=${TILES:?}
OUT=${OUT:-runs/bench/allreduce-once}; mkdir -p $OUT
run() {  # which round extra-flags...
  local which=$1 round=$2; shift 2
  local tree=$BEFORE; [ $which = after ] && tree=$AFTER
  PYTHONPATH=$tree nice -n 10 python -m tfrnn bench train --configs cpu-lstm-additive \
    --xla off --cpu-replicas 2 --data $TILES "$@" --json $OUT/$which-$round.json
  echo "$which $round $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $OUT/progress.txt
}
for round in 1 2 3; do for which in before after; do   # the paper's step: batch 32, 16 iterations
  run $which $round --batch-size 32 --iterations 16 --steps 8 --pipeline-batches 20
done; done
for round in 1 2 3 4; do for which in before after; do  # little compute: batch 2, 1 iteration
  run $which small-$round --batch-size 2 --iterations 1 --steps 40 --pipeline-batches 5 --matmul-n 1024
done; done
