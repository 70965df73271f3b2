#!/usr/bin/env bash
# UNet forward and forward+backward, Swift (`lcm bench unet`) beside diffusers, same machine, same
# run: the tiny SD1-like fixture config and the SD1.5 architecture (random weights). Extra
# arguments go to both sides (e.g. --device cuda --autocast float16 --batch 12 --size 64).
set -euo pipefail
cd "$(dirname "$0")/.."
LCM="${LCM:-.build/release/lcm}"
PYTHON="${SWIFT_LCM_PYTHON:-${SWIFT_LCM_CACHE:-$HOME/.cache/swift-lcm}/py/bin/python}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the SD1.5 UNet config (diffusers' defaults with the repo's values)
"$PYTHON" - "$tmp/sd15.json" <<'PY'
import json, sys
json.dump({"sample_size": 64, "cross_attention_dim": 768, "attention_head_dim": 8}, open(sys.argv[1], "w"))
PY
run() { # label config args...: times both, then diffusers recomputes Swift's output with Swift's weights
  local label=$1 cfg=$2; shift 2
  echo "== $label $*"
  rm -rf "$tmp/io"
  "$LCM" bench unet --config "$cfg" --save-io "$tmp/io" "$@"
  "$PYTHON" scripts/bench_unet.py --config "$cfg" --save-io "$tmp/io" "$@"
}
if [ $# -eq 0 ]; then
  run "tiny SD1-like UNet, batch 2, 16x16 latents" Tests/Fixtures/unet/sd1/config.json --batch 2 --size 16 --iterations 20
  run "SD1.5 UNet, batch 1, 16x16 latents" "$tmp/sd15.json" --batch 1 --size 16 --iterations 3
else
  run "SD1.5 UNet" "$tmp/sd15.json" "$@"
fi
