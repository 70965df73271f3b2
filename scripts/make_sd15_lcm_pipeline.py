"""A random-weight LCM pipeline with the SD1.5 architecture (UNet with time_cond_proj_dim 256, SD
VAE, CLIP-L text encoder; the repo's small fixture tokenizer), for GPU generation benchmarks.

    python scripts/make_sd15_lcm_pipeline.py OUT_DIR
"""

import os
import shutil
import sys

import torch
from diffusers import AutoencoderKL, LatentConsistencyModelPipeline, LCMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

out = sys.argv[1]
tok_dir = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "clip_tokenizer", "sd15")
torch.manual_seed(0)
unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768, attention_head_dim=8, time_cond_proj_dim=256)
vae = AutoencoderKL(down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                    block_out_channels=[128, 256, 512, 512], layers_per_block=2, sample_size=512)
te = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                                  num_attention_heads=12, hidden_act="quick_gelu", eos_token_id=2))
tok = CLIPTokenizer.from_pretrained(tok_dir)
LatentConsistencyModelPipeline(vae=vae, text_encoder=te, tokenizer=tok, unet=unet, scheduler=LCMScheduler(),
                               safety_checker=None, feature_extractor=None, requires_safety_checker=False).save_pretrained(out)
shutil.rmtree(os.path.join(out, "tokenizer"))
shutil.copytree(tok_dir, os.path.join(out, "tokenizer"))
print("wrote", out)
