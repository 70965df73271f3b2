"""Python reference of `lcm distill` for scripts/bench_distill.sh: the S1 training loop of diffusers'
examples/consistency_distillation/train_lcm_distill_sd_wds.py, step for step, on one process
without accelerate, timed.

    bench_distill.py --pretrained_teacher_model DIR --train_shards_path_or_url 'shards/x-{00000..00009}.tar'
                     [--resolution 512] [--train_batch_size 12] [--max_train_steps 8]
                     [--mixed_precision no|fp16|bf16] [--gradient_checkpointing] [--device cpu|cuda] ...

What it does per optimizer step (written from the reference, shared/reference/diffusers-lcd-reference.md
§2-§5, not copied from the script):
  data     WebDataset: ResampledShards -> tar expansion + grouping by key (no throw) -> shuffle(1000)
           -> decode("pil", RGB) -> rename(image=jpg;png;jpeg;webp, text=text;txt;caption)
           -> keep image/text -> resize shorter side (--interpolation_type), random crop, ToTensor,
           Normalize([0.5],[0.5]) -> (image, text) -> full batches; WebLoader with
           --dataloader_num_workers workers, one epoch = the script's num_worker_batches.
  step     captions -> CLIP (weight dtype) ; VAE encode (weight dtype, posterior sample) x scaling
           factor ; DDIM-solver index, start t / t, boundary scalings ; noise, add_noise ; w ~ U on
           the CPU + guidance embedding ; student (grad, autocast, output cast to fp32 as accelerate
           does) ; teacher cond + uncond, LCM-form CFG of x0 and eps, one DDIM step (float64) ;
           target UNet on x_prev (autocast) ; l2 / pseudo-Huber loss ; backward (GradScaler for
           fp16) ; clip_grad_norm_ ; AdamW ; LR scheduler (skipped with a skipped fp16 step, as
           accelerate) ; zero_grad ; EMA of the target ; loss.item() (the script's logging).
One deliberate difference, shared with `lcm distill`: the teacher's autocast uses the run's dtype.
The script's `torch.autocast(device_type)` has no dtype (fp16 on CUDA, bf16 on the CPU) and is on
even for --mixed_precision no; for fp16 runs on CUDA the two are the same.

Timing: wall clock per optimizer step, data loading included (the loop's own wait for a batch),
CUDA synchronised before each reading; the first step (warm-up) is left out. The last line is
    summary: steps=N seconds_per_step=X samples_per_second=Y peak_memory_mib=Z
(N = steps after the first; peak memory: torch.cuda.max_memory_allocated on CUDA, this
process's peak RSS on the CPU).
"""

import argparse
import math
import os
import random
import resource
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lcd_reference import (DDIMSolver, append_dims, get_predicted_noise, get_predicted_original_sample,  # noqa: E402
                           guidance_scale_embedding, scalings_for_boundary_conditions, update_ema)

# Flags of `lcm distill` / the script that do not change the training step; accepted so that the
# same extra arguments can go to both sides of the benchmark.
IGNORED_WITH_VALUE = ["--output_dir", "--checkpointing_steps", "--checkpoints_total_limit", "--validation_steps",
                      "--report_to", "--logging_dir", "--tracker_project_name", "--resume_from_checkpoint",
                      "--num_train_epochs", "--cache_dir", "--local_rank", "--hub_model_id", "--hub_token"]
