"""Python side of `make bench`: the same tiny ops and matmul as `lcm bench ops`, same machine."""

import argparse
import time

import torch

ap = argparse.ArgumentParser()
ap.add_argument("--iterations", type=int, default=200_000)
ap.add_argument("--matmul", type=int, default=1024)
ap.add_argument("--device", default="cpu")
ap.add_argument("--dtype", default="float32")
ap.add_argument("--threads", type=int, default=1)
args = ap.parse_args()
if args.threads > 0:
    torch.set_num_threads(args.threads)
dev = torch.device(args.device)
dt = getattr(torch, args.dtype)


def timeit(n, fn):
    for _ in range(min(n, 1000)):
        fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


a, b = torch.randn(4, device=dev), torch.randn(4, device=dev)
x, w, bias = torch.randn(1, 8, device=dev), torch.randn(8, 8, device=dev), torch.randn(8, device=dev)
F = torch.nn.functional
add = timeit(args.iterations, lambda: a + b)
lin = timeit(args.iterations, lambda: F.silu(F.linear(x, w, bias)))
print(f"python tiny add:          {add * 1e6:.2f} us/op")
print(f"python tiny linear+silu:  {lin * 1e6:.2f} us/iter")

n = args.matmul
m1, m2 = torch.randn(n, n, device=dev).to(dt), torch.randn(n, n, device=dev).to(dt)
sync = (lambda: torch.cuda.synchronize()) if dev.type == "cuda" else (lambda: None)
m1 @ m2
sync()
reps = 50 if dev.type == "cuda" else 5


def run():
    m1 @ m2


t = timeit(reps, run)
sync()
t2 = timeit(reps, lambda: (run(), sync()))
sec = max(t, t2)
print(f"python matmul {n}^3 {args.dtype}: {sec * 1e3:.2f} ms, {2 * n**3 / sec / 1e12:.2f} TFLOP/s")
