#!/usr/bin/env bash
# Per-op overhead (tiny add, tiny linear+silu) and a matmul, Swift and Python torch side by side on
# this machine, then the ratio of per-op overheads (goal: Swift ≤ 0.7× Python).
# Extra arguments go to both sides (e.g. --device cuda --dtype bfloat16 --matmul 8192).
set -euo pipefail
cd "$(dirname "$0")/.."
LCM="${LCM:-.build/release/lcm}"
PYTHON="${SWIFT_LCM_PYTHON:-${SWIFT_LCM_CACHE:-$HOME/.cache/swift-lcm}/py/bin/python}"
swift_out=$("$LCM" bench ops "$@")
python_out=$("$PYTHON" scripts/bench_ops.py "$@")
echo "$swift_out"
echo "$python_out"
ratio() { # label
  local s p
  s=$(echo "$swift_out" | grep "$1" | awk '{print $(NF-1)}')
  p=$(echo "$python_out" | grep "$1" | awk '{print $(NF-1)}')
  awk -v s="$s" -v p="$p" -v l="$1" 'BEGIN { printf "ratio %-22s swift/python = %.2f\n", l ":", s / p }'
}
ratio "tiny add"
ratio "tiny linear+silu"
