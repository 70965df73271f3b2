#!/usr/bin/env bash
# Distillation throughput, Swift (`lcm distill`) beside the Python reference loop
# (scripts/bench_distill.py: train_lcm_distill_sd_wds.py's S1 step with diffusers' models), same
# teacher, same shards, same settings, same machine, one after the other. Each side prints
#   summary: steps=N seconds_per_step=X samples_per_second=Y peak_memory_mib=Z
# (wall clock per optimizer step with data loading, first step left out; peak memory: CUDA
# allocator peak on a GPU, peak RSS on the CPU); this script tabulates the two.
#
#   scripts/bench_distill.sh [FLAGS...]     FLAGS go to both sides, after the defaults (last wins)
#
# Default: the tiny fixture teacher Tests/Fixtures/pipeline/base on the CPU at its native 32 px
# (UNet sample_size 16 × VAE factor 2, as SD1.5 trains at 64 × 8 = 512 px), batch 4,
# 20 steps, 1 data worker, seed 0, on 200 seeded JPEGs of 64..160 px (4 shards, made once under
# $SWIFT_LCM_CACHE). On a GPU, e.g.:
#   TEACHER=/tmp/sd15-teacher SHARDS='/tmp/s/bench-{00000..00003}.tar' scripts/bench_distill.sh \
#     --resolution 512 --train_batch_size 12 --mixed_precision fp16 --device cuda
# Environment: LCM, SWIFT_LCM_PYTHON, TEACHER, SHARDS (a brace spec), RESOLUTION, BATCH, STEPS,
# WORKERS, GOAL_SPEED (Swift ÷ Python samples/s, default 1.3), GOAL_MEMORY (Swift ÷ Python peak
# memory, default none), LABEL (a title), BENCH_DISTILL_ROWS (a file to append tab-separated rows to).
set -uo pipefail
cd "$(dirname "$0")/.."
LCM="${LCM:-.build/release/lcm}"
CACHE="${SWIFT_LCM_CACHE:-$HOME/.cache/swift-lcm}"
PYTHON="${SWIFT_LCM_PYTHON:-$CACHE/py/bin/python}"
TEACHER="${TEACHER:-Tests/Fixtures/pipeline/base}"
RESOLUTION="${RESOLUTION:-32}"
BATCH="${BATCH:-4}"
STEPS="${STEPS:-20}"
WORKERS="${WORKERS:-1}"
GOAL_SPEED="${GOAL_SPEED:-1.3}"
GOAL_MEMORY="${GOAL_MEMORY:-}"

source scripts/bench_shards.sh

command -v "$LCM" >/dev/null || { echo "bench_distill: no $LCM (swift build -c release --product lcm)"; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
common=(--pretrained_teacher_model "$TEACHER" --train_shards_path_or_url "$SHARDS" --resolution "$RESOLUTION"
  --train_batch_size "$BATCH" --max_train_steps "$STEPS" --dataloader_num_workers "$WORKERS" --seed 0 "$@")
# the values in force (the last occurrence wins on both sides)
value_of() { local flag=$1 v=$2; shift 2; while [ $# -gt 0 ]; do [ "$1" = "$flag" ] && [ $# -gt 1 ] && v=$2; shift; done; echo "$v"; }
batch=$(value_of --train_batch_size "$BATCH" "${common[@]}")
title="${LABEL:-distillation}: teacher $TEACHER, $(value_of --resolution "$RESOLUTION" "${common[@]}") px, batch $batch, \
$(value_of --max_train_steps "$STEPS" "${common[@]}") steps, workers $(value_of --dataloader_num_workers "$WORKERS" "${common[@]}")${*:+ | $*}"

# side LOG -> "steps s/step samples/s peak_MiB note" from the summary line, else from the last
# per-step line (`... X it/s ...`, an average that includes the warm-up step; marked with *)
parse() {
  local log=$1 line
  line=$(grep -E '^summary: steps=' "$log" | tail -n 1)
  if [ -n "$line" ]; then
    echo "$line" | sed -E 's/.*steps=([^ ]+) seconds_per_step=([^ ]+) samples_per_second=([^ ]+) peak_memory_mib=([^ ]+).*/\1 \2 \3 \4 -/'
    return
  fi
  line=$(grep -E '^step [0-9]+/[0-9]+ .* it/s' "$log" | tail -n 1)
  [ -z "$line" ] && { echo "- - - - failed"; return; }
  echo "$line" | awk -v b="$batch" '{ for (i = 2; i <= NF; i++) if ($i == "it/s") r = $(i - 1);
    split($2, s, "/"); printf "%s %.4f %.2f - *\n", s[1], 1 / r, b * r }'
}

run_side() { # name log command...
  local name=$1 log=$2 rc; shift 2
  echo "-- $name: $*" | sed "s|$tmp|\$TMP|g"
  "$@" >"$log" 2>&1
  rc=$?
  grep -v -E 'Loading weights|it/s\]$' "$log" | tail -n 4 | sed 's/^/   /'
  [ $rc -ne 0 ] && echo "   ($name exited with $rc)"
  return 0
}

echo "== $title"
run_side swift "$tmp/swift.log" "$LCM" distill "${common[@]}" --output_dir "$tmp/out" \
  --checkpointing_steps 100000 --validation_steps 100000
run_side python "$tmp/python.log" "$PYTHON" scripts/bench_distill.py "${common[@]}"

read -r s_steps s_sps s_rate s_mem s_note <<<"$(parse "$tmp/swift.log")"
read -r p_steps p_sps p_rate p_mem p_note <<<"$(parse "$tmp/python.log")"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2fx", a / b; else printf "-" }'; }
meets() { # value goal direction(ge|le)
  awk -v r="${1%x}" -v g="$2" -v d="$3" 'BEGIN { if (g == "" || r == "-") exit; ok = (d == "ge") ? r + 0 >= g + 0 : r + 0 <= g + 0;
    printf " (goal %s %s: %s)", d == "ge" ? ">=" : "<=", g, ok ? "met" : "NOT met" }'
}
speed=$(ratio "$s_rate" "$p_rate")
memory=$(ratio "$s_mem" "$p_mem")
printf '%-8s %6s %10s %10s %10s\n' "" steps "s/step" "samples/s" "peak MiB"
printf '%-8s %6s %10s %10s %10s %s\n' swift "$s_steps" "$s_sps" "$s_rate" "$s_mem" "${s_note/-/}"
printf '%-8s %6s %10s %10s %10s %s\n' python "$p_steps" "$p_sps" "$p_rate" "$p_mem" "${p_note/-/}"
echo "swift/python: samples/s $speed$(meets "$speed" "$GOAL_SPEED" ge), peak memory $memory$(meets "$memory" "$GOAL_MEMORY" le)"
[ "$s_note$p_note" != "--" ] && echo "(* no summary line: from the last per-step rate, warm-up included; failed: see the output above)"
if [ -n "${BENCH_DISTILL_ROWS:-}" ]; then
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "${LABEL:-distillation}" "$s_sps" "$s_rate" "$s_mem" \
    "$p_sps" "$p_rate" "$p_mem" "$speed" "$memory" "$*" >>"$BENCH_DISTILL_ROWS"
fi
