"""Python side of scripts/bench_unet.sh: diffusers UNet2DConditionModel forward and
forward+backward with the same config, shapes and iteration count as `lcm bench unet`."""

import argparse
import json
import time

import torch
from diffusers import UNet2DConditionModel

ap = argparse.ArgumentParser()
ap.add_argument("--config", required=True)
ap.add_argument("--batch", type=int, default=1)
ap.add_argument("--size", type=int, default=16)
ap.add_argument("--tokens", type=int, default=77)
ap.add_argument("--iterations", type=int, default=5)
ap.add_argument("--device", default="cpu")
ap.add_argument("--autocast", default=None)
ap.add_argument("--gradient-checkpointing", action="store_true")
ap.add_argument("--threads", type=int, default=0)
ap.add_argument("--save-io", dest="compare", default=None,
                help="a folder written by `lcm bench unet --save-io`: also load it and compare outputs")
a = ap.parse_args()
if a.threads > 0:
    torch.set_num_threads(a.threads)
torch.manual_seed(0)
dev = torch.device(a.device)
cfg = json.load(open(a.config))
unet = UNet2DConditionModel(**{k: v for k, v in cfg.items() if not k.startswith("_")}).to(dev).train()
if a.gradient_checkpointing:
    unet.enable_gradient_checkpointing()
c = unet.config
cross = c.cross_attention_dim if isinstance(c.cross_attention_dim, int) else c.cross_attention_dim[0]
x = torch.randn(a.batch, c.in_channels, a.size, a.size, device=dev)
t = torch.randint(0, 1000, (a.batch,), device=dev)
ctx = torch.randn(a.batch, a.tokens, cross, device=dev)
kw = {}
if c.time_cond_proj_dim:
    kw["timestep_cond"] = torch.randn(a.batch, c.time_cond_proj_dim, device=dev)
if c.addition_embed_type == "text_time":
    dim = c.projection_class_embeddings_input_dim - 6 * c.addition_time_embed_dim
    kw["added_cond_kwargs"] = {"text_embeds": torch.randn(a.batch, dim, device=dev),
                               "time_ids": torch.full((a.batch, 6), float(a.size * 8), device=dev)}
dtype = getattr(torch, a.autocast) if a.autocast else None
sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)


def forward():
    if dtype is not None:
        with torch.autocast(dev.type, dtype=dtype):
            return unet(x, t, ctx, **kw).sample
    return unet(x, t, ctx, **kw).sample


def timeit(n, fn):
    for _ in range(min(n, 1000)):
        fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def fwd():
    with torch.no_grad():
        forward()
    sync()


def fwdbwd():
    forward().float().square().mean().backward()
    unet.zero_grad(set_to_none=True)
    sync()


f = timeit(a.iterations, fwd)
if dev.type == "cuda":
    torch.cuda.reset_peak_memory_stats()
b = timeit(a.iterations, fwdbwd)
print(f"python unet forward:          {f * 1e3:.2f} ms")
print(f"python unet forward+backward: {b * 1e3:.2f} ms")
import resource
print(f"python peak resident memory (process): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB")
if a.compare:
    from safetensors.torch import load_file
    other = UNet2DConditionModel.from_pretrained(a.compare).to(dev).eval()
    io = {k: v.to(dev) for k, v in load_file(f"{a.compare}/io.safetensors").items()}
    kw2 = {}
    if "timestep_cond" in io:
        kw2["timestep_cond"] = io["timestep_cond"]
    if "text_embeds" in io:
        kw2["added_cond_kwargs"] = {"text_embeds": io["text_embeds"], "time_ids": io["time_ids"]}
    with torch.no_grad(), torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        ref = other(io["sample"], io["timestep"], io["encoder_hidden_states"], **kw2).sample.float()
    diff = (ref - io["out"]).abs().max().item()
    print(f"output max abs diff swift vs diffusers (same weights, same inputs): {diff:.3g} (|out| max {ref.abs().max().item():.3g})")
if dev.type == "cuda":
    print(f"python peak allocated (fwd+bwd): {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
