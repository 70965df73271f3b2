#!/usr/bin/env bash
# The main job on the built-in default (`make demo`): a short real distillation, all in Swift.
#  1. the tiny teacher fixture (Tests/Fixtures/pipeline/base, a random-weight SD 1.x pipeline)
#     draws a training set with its own 25-step DDIM sampler and CFG, packed into WebDataset shards;
#  2. "before": the teacher sampled in 4 LCM steps;
#  3. `lcm distill` for 60 steps (checkpoints, validation images, TensorBoard logs);
#  4. "after": the distilled EMA UNet sampled in 4 LCM steps, same prompts and seed;
#  5. `lcm eval`: the teacher's DDIM 50/4 and the student's LCM 1/2/4/8 steps on shapes prompts,
#     the table printed, eval.json, the images and a comparison grid; then an LCM-LoRA of the same
#     teacher (`lcm distill-lora`, 60 steps) scored the same way (eval-lora.json). The teacher is still the
#     random-weight fixture (a trained shapes teacher is issue 16's next step), so its accuracy
#     columns stay near 0: the table shows the measurement, not yet a good student.
# Outputs under $DEMO_DIR (default demo-output/): before.png, after.png, teacher-ddim.png, run/,
# eval.json, eval/, eval-grid.png, run-lora/, eval-lora.json.
set -euo pipefail
cd "$(dirname "$0")/.."
LCM="${LCM:-.build/release/lcm}"
TEACHER=Tests/Fixtures/pipeline/base
OUT="${DEMO_DIR:-demo-output}"
rm -rf "$OUT"
mkdir -p "$OUT/data"
"$LCM" doctor

prompts=("a red house by a lake" "a cat on a sofa" "a mountain at sunset" "a bowl of fruit"
         "a city street at night" "a sailing boat" "a forest in autumn" "a portrait of an old man")
echo "== 1. training data: the teacher's own DDIM samples, as WebDataset shards"
args=()
for p in "${prompts[@]}"; do args+=(--prompt "$p"); done
"$LCM" generate --model "$TEACHER" --scheduler ddim --num_inference_steps 25 --guidance_scale 7.5 \
  "${args[@]}" --num_images_per_prompt 4 --seed 1 --output "$OUT/data/images" >/dev/null
n=0
for img in "$OUT"/data/images/*.png; do
  key=$(printf "%06d" "$n")
  cp "$img" "$OUT/data/images/$key.png.tmp"
  printf "%s" "${prompts[$((n / 4))]}" > "$OUT/data/images/$key.txt"
  n=$((n + 1))
done
for f in "$OUT"/data/images/*.png.tmp; do mv "$f" "${f%.tmp}"; done
members() { for k in $(seq -f "%06g" "$1" "$2"); do echo "$k.png" "$k.txt"; done; }  # a sample's files together
(cd "$OUT/data/images" && tar cf ../shard-0.tar $(members 0 15) && tar cf ../shard-1.tar $(members 16 31))
echo "$n samples in $OUT/data/shard-{0..1}.tar"

sample() {  # model folder, output png
  "$LCM" generate --model "$1" --prompt "${prompts[0]}" --prompt "${prompts[1]}" --prompt "${prompts[2]}" \
    --num_inference_steps 4 --guidance_scale 8 --seed 7 --grid --output "$2" "${@:3}" >/dev/null
}
echo "== 2. before: the teacher in 4 LCM steps"
sample "$TEACHER" "$OUT/before.png"
sample "$TEACHER" "$OUT/teacher-ddim.png" --scheduler ddim --num_inference_steps 25

echo "== 3. lcm distill"
"$LCM" distill --pretrained_teacher_model "$TEACHER" --train_shards_path_or_url "$OUT/data/shard-{0..1}.tar" \
  --resolution 32 --train_batch_size 8 --dataloader_num_workers 1 --max_train_steps 60 --learning_rate 1e-4 \
  --lr_warmup_steps 0 --loss_type huber --unet_time_cond_proj_dim 32 --checkpointing_steps 30 \
  --checkpoints_total_limit 1 --validation_steps 30 --validation_prompts "${prompts[@]:0:4}" --seed 0 \
  --output_dir "$OUT/run"

echo "== 4. after: the distilled UNet (EMA target) in 4 LCM steps"
mkdir -p "$OUT/lcm"
for c in model_index.json scheduler text_encoder tokenizer vae; do ln -s "$(pwd)/$TEACHER/$c" "$OUT/lcm/$c"; done
ln -s "$(cd "$OUT/run" && pwd)/unet_target" "$OUT/lcm/unet"
sample "$OUT/lcm" "$OUT/after.png"
echo "before: $OUT/before.png  after: $OUT/after.png  teacher (25 DDIM steps): $OUT/teacher-ddim.png"
echo "run: $OUT/run (unet/, unet_target/, checkpoint-60/, validation/, logs/; run_config.json)"

echo "== 5. lcm eval: teacher DDIM vs student LCM on shapes prompts (random-weight teacher: accuracy near 0)"
"$LCM" eval --model "$TEACHER" --unet "$OUT/run/unet_target" --samplers ddim-50,ddim-4,lcm-1,lcm-2,lcm-4,lcm-8 \
  --num_prompts 6 --seeds_per_prompt 2 --output_json "$OUT/eval.json" --save_images "$OUT/eval" --grid "$OUT/eval-grid.png"

echo "== 6. the LCM-LoRA student of the same teacher: lcm distill-lora, then lcm eval"
"$LCM" distill-lora --pretrained_teacher_model "$TEACHER" --train_shards_path_or_url "$OUT/data/shard-{0..1}.tar" \
  --resolution 32 --train_batch_size 8 --dataloader_num_workers 1 --max_train_steps 60 --learning_rate 1e-4 \
  --lr_warmup_steps 0 --loss_type huber --lora_rank 8 --checkpointing_steps 60 --validation_steps 1000 --seed 0 \
  --output_dir "$OUT/run-lora" | grep -E "^(saved|summary)"
"$LCM" eval --model "$TEACHER" --lora "$OUT/run-lora/pytorch_lora_weights.safetensors" --samplers ddim-4,lcm-1,lcm-2,lcm-4,lcm-8 \
  --num_prompts 6 --seeds_per_prompt 2 --output_json "$OUT/eval-lora.json"
