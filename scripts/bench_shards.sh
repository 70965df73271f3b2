# Sourced by the distillation benchmarks: SHARDS defaults to 200 seeded JPEGs of 64..160 px in
# 4 shards, made once under $CACHE/bench-distill-shards with $PYTHON.
if [ -z "${SHARDS:-}" ]; then
  dir="$CACHE/bench-distill-shards"
  if [ ! -f "$dir/bench-00003.tar" ]; then
    rm -rf "$dir.tmp"
    "$PYTHON" scripts/make_bench_shards.py "$dir.tmp" --images 200 --per-shard 50 --min-side 64 --max-side 160 \
      && rm -rf "$dir" && mv "$dir.tmp" "$dir" || exit 1
  fi
  SHARDS="$dir/bench-{00000..00003}.tar"
fi
