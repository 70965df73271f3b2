#!/usr/bin/env bash
# LCM generation latency, Swift (`lcm bench generate`) beside diffusers, same machine, same run.
# Default: the tiny LCM fixture pipeline on the CPU. Extra arguments go to both sides, e.g. on a GPU:
#   scripts/bench_generate.sh --model DIR --size 512 --batch 4 --device cuda --dtype float16
set -euo pipefail
cd "$(dirname "$0")/.."
LCM="${LCM:-.build/release/lcm}"
PYTHON="${SWIFT_LCM_PYTHON:-${SWIFT_LCM_CACHE:-$HOME/.cache/swift-lcm}/py/bin/python}"
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--model Tests/Fixtures/pipeline/lcm --size 32 --iterations 20)
"$LCM" bench generate "${args[@]}"
"$PYTHON" scripts/bench_generate.py "${args[@]}"
