#!/usr/bin/env bash
# SDXL distillation on the CPU: `lcm distill` beside the unmodified train_lcm_distill_sdxl_wds.py
# (S3) and `lcm distill-lora` beside train_lcm_distill_lora_sdxl_wds.py (S4), through
# scripts/bench_distill_lora.sh, on a small SDXL-architecture teacher (scripts/make_sdxl_bench_teacher.py,
# made once under $SWIFT_LCM_CACHE) and 200 seeded JPEGs whose json records an original size
# 12× theirs (the scripts' WebdatasetFilter keeps them all). 64 px, batch 4.
#
#   scripts/bench_distill_sdxl.sh [full|lora|both] [FLAGS...]
#
# Environment: as scripts/bench_distill_lora.sh (TEACHER, SHARDS, SHORT, LONG, ROUNDS, ...).
set -uo pipefail
cd "$(dirname "$0")/.."
CACHE="${SWIFT_LCM_CACHE:-$HOME/.cache/swift-lcm}"
PYTHON="${SWIFT_LCM_PYTHON:-$CACHE/py/bin/python}"
which=${1:-both}; [ $# -gt 0 ] && shift
UP="${UPSTREAM_DIR:-../shared/reference/upstream}"
if [ -z "${TEACHER:-}" ]; then
  TEACHER="$CACHE/bench-sdxl-teacher"
  [ -f "$TEACHER/model_index.json" ] || "$PYTHON" scripts/make_sdxl_bench_teacher.py "$TEACHER" || exit 1
fi
if [ -z "${SHARDS:-}" ]; then
  dir="$CACHE/bench-sdxl-shards"
  if [ ! -f "$dir/bench-00003.tar" ]; then
    rm -rf "$dir.tmp"
    "$PYTHON" scripts/make_bench_shards.py "$dir.tmp" --images 200 --per-shard 50 --min-side 64 --max-side 160 --json-scale 12 \
      && rm -rf "$dir" && mv "$dir.tmp" "$dir" || exit 1
  fi
  SHARDS="$dir/bench-{00000..00003}.tar"
fi
export TEACHER SHARDS RESOLUTION="${RESOLUTION:-64}"
rc=0
if [ "$which" != lora ]; then
  COMMAND=distill UPSTREAM="$UP/train_lcm_distill_sdxl_wds.py" scripts/bench_distill_lora.sh "$@" || rc=1
fi
if [ "$which" != full ]; then
  COMMAND=distill-lora UPSTREAM="$UP/train_lcm_distill_lora_sdxl_wds.py" scripts/bench_distill_lora.sh "$@" || rc=1
fi
exit $rc
