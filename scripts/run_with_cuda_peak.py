"""Runs a Python script as __main__, unmodified, and prints `cuda_peak_mib=N` (torch's CUDA
allocator peak) when it ends; for the benchmarks' GPU memory figure of the upstream scripts.

    run_with_cuda_peak.py SCRIPT [ARGS...]
"""
import atexit
import runpy
import sys

import torch


def report():
    if torch.cuda.is_available():
        print(f"cuda_peak_mib={torch.cuda.max_memory_allocated() / 2**20:.0f}", flush=True)


atexit.register(report)
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
