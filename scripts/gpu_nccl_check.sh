#!/usr/bin/env bash
# Data-parallel training on NCCL, on the device's one GPU (NCCL cannot put two ranks on one GPU,
# so the world size is 1; SWIFT_LCM_DISTRIBUTED=1 keeps the process group at that size). Run by
# scripts/gpu_check.sh (GPU_CHECK_ONLY=nccl runs this alone):
#   LCM=/tmp/lcm-device SWIFT_LCM_NCCL_LIBRARY=.device/lib/libLCMNCCL.so scripts/gpu_nccl_check.sh
# 1. `lcm __dist-check --device cuda`: all-reduce, broadcast and c10d's Reducer on CUDA tensors
#    through libLCMNCCL.so's ProcessGroupNCCL (host values on Gloo);
# 2. `lcm distill` (SD1.5 architecture, random weights, 512 px, batch 12, fp16, gradient
#    checkpointing, STEPS steps) as one plain process and as rank 0 of 1 under torchrun (the
#    Reducer's bucketed NCCL all-reduce during backward, the flags on Gloo), ROUNDS rounds: the
#    samples/s of each and their ratio, the cost of the data-parallel machinery at world size 1.
set -uo pipefail
cd "$(dirname "$0")/.."
LCM="${LCM:-/tmp/lcm-device}"
PYTHON="${SWIFT_LCM_PYTHON:-python3}"
WORK="${WORK:-/tmp/lcm-distill-bench}"
STEPS="${STEPS:-8}"
ROUNDS="${ROUNDS:-2}"
export SWIFT_LCM_NCCL_LIBRARY="${SWIFT_LCM_NCCL_LIBRARY:-$(pwd)/.device/lib/libLCMNCCL.so}"
mkdir -p "$WORK"

echo "== c10d on CUDA through NCCL (world size 1)"
WORLD_SIZE=1 RANK=0 LOCAL_RANK=0 SWIFT_LCM_DISTRIBUTED=1 MASTER_ADDR=127.0.0.1 MASTER_PORT=29611 "$LCM" __dist-check --device cuda

source scripts/gpu_bench_inputs.sh
common=(distill --pretrained_teacher_model "$WORK/teacher" --train_shards_path_or_url "$WORK/shards/bench-{00000..00003}.tar"
  --resolution 512 --train_batch_size 12 --mixed_precision fp16 --gradient_checkpointing --max_train_samples 1000000
  --max_train_steps "$STEPS" --dataloader_num_workers 4 --validation_steps 100000 --checkpointing_steps 100000 --seed 0)
rate() { grep -oE 'samples_per_second=[0-9.]+' "$1" | head -n 1 | cut -d= -f2; }
declare -A rates
for round in $(seq 1 "$ROUNDS"); do
  rm -rf "$WORK/out-one" "$WORK/out-nccl"
  "$LCM" "${common[@]}" --output_dir "$WORK/out-one" >"$WORK/one.log" 2>&1 || tail -n 3 "$WORK/one.log"
  "$PYTHON" -m torch.distributed.run --nproc_per_node 1 --master_port 29612 --no-python env SWIFT_LCM_DISTRIBUTED=1 \
    "$LCM" "${common[@]}" --output_dir "$WORK/out-nccl" >"$WORK/nccl.log" 2>&1 || tail -n 3 "$WORK/nccl.log"
  grep -m1 -oE 'rank 0 of 1 \(c10d, [^)]*\)' "$WORK/nccl.log"
  one=$(rate "$WORK/one.log"); nccl=$(rate "$WORK/nccl.log")
  rates[one]="${rates[one]:-} ${one:-nan}"; rates[nccl]="${rates[nccl]:-} ${nccl:-nan}"
  echo "   round $round: 1 process ${one:-failed} samples/s, rank 0 of 1 on NCCL ${nccl:-failed} samples/s"
done
med() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { printf "%s", v[int((NR + 1) / 2)] }'; }
one=$(echo "${rates[one]}" | med); nccl=$(echo "${rates[nccl]}" | med)
echo "NCCL world size 1: $nccl samples/s vs 1 process $one samples/s ($(awk -v a="$nccl" -v b="$one" 'BEGIN { printf "%.2fx", a / b }'), median over $ROUNDS rounds; rounds:$(echo "${rates[nccl]}") vs$(echo "${rates[one]}"))"
