#!/usr/bin/env bash
# Distillation on a GPU, Swift (`lcm distill`) beside the Python reference loop
# (scripts/bench_distill.py), run on the device machine by scripts/gpu_check.sh (no Swift toolchain
# there; the binary is .device/lcm, python3 has torch/diffusers/webdataset/torchvision):
#   LCM=.device/lcm SWIFT_LCM_PYTHON=python3 scripts/gpu_distill_bench.sh [FLAGS for both sides]
# A random-weight SD1.5-architecture teacher (scripts/make_sd15_teacher_pipeline.py) and 400 seeded
# JPEGs of 512..1024 px (scripts/make_bench_shards.py), both made once under $WORK; then 512 px,
# batch 12, --mixed_precision fp16, the guide's settings (huber, lr 1e-6, no weight decay), STEPS
# (8) steps each, with and without --gradient_checkpointing. Prints s/step, samples/s and peak CUDA
# memory per side and the ratios; goal: Swift >= 1.5x samples/s at <= 0.8x peak memory.
# About 3-5 minutes on an H100 (most of it loading the 4.3 GB teacher four times).
set -uo pipefail
cd "$(dirname "$0")/.."
export LCM="${LCM:-.device/lcm}"
export SWIFT_LCM_PYTHON="${SWIFT_LCM_PYTHON:-python3}"
PYTHON=$SWIFT_LCM_PYTHON
WORK="${WORK:-/tmp/lcm-distill-bench}"
STEPS="${STEPS:-8}"
WORKERS="${WORKERS:-4}"
mkdir -p "$WORK"

# The Python side needs diffusers + webdataset; where the machine lacks them, wheels carried in .whl
# (see the device notes) are installed to a private folder.
need='import diffusers, transformers, torchvision, webdataset'
if ! "$PYTHON" -c "$need" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" .whl/*.whl \
    && export PYTHONPATH="$WORK/site${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! "$PYTHON" -c "$need"; then
  echo "gpu_distill_bench: $PYTHON lacks one of diffusers, transformers, torchvision, webdataset (carry wheels in .whl)"
  exit 1
fi

source scripts/gpu_bench_inputs.sh

rows="$WORK/rows.tsv"
: >"$rows"
for ckpt in on off; do
  flags=(--mixed_precision fp16 --device cuda --learning_rate 1e-6 --loss_type huber --adam_weight_decay 0.0)
  [ $ckpt = on ] && flags+=(--gradient_checkpointing)
  LABEL="gradient checkpointing $ckpt" TEACHER="$WORK/teacher" SHARDS="$WORK/shards/bench-{00000..00003}.tar" \
    RESOLUTION=512 BATCH=12 STEPS="$STEPS" WORKERS="$WORKERS" GOAL_SPEED=1.5 GOAL_MEMORY=0.8 BENCH_DISTILL_ROWS="$rows" \
    scripts/bench_distill.sh "${flags[@]}" "$@"
done

echo "== distillation, SD1.5 architecture (random weights), 512 px, batch 12, fp16, $STEPS steps ($((STEPS - 1)) timed), workers $WORKERS"
printf '%-26s %10s %10s %10s | %10s %10s %10s | %9s %9s\n' "" "swift s/st" "samples/s" "peak MiB" \
  "py s/step" "samples/s" "peak MiB" "speed" "memory"
while IFS=$'\t' read -r label s_sps s_rate s_mem p_sps p_rate p_mem speed memory _; do
  printf '%-26s %10s %10s %10s | %10s %10s %10s | %9s %9s\n' "$label" "$s_sps" "$s_rate" "$s_mem" \
    "$p_sps" "$p_rate" "$p_mem" "$speed" "$memory"
done <"$rows"
echo "speed = Swift / Python samples/s (goal >= 1.5x); memory = Swift / Python peak CUDA memory (goal <= 0.8x)"
