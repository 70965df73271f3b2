"""A random-weight SD1.5-architecture *teacher* pipeline for the distillation benchmark
(scripts/gpu_distill_bench.sh): UNet2DConditionModel with SD1.5's config and no time_cond_proj_dim,
the SD VAE, a CLIP-L-sized text encoder, the repo's small fixture tokenizer, and SD1.5's noise
schedule as a DDPMScheduler (scaled_linear 0.00085..0.012, 1000 steps, epsilon). Seeded.

    python scripts/make_sd15_teacher_pipeline.py OUT_DIR [--device cuda]

--device only says where the random weights are drawn (faster on a GPU); the files are fp32
safetensors either way. Compare scripts/make_sd15_lcm_pipeline.py (the LCM student for generation).
"""

import argparse
import os
import shutil

import torch
from diffusers import AutoencoderKL, DDPMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    tok_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "pipeline", "base",
                           "tokenizer")
    torch.manual_seed(0)
    with torch.device(args.device):
        unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8)
        vae = AutoencoderKL(down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                            block_out_channels=[128, 256, 512, 512], layers_per_block=2, sample_size=512)
        te = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072,
                                          num_hidden_layers=12, num_attention_heads=12, hidden_act="quick_gelu",
                                          max_position_embeddings=77, eos_token_id=2))
    assert unet.config.time_cond_proj_dim is None
    scheduler = DDPMScheduler(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                              beta_schedule="scaled_linear", clip_sample=False, steps_offset=1,
                              prediction_type="epsilon")
    tok = CLIPTokenizer.from_pretrained(tok_dir)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=te, tokenizer=tok, unet=unet, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.to("cpu").save_pretrained(args.out)
    # the fixture's own tokenizer files (the slow tokenizer reads vocab.json + merges.txt)
    shutil.rmtree(os.path.join(args.out, "tokenizer"))
    shutil.copytree(tok_dir, os.path.join(args.out, "tokenizer"))
    print("wrote", args.out)


if __name__ == "__main__":
    main()
