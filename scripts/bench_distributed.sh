#!/usr/bin/env bash
# Data-parallel throughput on this machine: `lcm distill` as one process with global batch B
# beside `torchrun --nproc_per_node 2` with B/2 per rank (the same global batch), on the tiny
# fixture teacher and the benchmark shards; STEPS steps a run, throughput from lcm's own summary
# line (training time only, first step left out; rank 0's rate × 2 ranks), ROUNDS rounds. torchrun gives each rank OMP_NUM_THREADS=1, the
# single process keeps torch's default threads. On a 2-core machine this measures overhead more
# than scaling: two ranks share the two cores the single process uses.
#
#   scripts/bench_distributed.sh [FLAGS...]      FLAGS go to both sides
#
# Environment: LCM, SWIFT_LCM_PYTHON (its torchrun), TEACHER, SHARDS, RESOLUTION (32), BATCH (8,
# global), STEPS (60), ROUNDS (3).
set -uo pipefail
cd "$(dirname "$0")/.."
LCM="${LCM:-.build/release/lcm}"
CACHE="${SWIFT_LCM_CACHE:-$HOME/.cache/swift-lcm}"
PYTHON="${SWIFT_LCM_PYTHON:-$CACHE/py/bin/python}"
TORCHRUN="$(dirname "$PYTHON")/torchrun"
TEACHER="${TEACHER:-Tests/Fixtures/pipeline/base}"
RESOLUTION="${RESOLUTION:-32}"
BATCH="${BATCH:-8}"
STEPS="${STEPS:-60}"
ROUNDS="${ROUNDS:-3}"
source scripts/bench_shards.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
common=(distill --pretrained_teacher_model "$TEACHER" --train_shards_path_or_url "$SHARDS" --resolution "$RESOLUTION"
  --max_train_samples 1000000 --dataloader_num_workers 1 --validation_steps 100000 --checkpointing_steps 100000 --seed 0
  --device cpu "$@")
run() {  # side -> global samples/s
  local side=$1 out="$tmp/out-$1"
  rm -rf "$out"
  if [ "$side" = one ]; then
    "$LCM" "${common[@]}" --train_batch_size "$BATCH" --max_train_steps "$STEPS" --output_dir "$out" >"$tmp/$side.log" 2>&1
  else
    "$TORCHRUN" --nproc_per_node 2 --master_port $((20000 + RANDOM % 12000)) --no-python "$LCM" "${common[@]}" \
      --train_batch_size $((BATCH / 2)) --max_train_steps "$STEPS" --output_dir "$out" >"$tmp/$side.log" 2>&1
  fi
  local rc=$? ranks=$([ "$side" = one ] && echo 1 || echo 2)
  [ $rc -ne 0 ] && { tail -n 3 "$tmp/$side.log" >&2; echo nan; return; }
  # every rank prints a summary with its own batch's rate; the ranks step together
  grep -oE 'samples_per_second=[0-9.]+' "$tmp/$side.log" | head -n 1 | cut -d= -f2 | awk -v k="$ranks" '{ printf "%.2f", $1 * k }'
}
echo "== data-parallel lcm distill: teacher $TEACHER, $RESOLUTION px, global batch $BATCH, $STEPS steps, $ROUNDS rounds"
declare -A rate
for round in $(seq 1 "$ROUNDS"); do
  for side in one two; do
    r=$(run "$side")
    rate[$side]="${rate[$side]:-} $r"
    echo "   round $round, $([ $side = one ] && echo "1 process,  batch $BATCH" || echo "2 processes, batch $((BATCH / 2)) each"): $r samples/s"
  done
done
med() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { printf "%s (%s–%s)", v[int((NR + 1) / 2)], v[1], v[NR] }'; }
echo "samples/s: 1 process $(echo "${rate[one]}" | med), 2 processes $(echo "${rate[two]}" | med) (median (range) over $ROUNDS rounds)"