IGNORED_SWITCHES = ["--enable_xformers_memory_efficient_attention", "--push_to_hub"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pretrained_teacher_model", required=True)
    p.add_argument("--train_shards_path_or_url", required=True)
    p.add_argument("--resolution", type=int, default=512)
    p.add_argument("--interpolation_type", default="bilinear")
    p.add_argument("--train_batch_size", type=int, default=16)
    p.add_argument("--max_train_steps", type=int, default=10)
    p.add_argument("--max_train_samples", type=int, default=None,
                   help="epoch arithmetic (default: enough for --max_train_steps in one epoch)")
    p.add_argument("--gradient_accumulation_steps", type=int, default=1)
    p.add_argument("--learning_rate", type=float, default=1e-4)
    p.add_argument("--scale_lr", action="store_true")
    p.add_argument("--lr_scheduler", default="constant")
    p.add_argument("--lr_warmup_steps", type=int, default=500)
    p.add_argument("--adam_beta1", type=float, default=0.9)
    p.add_argument("--adam_beta2", type=float, default=0.999)
    p.add_argument("--adam_weight_decay", type=float, default=1e-2)
    p.add_argument("--adam_epsilon", type=float, default=1e-8)
    p.add_argument("--max_grad_norm", type=float, default=1.0)
    p.add_argument("--w_min", type=float, default=5.0)
    p.add_argument("--w_max", type=float, default=15.0)
    p.add_argument("--num_ddim_timesteps", type=int, default=50)
    p.add_argument("--loss_type", default="l2", choices=["l2", "huber"])
    p.add_argument("--huber_c", type=float, default=0.001)
    p.add_argument("--unet_time_cond_proj_dim", type=int, default=256)
    p.add_argument("--vae_encode_batch_size", type=int, default=32)
    p.add_argument("--timestep_scaling_factor", type=float, default=10.0)
    p.add_argument("--ema_decay", type=float, default=0.95)
    p.add_argument("--mixed_precision", default="no", choices=["no", "fp16", "bf16"])
    p.add_argument("--allow_tf32", action="store_true")
    p.add_argument("--cast_teacher_unet", action="store_true")
    p.add_argument("--gradient_checkpointing", action="store_true")
    p.add_argument("--dataloader_num_workers", type=int, default=0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    p.add_argument("--quiet", action="store_true", help="no per-step lines")
    for flag in IGNORED_WITH_VALUE:
        p.add_argument(flag, default=None, help=argparse.SUPPRESS)
    for flag in IGNORED_SWITCHES:
        p.add_argument(flag, action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


# ---------------------------------------------------------------- the script's maths (§2)

def autocast(device, dtype):
    return torch.autocast(device.type, dtype=dtype, enabled=dtype != torch.float32)


def lcd_losses(m, latents, prompt_embeds, uncond_prompt_embeds, noise_fn, index_fn, w_fn):
    """Steps 2-10 of §4.1 from the latents on: returns (loss, model_pred, target, x_prev).

    m holds the models and schedules; noise_fn / index_fn / w_fn draw noise, solver indices and w
    (so that a check can feed fixed ones), in the script's order: index, noise, w."""
    device, wd, pt = m["device"], m["weight_dtype"], m["prediction_type"]
    alphas, sigmas, solver = m["alpha_schedule"], m["sigma_schedule"], m["solver"]
    bsz = latents.shape[0]
    topk = m["num_train_timesteps"] // m["num_ddim_timesteps"]
    index = index_fn(bsz, latents.device)
    start_t = solver.ddim_timesteps[index]
    t = start_t - topk
    t = torch.where(t < 0, torch.zeros_like(t), t)
    c_skip_start, c_out_start = (append_dims(x, latents.ndim) for x in
                                 scalings_for_boundary_conditions(start_t, timestep_scaling=m["timestep_scaling"]))
    c_skip, c_out = (append_dims(x, latents.ndim) for x in
                     scalings_for_boundary_conditions(t, timestep_scaling=m["timestep_scaling"]))
    noise = noise_fn(latents)
    noisy = m["noise_scheduler"].add_noise(latents, noise, start_t)
    w = w_fn(bsz)  # CPU
    w_embedding = guidance_scale_embedding(w, m["time_cond_proj_dim"])
    w = w.reshape(bsz, 1, 1, 1).to(device=latents.device, dtype=latents.dtype)
    w_embedding = w_embedding.to(device=latents.device, dtype=latents.dtype)

    # online student: accelerate's prepared forward = autocast(weight dtype) + fp32 outputs
    with autocast(device, wd):
        noise_pred = m["unet"](noisy, start_t, timestep_cond=w_embedding,
                               encoder_hidden_states=prompt_embeds.float(), added_cond_kwargs={}).sample
    noise_pred = noise_pred.float()
    model_pred = c_skip_start * noisy + c_out_start * get_predicted_original_sample(noise_pred, start_t, noisy, pt, alphas, sigmas)

    with torch.no_grad():
        with autocast(device, wd):
            teacher = m["teacher_unet"]
            cond = teacher(noisy.to(wd), start_t, encoder_hidden_states=prompt_embeds.to(wd)).sample
            cond_x0 = get_predicted_original_sample(cond, start_t, noisy, pt, alphas, sigmas)
            cond_eps = get_predicted_noise(cond, start_t, noisy, pt, alphas, sigmas)
            uncond = teacher(noisy.to(wd), start_t, encoder_hidden_states=uncond_prompt_embeds.to(wd)).sample
            uncond_x0 = get_predicted_original_sample(uncond, start_t, noisy, pt, alphas, sigmas)
            uncond_eps = get_predicted_noise(uncond, start_t, noisy, pt, alphas, sigmas)
            x0 = cond_x0 + w * (cond_x0 - uncond_x0)
            eps = cond_eps + w * (cond_eps - uncond_eps)
            x_prev = solver.ddim_step(x0, eps, index)  # float64

        with autocast(device, wd):
            target_pred = m["target_unet"](x_prev.float(), t, timestep_cond=w_embedding,
                                           encoder_hidden_states=prompt_embeds.float()).sample
        target = c_skip * x_prev + c_out * get_predicted_original_sample(target_pred, t, x_prev, pt, alphas, sigmas)

    if m["loss_type"] == "l2":
        loss = F.mse_loss(model_pred.float(), target.float(), reduction="mean")
    else:
        c = m["huber_c"]
        loss = torch.mean(torch.sqrt((model_pred.float() - target.float()) ** 2 + c ** 2) - c)
    return loss, model_pred, target, x_prev


# ---------------------------------------------------------------- data (§5.1, §5.2)

def group_by_keys_nothrow(data, handler=None):
    """Tar members -> samples by key; a new sample when the key changes or an extension repeats."""
    from webdataset.tariterators import base_plus_ext, valid_sample
    current = None
    for member in data:
        if "fname" not in member:  # end-of-shard markers of newer webdataset versions
            continue
        prefix, suffix = base_plus_ext(member["fname"])
        if prefix is None:
            continue
        suffix = suffix.lower()
        if current is None or prefix != current["__key__"] or suffix in current:
            if valid_sample(current):
                yield current
            current = {"__key__": prefix, "__url__": member["__url__"]}
        current[suffix] = member["data"]
    if valid_sample(current):
        yield current


def tarfile_to_samples_nothrow(src):
    import webdataset as wds
    from webdataset.tariterators import tar_file_expander, url_opener
    streams = url_opener(src, handler=wds.warn_and_continue)
    files = tar_file_expander(streams, handler=wds.warn_and_continue)
    return group_by_keys_nothrow(files)


class KeepKeys:
    def __init__(self, keys):
        self.keys = set(keys)

    def __call__(self, sample):
        return {k: v for k, v in sample.items() if k in self.keys}


class Transform:
    """Resize the shorter side, random crop, ToTensor, Normalize([0.5], [0.5])."""

    def __init__(self, resolution, interpolation_type):
        from diffusers.training_utils import resolve_interpolation_mode
        self.resolution = resolution
        self.interpolation = resolve_interpolation_mode(interpolation_type)

    def __call__(self, sample):
        import torchvision.transforms.functional as TF
        from torchvision import transforms
        r = self.resolution
        image = TF.resize(sample["image"], r, interpolation=self.interpolation)
        top, left, _, _ = transforms.RandomCrop.get_params(image, output_size=(r, r))
        image = TF.crop(image, top, left, r, r)
        sample["image"] = TF.normalize(TF.to_tensor(image), [0.5], [0.5])
        return sample


def make_dataloader(args, device):
    import webdataset as wds
    from torch.utils.data import default_collate
    pipeline = [
        wds.ResampledShards(args.train_shards_path_or_url),
        tarfile_to_samples_nothrow,
        wds.shuffle(1000),
        wds.decode("pil", handler=wds.ignore_and_continue),
        wds.rename(image="jpg;png;jpeg;webp", text="text;txt;caption", handler=wds.warn_and_continue),
        wds.map(KeepKeys({"image", "text"})),
        wds.map(Transform(args.resolution, args.interpolation_type)),
        wds.to_tuple("image", "text"),
        wds.batched(args.train_batch_size, partial=False, collation_fn=default_collate),
    ]
    workers = args.dataloader_num_workers
    samples = args.max_train_samples or args.max_train_steps * args.train_batch_size * args.gradient_accumulation_steps
    num_worker_batches = math.ceil(samples / (args.train_batch_size * max(workers, 1)))
    dataset = wds.DataPipeline(*pipeline).with_epoch(num_worker_batches)
    loader = wds.WebLoader(dataset, batch_size=None, shuffle=False, num_workers=workers,
                           pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    loader.num_batches = num_worker_batches * max(workers, 1)
    return loader


# ---------------------------------------------------------------- setup (§3) and loop (§4)

def set_seed(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def load_models(args, device):
    """Teacher, frozen VAE / text encoder, student (time_cond_proj_dim added) and EMA target."""
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from transformers import AutoTokenizer, CLIPTextModel
    path = args.pretrained_teacher_model
    weight_dtype = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[args.mixed_precision]
    noise_scheduler = DDPMScheduler.from_pretrained(path, subfolder="scheduler")
    alphas_cumprod = noise_scheduler.alphas_cumprod
    solver = DDIMSolver(alphas_cumprod.numpy(), noise_scheduler.config.num_train_timesteps, args.num_ddim_timesteps)
    tokenizer = AutoTokenizer.from_pretrained(path, subfolder="tokenizer", use_fast=False)
    text_encoder = CLIPTextModel.from_pretrained(path, subfolder="text_encoder")
    vae = AutoencoderKL.from_pretrained(path, subfolder="vae")
    teacher_unet = UNet2DConditionModel.from_pretrained(path, subfolder="unet")
    for model in (vae, text_encoder, teacher_unet):
        model.requires_grad_(False)
    dim = teacher_unet.config.time_cond_proj_dim or args.unet_time_cond_proj_dim
    unet = UNet2DConditionModel.from_config(teacher_unet.config, time_cond_proj_dim=dim)
    unet.load_state_dict(teacher_unet.state_dict(), strict=False)
    unet.train()
    target_unet = UNet2DConditionModel.from_config(unet.config)
    target_unet.load_state_dict(unet.state_dict())
    target_unet.train()
    target_unet.requires_grad_(False)
    assert unet.dtype == torch.float32

    vae.to(device)
    text_encoder.to(device, dtype=weight_dtype)
    target_unet.to(device)
    teacher_unet.to(device)
    if args.cast_teacher_unet:
        teacher_unet.to(dtype=weight_dtype)
    unet.to(device)
    if args.allow_tf32:
        torch.backends.cuda.matmul.allow_tf32 = True
    if args.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    return {
        "device": device, "weight_dtype": weight_dtype, "noise_scheduler": noise_scheduler,
        "prediction_type": noise_scheduler.config.prediction_type,
        "num_train_timesteps": noise_scheduler.config.num_train_timesteps,
        "num_ddim_timesteps": args.num_ddim_timesteps, "timestep_scaling": args.timestep_scaling_factor,
        "alpha_schedule": torch.sqrt(alphas_cumprod).to(device),
        "sigma_schedule": torch.sqrt(1 - alphas_cumprod).to(device),
        "solver": solver.to(device), "time_cond_proj_dim": dim, "loss_type": args.loss_type, "huber_c": args.huber_c,
        "tokenizer": tokenizer, "text_encoder": text_encoder, "vae": vae,
        "teacher_unet": teacher_unet, "unet": unet, "target_unet": target_unet,
    }


def encode_prompt(captions, text_encoder, tokenizer):
    captions = [c if isinstance(c, str) else random.choice(c) for c in captions]
    with torch.no_grad():
        ids = tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                        return_tensors="pt").input_ids
        return text_encoder(ids.to(text_encoder.device))[0]


def peak_memory_mib(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main():
    args = parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)
    import diffusers
    import transformers
    from diffusers.optimization import get_scheduler
    for lib in (diffusers, transformers):
        lib.utils.logging.set_verbosity_error()
        lib.utils.logging.disable_progress_bar()
    device = torch.device(args.device)
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)
    if args.seed is not None:
        set_seed(args.seed)
    m = load_models(args, device)
    unet, target_unet, vae, wd = m["unet"], m["target_unet"], m["vae"], m["weight_dtype"]
    accum = args.gradient_accumulation_steps
    lr = args.learning_rate * (accum * args.train_batch_size if args.scale_lr else 1)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=lr, betas=(args.adam_beta1, args.adam_beta2),
                                  weight_decay=args.adam_weight_decay, eps=args.adam_epsilon)
    loader = make_dataloader(args, device)
    lr_scheduler = get_scheduler(args.lr_scheduler, optimizer=optimizer, num_warmup_steps=args.lr_warmup_steps,
                                 num_training_steps=args.max_train_steps)
    scaler = torch.amp.GradScaler(device.type) if args.mixed_precision == "fp16" else None
    updates_per_epoch = math.ceil(loader.num_batches / accum)
    num_train_epochs = math.ceil(args.max_train_steps / updates_per_epoch)
    tokenizer, text_encoder = m["tokenizer"], m["text_encoder"]
    uncond_ids = tokenizer([""] * args.train_batch_size, return_tensors="pt", padding="max_length",
                           max_length=77).input_ids.to(device)
    uncond_prompt_embeds = text_encoder(uncond_ids)[0]
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)

    def index_fn(bsz, dev):
        return torch.randint(0, args.num_ddim_timesteps, (bsz,), device=dev).long()

    def w_fn(bsz):
        return (args.w_max - args.w_min) * torch.rand((bsz,)) + args.w_min

    print(f"python reference: {args.resolution}px batch {args.train_batch_size} x{accum} "
          f"mixed_precision {args.mixed_precision} gradient_checkpointing {args.gradient_checkpointing} "
          f"workers {args.dataloader_num_workers} on {device}", flush=True)
    global_step, micro = 0, 0
    sync()
    began = time.perf_counter()
    first_end = last = None
    for _epoch in range(num_train_epochs):
        for image, text in loader:
            image = image.to(device, non_blocking=True)
            prompt_embeds = encode_prompt(text, text_encoder, tokenizer)
            pixel_values = image.to(dtype=wd)
            if vae.dtype != wd:
                vae.to(dtype=wd)
            latents = torch.cat([vae.encode(pixel_values[i:i + args.vae_encode_batch_size]).latent_dist.sample()
                                 for i in range(0, pixel_values.shape[0], args.vae_encode_batch_size)])
            latents = (latents * vae.config.scaling_factor).to(wd)
            loss, _, _, _ = lcd_losses(m, latents, prompt_embeds, uncond_prompt_embeds, torch.randn_like, index_fn, w_fn)
            micro += 1
            sync_step = micro % accum == 0
            scaled = loss / accum
            (scaler.scale(scaled) if scaler else scaled).backward()
            if sync_step:
                if scaler:
                    scaler.unscale_(optimizer)
                grad_norm = torch.nn.utils.clip_grad_norm_(unet.parameters(), args.max_grad_norm)
                if scaler:
                    before = scaler.get_scale()
                    scaler.step(optimizer)
                    scaler.update()
                    skipped = scaler.get_scale() < before
                else:
                    optimizer.step()
                    skipped = False
                if not skipped:
                    lr_scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                update_ema(target_unet.parameters(), unet.parameters(), args.ema_decay)
                global_step += 1
            loss_value = loss.detach().item()
            if not sync_step:
                continue
            sync()
            last = time.perf_counter()
            if first_end is None:
                first_end = last
            if not args.quiet:
                print(f"step {global_step}/{args.max_train_steps} loss {loss_value:.6g} grad_norm {float(grad_norm):.4g} "
                      f"lr {lr_scheduler.get_last_lr()[0]:.4g} {global_step / (last - began):.3f} it/s", flush=True)
            if global_step >= args.max_train_steps:
                break
        if global_step >= args.max_train_steps:
            break
    steps = global_step - 1
    per_step = (last - first_end) / steps if steps > 0 else float("nan")
    samples = args.train_batch_size * accum / per_step if steps > 0 else float("nan")
    print(f"summary: steps={steps} seconds_per_step={per_step:.4f} samples_per_second={samples:.2f} "
          f"peak_memory_mib={peak_memory_mib(device):.0f}", flush=True)


if __name__ == "__main__":
    main()
