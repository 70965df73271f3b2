"""Python side of scripts/bench_generate.sh: diffusers' LatentConsistencyModelPipeline, same settings."""

import argparse
import time

import torch
from diffusers import LatentConsistencyModelPipeline

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--steps", type=int, default=4)
ap.add_argument("--batch", type=int, default=1)
ap.add_argument("--size", type=int, default=32)
ap.add_argument("--iterations", type=int, default=5)
ap.add_argument("--device", default="cpu")
ap.add_argument("--dtype", default="float32")
a = ap.parse_args()
pipe = LatentConsistencyModelPipeline.from_pretrained(a.model, safety_checker=None, dtype=getattr(torch, a.dtype)).to(a.device)
pipe.set_progress_bar_config(disable=True)
sync = torch.cuda.synchronize if a.device.startswith("cuda") else (lambda: None)


def run():
    pipe(["a photo of a cat"] * a.batch, num_inference_steps=a.steps, height=a.size, width=a.size, output_type="np")
    sync()


for _ in range(min(a.iterations, 1000)):
    run()
start = time.perf_counter()
for _ in range(a.iterations):
    run()
t = (time.perf_counter() - start) / a.iterations
print(f"python {a.steps}-step generation, batch {a.batch}, {a.size}px: {t * 1e3:.2f} ms")
