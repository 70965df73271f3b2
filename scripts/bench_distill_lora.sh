#!/usr/bin/env bash
# Distillation beside an unmodified upstream script: by default `lcm distill-lora` beside
# train_lcm_distill_lora_sd_wds.py (shared/reference/upstream, pinned diffusers), same teacher,
# shards and settings (the upstream README's rank-64 recipe with sizes scaled to the teacher), one
# after the other, ROUNDS times. COMMAND=distill drops the LoRA flags (full UNet, S1/S3);
# scripts/bench_distill_sdxl.sh runs the SDXL scripts through it.
# Each side runs SHORT and LONG steps; time per step = (wall(LONG) − wall(SHORT)) / (LONG − SHORT),
# which cancels start-up (imports, model loading) on both sides; peak memory is the LONG run's peak
# RSS (CPU) from /usr/bin/time. Prints the median and the range over rounds.
#
#   scripts/bench_distill_lora.sh [FLAGS...]    FLAGS go to both sides, after the defaults
#
# Environment: LCM, COMMAND (distill-lora | distill), SWIFT_LCM_PYTHON, UPSTREAM (the script), TEACHER, SHARDS, RESOLUTION, BATCH,
# SHORT, LONG, ROUNDS, WORKERS, MIXED (no|fp16|bf16), PEAK (rss: peak RSS, the CPU default; cuda:
# the CUDA allocator peak, from lcm's summary line and scripts/run_with_cuda_peak.py). Default: the tiny fixture teacher on the CPU,
# 32 px, batch 4, 5 and 25 steps, 3 rounds, 1 worker, fp32. `--enable_xformers_memory_efficient_attention`
# is left out (the script needs the xformers package, which does not exist for the CPU).
set -uo pipefail
cd "$(dirname "$0")/.."
LCM="${LCM:-.build/release/lcm}"
CACHE="${SWIFT_LCM_CACHE:-$HOME/.cache/swift-lcm}"
PYTHON="${SWIFT_LCM_PYTHON:-$CACHE/py/bin/python}"
UPSTREAM="${UPSTREAM:-../shared/reference/upstream/train_lcm_distill_lora_sd_wds.py}"
TEACHER="${TEACHER:-Tests/Fixtures/pipeline/base}"
RESOLUTION="${RESOLUTION:-32}"
BATCH="${BATCH:-4}"
SHORT="${SHORT:-5}"
LONG="${LONG:-25}"
ROUNDS="${ROUNDS:-3}"
WORKERS="${WORKERS:-1}"
MIXED="${MIXED:-no}"
PEAK="${PEAK:-rss}"
COMMAND="${COMMAND:-distill-lora}"
[ -f "$UPSTREAM" ] || { echo "bench_distill_lora: the upstream script is not at $UPSTREAM (set UPSTREAM)"; exit 1; }
command -v "$LCM" >/dev/null || { echo "bench_distill_lora: no $LCM (scripts/setup.sh builds it)"; exit 1; }
source scripts/bench_shards.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
lora=(); [ "$COMMAND" = distill-lora ] && lora=(--lora_rank 64)
recipe=(--pretrained_teacher_model "$TEACHER" --mixed_precision "$MIXED" --resolution "$RESOLUTION" "${lora[@]}"
  --learning_rate 1e-4 --loss_type huber --adam_weight_decay 0.0 --max_train_samples 4000000
  --dataloader_num_workers "$WORKERS" --train_shards_path_or_url "pipe:cat $SHARDS" --validation_steps 100000
  --checkpointing_steps 100000 --train_batch_size "$BATCH" --gradient_checkpointing --gradient_accumulation_steps 1
  --use_8bit_adam --seed 453645634 --report_to tensorboard "$@")

# side STEPS OUT -> "wall_seconds peak_kib"
run() {
  local side=$1 steps=$2 out=$3 log="$tmp/$1-$2.log"
  rm -rf "$out"
  if [ "$side" = swift ]; then
    /usr/bin/time -f "%e %M" -o "$tmp/time" "$LCM" "$COMMAND" "${recipe[@]}" --max_train_steps "$steps" --output_dir "$out" >"$log" 2>&1
  else
    /usr/bin/time -f "%e %M" -o "$tmp/time" "$PYTHON" scripts/run_with_cuda_peak.py "$UPSTREAM" "${recipe[@]}" --max_train_steps "$steps" --output_dir "$out" >"$log" 2>&1
  fi
  local rc=$?
  [ $rc -ne 0 ] && { echo "   ($side, $steps steps, exited $rc:)" >&2; tail -n 3 "$log" | sed 's/^/     /' >&2; echo "nan nan"; return; }
  local wall peak
  read -r wall peak < <(tail -n 1 "$tmp/time")
  if [ "$PEAK" = cuda ]; then  # MiB from the logs, reported as KiB like /usr/bin/time's
    peak=$(grep -hoE '(peak_memory_mib|cuda_peak_mib)=[0-9.]+' "$log" | tail -n 1 | cut -d= -f2)
    peak=$(awk -v m="${peak:-nan}" 'BEGIN { printf "%d", m * 1024 }')
  fi
  echo "$wall $peak"
}

echo "== lcm $COMMAND beside $(basename "$UPSTREAM"): teacher $TEACHER, $RESOLUTION px, batch $BATCH${lora:+, rank 64}, $MIXED, steps $SHORT→$LONG, $ROUNDS rounds${*:+ | $*}"
declare -A rate mem
for round in $(seq 1 "$ROUNDS"); do
  for side in swift python; do
    read -r t1 _ < <(run "$side" "$SHORT" "$tmp/out-$side")
    read -r t2 m2 < <(run "$side" "$LONG" "$tmp/out-$side")
    r=$(awk -v a="$t1" -v b="$t2" -v s="$SHORT" -v l="$LONG" -v n="$BATCH" 'BEGIN { d = b - a; if (d > 0) printf "%.3f", n * (l - s) / d; else print "nan" }')
    rate[$side]="${rate[$side]:-} $r"
    mem[$side]="${mem[$side]:-} $((m2 / 1024))"
    echo "   round $round $side: $SHORT steps ${t1}s, $LONG steps ${t2}s -> $r samples/s, peak ${m2} KiB"
  done
done
stats() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { printf "%s (%s–%s)", v[int((NR + 1) / 2)], v[1], v[NR] }'; }
sw=$(echo "${rate[swift]}" | stats) py=$(echo "${rate[python]}" | stats)
swm=$(echo "${mem[swift]}" | stats) pym=$(echo "${mem[python]}" | stats)
echo "samples/s: swift $sw, python $py (median (range) over $ROUNDS rounds)"
echo "peak memory MiB ($PEAK): swift $swm, python $pym"
awk -v a="$(echo "${rate[swift]}" | tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')" \
    -v b="$(echo "${rate[python]}" | tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')" \
    -v c="$(echo "${mem[swift]}" | tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')" \
    -v d="$(echo "${mem[python]}" | tr ' ' '\n' | grep -v '^$' | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')" \
    'BEGIN { printf "swift / python: %.2fx samples/s, %.2fx peak memory (goal: >= 1.5x, <= 0.6x)\n", a / b, c / d }'
