#!/bin/bash
# The CPU training ablations of issue 8 (results in tfrnn/pretrained/psnr-v1/MODEL_CARD.md).
# Each run trains from scratch on `tfrnn prepare` tiles for STEPS steps (batch 32) on one core,
# evaluating on 6 Kodak crops every 300 steps, then `tfrnn bench rd` (raw bits) on 8 Kodak images.
# Usage: bench/ablations/run.sh TILES_DIR [OUT_DIR] ; then bench/ablations/summarize.py OUT_DIR
set -e
TILES=${1:?usage: run.sh TILES_DIR [OUT_DIR]}
OUT=${2:-runs/ablate}
STEPS=${STEPS:-1200}
KODAK=${KODAK:-../shared/data/kodak}
mkdir -p "$OUT"
export TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 OMP_NUM_THREADS=1
python - "$OUT/cpu8-lstm-additive.json" <<'PY'
import json, sys
from tfrnn.configs import reference_config
c = reference_config("cpu8-lstm-additive", "lstm", "additive", 1 / 8,
                     "reference topology at 1/8 width (ablation)")
json.dump(c.to_dict(), open(sys.argv[1], "w"), indent=1)
PY
COMMON="--data $TILES --steps $STEPS --batch-size 32 --clip-norm 0.5 --checkpoint-every 300
        --keep 1 --eval-images $KODAK --eval-count 6 --eval-crop 256 --eval-every 300"
run() {
  name=$1; shift
  [ -f "$OUT/$name/rd/done" ] && return
  taskset -c 0 tfrnn train $COMMON --run-dir "$OUT/$name" --resume "$@" > "$OUT/$name.log" 2>&1
  taskset -c 0 tfrnn bench rd --codecs none --model "$OUT/$name/model" --limit 8 --jobs 1 \
      --images "$KODAK" --dataset kodak8 --out "$OUT/$name/rd" >> "$OUT/$name.log" 2>&1
  touch "$OUT/$name/rd/done"
}
BASE="--config cpu-lstm-additive --iterations 8 --lr 5e-4 --lr-schedule constant"
run base $BASE
run lr-cosine --config cpu-lstm-additive --iterations 8 --lr 1e-3 --lr-schedule cosine
run weights $BASE --iteration-weights 1,1,1,1,1.25,1.5,1.75,2
run width8 --config "$OUT/cpu8-lstm-additive.json" --iterations 8 --lr 5e-4 --lr-schedule constant
run iters4 --config cpu-lstm-additive --iterations 4 --lr 5e-4 --lr-schedule constant
run base-seed2 $BASE --seed 2
# 1/8 width at the CPU time of 1/4 width's STEPS (it runs 3.5 times as many steps per second).
run width8-long --config "$OUT/cpu8-lstm-additive.json" --iterations 8 --lr 5e-4 \
    --lr-schedule constant --steps $((STEPS * 7 / 2))
run iters16 --config cpu-lstm-additive --iterations 16 --lr 5e-4 --lr-schedule constant
