# Sourced by the GPU benchmarks: a random-weight SD1.5-architecture teacher
# (scripts/make_sd15_teacher_pipeline.py) and 400 seeded JPEGs of 512..1024 px in 4 shards
# (scripts/make_bench_shards.py), made once under $WORK with $PYTHON.
if [ ! -f "$WORK/teacher/model_index.json" ]; then
  "$PYTHON" scripts/make_sd15_teacher_pipeline.py "$WORK/teacher.tmp" --device "${TEACHER_DEVICE:-cuda}" 2>&1 | grep -v 'Writing model shards' \
    && rm -rf "$WORK/teacher" && mv "$WORK/teacher.tmp" "$WORK/teacher" || exit 1
fi
if [ ! -f "$WORK/shards/bench-00003.tar" ]; then
  "$PYTHON" scripts/make_bench_shards.py "$WORK/shards.tmp" --images 400 --per-shard 100 --min-side 512 --max-side 1024 \
    && rm -rf "$WORK/shards" && mv "$WORK/shards.tmp" "$WORK/shards" || exit 1
fi
