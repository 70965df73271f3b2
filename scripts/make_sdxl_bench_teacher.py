"""A small SDXL-architecture teacher pipeline for the CPU benchmarks (scripts/bench_distill_sdxl.sh):
SDXL's widths where the unmodified SDXL scripts hard-code them (prompt embeddings 768 + 1280 =
2048, pooled 1280: S3/S4 build their unconditional embeddings with those sizes), little depth
(2-layer text encoders, a two-level UNet and VAE), the repository's tokenizer fixtures. Random
weights, seeded. Writes a StableDiffusionXLPipeline folder (EulerDiscreteScheduler, as SDXL ships).

    python scripts/make_sdxl_bench_teacher.py OUT
"""
import os
import sys
import warnings

warnings.filterwarnings("ignore")
import torch  # noqa: E402
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel  # noqa: E402
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = sys.argv[1]
torch.manual_seed(0)
tok1 = CLIPTokenizer.from_pretrained(os.path.join(REPO, "Tests", "Fixtures", "clip_tokenizer", "sd15"))
tok2 = CLIPTokenizer.from_pretrained(os.path.join(REPO, "Tests", "Fixtures", "clip_tokenizer", "sdxl2"))


def clip(tok, hidden, heads, projection=None):
    cfg = CLIPTextConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=2,
                         num_attention_heads=heads, max_position_embeddings=77, hidden_act="gelu",
                         projection_dim=projection or hidden, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id)
    return CLIPTextModelWithProjection(cfg) if projection else CLIPTextModel(cfg)


unet = UNet2DConditionModel(
    sample_size=32, block_out_channels=(32, 64), layers_per_block=1, norm_num_groups=8,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    cross_attention_dim=2048, attention_head_dim=(2, 4), transformer_layers_per_block=(1, 2), use_linear_projection=True,
    addition_embed_type="text_time", addition_time_embed_dim=32, projection_class_embeddings_input_dim=1280 + 6 * 32)
vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                    up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(16, 32), layers_per_block=1,
                    latent_channels=4, norm_num_groups=8, sample_size=64, scaling_factor=0.13025)
sched = EulerDiscreteScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, steps_offset=1,
                               timestep_spacing="leading")
StableDiffusionXLPipeline(vae=vae, text_encoder=clip(tok1, 768, 12), text_encoder_2=clip(tok2, 1280, 20, projection=1280),
                          tokenizer=tok1, tokenizer_2=tok2, unet=unet, scheduler=sched).save_pretrained(out)
print("wrote", out)
