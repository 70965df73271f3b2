#!/usr/bin/env bash
# GPU check of the foundation issue, run on the device machine (no Swift toolchain there):
#   here:   scripts/gpu_check.sh --prepare   (into .device/ and .whl/, both gitignored)
#   there:  bash scripts/gpu_check.sh        (run with carry [".device", ".whl"])
# --prepare: a static-stdlib release build, stripped and gzipped (the carry limit is 64 MiB), the
# Debian image libraries it links (libturbojpeg, libpng, libwebp, zlib) and the Python wheels the
# device image lacks for the reference side (diffusers, webdataset, braceexpand).
# Shows the GPU in `lcm doctor`, runs the fp32 op parity cases on CUDA within 1e-4, a bf16
# autocast training step, an 8192³ bf16 matmul from Swift and from Python, and the SD1.5 UNet
# forward+backward (batch 12, 64×64 latents, fp16 autocast) beside diffusers with the same weights,
# 512px generation, and `lcm distill` beside the Python reference loop (scripts/gpu_distill_bench.sh),
# data-parallel training on NCCL at world size 1 (scripts/gpu_nccl_check.sh; GPU_CHECK_ONLY=nccl
# runs only that);
# GPU_CHECK_SDXL=1 adds the SDXL runs beside the unmodified S3/S4 scripts (scripts/gpu_sdxl_bench.sh;
# alone it needs most of a 15-minute device session: run it as its own call after this one).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--prepare" ]; then
  # the engine alone (the launcher only spares libtorch for --help; the device has it anyway)
  swift build -c release --product lcm-core --static-swift-stdlib
  rm -rf .device .whl
  mkdir -p .device/lib .whl
  strip -o .device/lcm.tmp .build/release/lcm-core
  gzip -9 -c .device/lcm.tmp > .device/lcm.gz && rm .device/lcm.tmp
  for lib in libturbojpeg.so.0 libpng16.so.16 libwebp.so.7 libz.so.1; do
    cp -L "$(ldd .build/release/lcm-core | awk -v l="$lib" '$1 == l { print $3 }')" .device/lib/
  done
  # libLCMNCCL.so as Package.swift builds it, but without the Swift runtime SwiftPM links into
  # every dynamic product (the device has none; the shim has no Swift code)
  nv=.libtorch/../nvidia
  clang++ -shared -fPIC -std=c++20 -O2 -D_GLIBCXX_USE_CXX11_ABI=1 -isystem .libtorch/include \
    -isystem .libtorch/include/torch/csrc/api/include -isystem "$nv/nccl/include" -isystem "$nv/cu13/include" \
    -I Sources/CNCCLGroup/include Sources/CNCCLGroup/nccl_group.cpp -L.libtorch/lib -ltorch_cuda -lc10_cuda -ltorch_cpu -lc10 \
    -Wl,--no-undefined -s -o .device/lib/libLCMNCCL.so
  PYTHON="${SWIFT_LCM_PYTHON:-${SWIFT_LCM_CACHE:-$HOME/.cache/swift-lcm}/py/bin/python}"
  "$PYTHON" -m pip download -q --no-deps -d .whl diffusers==0.42.1 webdataset==0.2.86 braceexpand==0.1.7 \
    peft==0.21.2 accelerate==1.16.0 bitsandbytes==0.50.2
  # the unmodified upstream scripts, for the LoRA and SDXL benchmarks (not part of the repository)
  for s in train_lcm_distill_lora_sd_wds.py train_lcm_distill_sdxl_wds.py train_lcm_distill_lora_sdxl_wds.py; do
    cp "../shared/reference/upstream/$s" .device/
  done
  echo "prepared .device ($(du -sh .device | cut -f1)) and .whl ($(du -sh .whl | cut -f1)); carry both"
  exit 0
fi

OUT="${OUT:-/tmp/gpu-check}"
mkdir -p "$OUT"
torch_lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$torch_lib:$(pwd)/.device/lib:${LD_LIBRARY_PATH:-}"
LCM=/tmp/lcm-device
gunzip -c .device/lcm.gz > "$LCM" && chmod +x "$LCM"
# the reference side's packages missing from the device image, from the carried wheels
if ! python3 -c 'import diffusers, webdataset' 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/lcm-wheels .whl/*.whl
  export PYTHONPATH="/tmp/lcm-wheels${PYTHONPATH:+:$PYTHONPATH}"
fi
export SWIFT_LCM_NCCL_LIBRARY="$(pwd)/.device/lib/libLCMNCCL.so"
if [ "${GPU_CHECK_ONLY:-}" = nccl ]; then  # data-parallel on NCCL alone (a few minutes)
  { echo "== lcm doctor"; $LCM doctor; LCM=$LCM SWIFT_LCM_PYTHON=python3 scripts/gpu_nccl_check.sh; } 2>&1 | tee "$OUT/gpu_nccl_check.log"
  exit 0
fi
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
  echo "== data-parallel on NCCL, world size 1 (c10d check, then lcm distill as 1 process vs rank 0 of 1 under torchrun)"
  LCM=$LCM SWIFT_LCM_PYTHON=python3 scripts/gpu_nccl_check.sh
  echo "== LCM-LoRA distillation, rank 64, 512px, batch 12, fp16: lcm distill-lora vs the unmodified train_lcm_distill_lora_sd_wds.py (anchor: 13.4 samples/s at 12.2 GiB on an H100)"
  LCM=$LCM SWIFT_LCM_PYTHON=python3 UPSTREAM=.device/train_lcm_distill_lora_sd_wds.py TEACHER=/tmp/lcm-distill-bench/teacher \
    SHARDS='/tmp/lcm-distill-bench/shards/bench-{00000..00003}.tar' RESOLUTION=512 BATCH=12 MIXED=fp16 PEAK=cuda \
    SHORT=3 LONG=11 ROUNDS=2 WORKERS=4 scripts/bench_distill_lora.sh  # lcm picks the GPU itself
  if [ "${GPU_CHECK_SDXL:-0}" = 1 ]; then
    echo "== SDXL distillation, SDXL-base architecture (random weights), 1024px, bf16 and fp16: lcm vs the unmodified S3 / S4 scripts"
    LCM=$LCM SWIFT_LCM_PYTHON=python3 scripts/gpu_sdxl_bench.sh
  fi
} 2>&1 | tee "$OUT/gpu_check.log"
