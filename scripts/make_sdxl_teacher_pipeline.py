"""A random-weight SDXL-base-architecture pipeline for the GPU benchmark (scripts/gpu_sdxl_bench.sh):
the UNet (2.57B parameters), VAE and the CLIP-L / OpenCLIP-bigG text encoders from SDXL base's
config values (as scripts/fixtures/make_unet_fixtures.py and make_arch_keys.py give them), the
repository's tokenizer fixtures (a 2,671-token vocabulary instead of 49,408: smaller embedding
tables, the same encoders otherwise). Weights saved in fp16. Seeded.

    python scripts/make_sdxl_teacher_pipeline.py OUT [--device cuda]
"""
import argparse
import os
import warnings

warnings.filterwarnings("ignore")
import torch  # noqa: E402
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel  # noqa: E402
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--device", default="cpu")
args = ap.parse_args()
torch.manual_seed(0)
tok1 = CLIPTokenizer.from_pretrained(os.path.join(REPO, "Tests", "Fixtures", "clip_tokenizer", "sd15"))
tok2 = CLIPTokenizer.from_pretrained(os.path.join(REPO, "Tests", "Fixtures", "clip_tokenizer", "sdxl2"))
with torch.device(args.device):
    unet = UNet2DConditionModel(
        sample_size=128, block_out_channels=(320, 640, 1280),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(5, 10, 20), transformer_layers_per_block=(1, 2, 10), cross_attention_dim=2048,
        use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
        projection_class_embeddings_input_dim=2816)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(128, 256, 512, 512), layers_per_block=2,
                        latent_channels=4, norm_num_groups=32, sample_size=1024, scaling_factor=0.13025, force_upcast=True)

    def clip(tok, hidden, inter, layers, heads, projection=None):
        cfg = CLIPTextConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                             num_attention_heads=heads, max_position_embeddings=77, hidden_act="quick_gelu" if not projection else "gelu",
                             projection_dim=projection or hidden, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                             pad_token_id=tok.pad_token_id)
        return CLIPTextModelWithProjection(cfg) if projection else CLIPTextModel(cfg)

    te1 = clip(tok1, 768, 3072, 12, 12)
    te2 = clip(tok2, 1280, 5120, 32, 20, projection=1280)
sched = EulerDiscreteScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, steps_offset=1,
                               timestep_spacing="leading")
pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=te1, text_encoder_2=te2, tokenizer=tok1, tokenizer_2=tok2, unet=unet,
                                 scheduler=sched)
pipe.to(torch.float16).save_pretrained(args.out)
print("wrote", args.out, f"UNet {sum(p.numel() for p in unet.parameters()) / 1e9:.2f}B parameters")
