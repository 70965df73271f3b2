#!/usr/bin/env bash
# SDXL distillation on a GPU: `lcm distill` beside the unmodified train_lcm_distill_sdxl_wds.py (S3)
# and `lcm distill-lora` beside train_lcm_distill_lora_sdxl_wds.py (S4), through
# scripts/bench_distill_lora.sh (s/step from a SHORT- and a LONG-step run of each side, samples/s,
# peak CUDA memory). A random-weight SDXL-base-architecture teacher (scripts/make_sdxl_teacher_pipeline.py)
# and 400 seeded JPEGs of 1024..1536 px, made once under $WORK; 1024 px, gradient checkpointing,
# 8-bit Adam, the README recipe's settings, bf16 and fp16 (MIXED_LIST). Batches: BATCH_FULL (4) for
# the full UNet, BATCH_LORA (8) for the LoRA, sizes diffusers' scripts fit on one 80 GB card.
# Run on the device machine by scripts/gpu_check.sh with GPU_CHECK_SDXL=1, or alone after it
# (the binary and wheels it prepared, the upstream scripts in .device/):
#   LCM=/tmp/lcm-device SWIFT_LCM_PYTHON=python3 bash scripts/gpu_sdxl_bench.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export LCM="${LCM:-/tmp/lcm-device}"
export SWIFT_LCM_PYTHON="${SWIFT_LCM_PYTHON:-python3}"
PYTHON=$SWIFT_LCM_PYTHON
WORK="${WORK:-/tmp/lcm-sdxl-bench}"
UP="${UPSTREAM_DIR:-.device}"
mkdir -p "$WORK"
if [ ! -f "$WORK/teacher/model_index.json" ]; then
  "$PYTHON" scripts/make_sdxl_teacher_pipeline.py "$WORK/teacher.tmp" --device "${TEACHER_DEVICE:-cuda}" 2>&1 | grep -v 'Writing model shards' \
    && rm -rf "$WORK/teacher" && mv "$WORK/teacher.tmp" "$WORK/teacher" || exit 1
fi
if [ ! -f "$WORK/shards/bench-00003.tar" ]; then
  "$PYTHON" scripts/make_bench_shards.py "$WORK/shards.tmp" --images 400 --per-shard 100 --min-side 1024 --max-side 1536 \
    && rm -rf "$WORK/shards" && mv "$WORK/shards.tmp" "$WORK/shards" || exit 1
fi
common=(TEACHER="$WORK/teacher" SHARDS="$WORK/shards/bench-{00000..00003}.tar" RESOLUTION=1024 PEAK=cuda
  SHORT="${SHORT:-2}" LONG="${LONG:-6}" ROUNDS="${ROUNDS:-1}" WORKERS="${WORKERS:-4}")
rc=0
for mixed in ${MIXED_LIST:-bf16 fp16}; do
  echo "== SDXL full UNet (S3), 1024 px, batch ${BATCH_FULL:-4}, $mixed, gradient checkpointing"
  env "${common[@]}" MIXED="$mixed" BATCH="${BATCH_FULL:-4}" COMMAND=distill UPSTREAM="$UP/train_lcm_distill_sdxl_wds.py" \
    scripts/bench_distill_lora.sh || rc=1
  echo "== SDXL LCM-LoRA rank 64 (S4), 1024 px, batch ${BATCH_LORA:-8}, $mixed, gradient checkpointing"
  env "${common[@]}" MIXED="$mixed" BATCH="${BATCH_LORA:-8}" COMMAND=distill-lora UPSTREAM="$UP/train_lcm_distill_lora_sdxl_wds.py" \
    scripts/bench_distill_lora.sh || rc=1
done
exit $rc
