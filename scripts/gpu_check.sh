#!/usr/bin/env bash
# GPU check of the foundation issue, run on the device machine (no Swift toolchain there):
#   here:   scripts/gpu_check.sh --prepare   (static release build into .device/, gitignored)
#   there:  bash scripts/gpu_check.sh        (with .device carried)
# Shows the GPU in `lcm doctor`, runs the fp32 op parity cases on CUDA within 1e-4, a bf16
# autocast training step, an 8192³ bf16 matmul from Swift and from Python, and the SD1.5 UNet
# forward+backward (batch 12, 64×64 latents, fp16 autocast) beside diffusers with the same weights,
# 512px generation, and `lcm distill` beside the Python reference loop (scripts/gpu_distill_bench.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--prepare" ]; then
  swift build -c release --product lcm --static-swift-stdlib
  mkdir -p .device
  cp .build/release/lcm .device/lcm
  echo "prepared .device/lcm ($(du -h .device/lcm | cut -f1)); carry .device"
  exit 0
fi

OUT="${OUT:-/tmp/gpu-check}"
mkdir -p "$OUT"
torch_lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$torch_lib:${LD_LIBRARY_PATH:-}"
LCM=.device/lcm
{
  echo "== lcm doctor"; $LCM doctor
  echo "== selftest + op parity on cuda"
  $LCM selftest --device cuda --steps 30 --parity-fixture Tests/Fixtures/ops.safetensors --tolerance 1e-4
  echo "== bf16 autocast forward/backward on cuda"; $LCM selftest --device cuda --steps 20 --autocast bfloat16
  echo "== 8192^3 bf16 matmul and per-op overhead, Swift vs Python"
  LCM=$LCM SWIFT_LCM_PYTHON=python3 scripts/bench_ops.sh --device cuda --dtype bfloat16 --matmul 8192 --iterations 20000
  echo "== SD1.5-architecture UNet, 64x64 latents, batch 12, fp16 autocast: forward+backward, peak memory, outputs"
  LCM=$LCM SWIFT_LCM_PYTHON=python3 scripts/bench_unet.sh --device cuda --autocast float16 --batch 12 --size 64 --iterations 5
  echo "== 4-step 512x512 generation, SD1.5 architecture (random weights), fp16, batch 1 and 4"
  python3 scripts/make_sd15_lcm_pipeline.py /tmp/sd15-lcm
  for b in 1 4; do
    LCM=$LCM SWIFT_LCM_PYTHON=python3 scripts/bench_generate.sh --model /tmp/sd15-lcm --size 512 --batch $b --iterations 5 --device cuda --dtype float16
  done
  echo "== LCM distillation, SD1.5-architecture teacher (random weights), 512px, batch 12, fp16, gradient checkpointing on/off: Swift vs Python reference"; LCM=$LCM SWIFT_LCM_PYTHON=python3 scripts/gpu_distill_bench.sh
} 2>&1 | tee "$OUT/gpu_check.log"
