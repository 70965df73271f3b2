#!/usr/bin/env bash
# Data pipeline benchmark (issue 5): images/s at 512 px from ~1000 local JPEGs of mixed sizes,
# Swift (`lcm data stats`) vs webdataset + PIL + torchvision, 1 and 2 workers, same shards.
#   scripts/bench_data.sh [SHARD_DIR] [BATCHES]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${SWIFT_LCM_PYTHON:-$HOME/.cache/swift-lcm/py/bin/python}
DIR=${1:-${TMPDIR:-/tmp}/lcm-bench-shards}
BATCHES=${2:-40}
[ -f "$DIR/bench-00009.tar" ] || "$PY" scripts/make_bench_shards.py "$DIR"
swift build -c release --product lcm-core >/dev/null && swift build -c release --product lcm >/dev/null
LCM=$(swift build -c release --show-bin-path)/lcm
SPEC="$DIR/bench-{00000..00009}.tar"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for w in 1 2; do
  # The first batch of each worker (start-up) is excluded on both sides.
  echo "swift lcm data stats workers=$w: $("$LCM" data stats --train_shards_path_or_url "$SPEC" \
    --dataloader_num_workers "$w" --train_batch_size 16 --resolution 512 --batches "$((BATCHES + w))" | grep samples/s)"
  "$PY" scripts/bench_data.py --shards "$SPEC" --workers "$w" --batches "$BATCHES"
done
