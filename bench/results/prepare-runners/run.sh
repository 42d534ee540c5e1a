#!/bin/bash
# tfrnn prepare on the same 500 BSDS500 photos: local (2 processes) against Beam's DirectRunner
# (in-process, and multi_processing with 2 workers); a fresh output each time; 2 rounds.
# Run from the repository root; results.json collects each run's printed summary
# ("mined 500 images in S s") and the load average before and after it (runs.jsonl).
OUT=${OUT:-runs/bench/prepare-runners}
mkdir -p $OUT
for round in 1 2; do
  for name in local beam-2proc beam-inmemory; do
    case $name in
      local) extra="--runner local --workers 2";;
      beam-2proc) extra="--runner DirectRunner --direct_running_mode=multi_processing --direct_num_workers=2";;
      beam-inmemory) extra="--runner DirectRunner";;
    esac
    rm -rf $OUT/out-$name-$round
    start=$(date +%s.%N); load=$(cut -d' ' -f1-3 /proc/loadavg)
    nice -n 10 python -m tfrnn prepare ../shared/data/train/bsds500 --out $OUT/out-$name-$round \
      --no-progress $extra > $OUT/$name-$round.log 2>&1
    rc=$?
    echo "{\"runner\": \"$name\", \"round\": $round, \"rc\": $rc, \"wall_seconds\": $(echo "$(date +%s.%N) - $start" | bc), \"load_before\": \"$load\", \"load_after\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"finished\": \"$(date -u +%T)\"}" >> $OUT/runs.jsonl
  done
done
