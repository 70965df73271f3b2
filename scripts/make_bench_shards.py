"""Local WebDataset shards for the data benchmark (issue 5): ~1000 JPEGs of mixed sizes.

  make_bench_shards.py OUT [--images 1000] [--per-shard 100] [--min-side 320] [--max-side 1600] [--json-scale 1]

Each sample is KEY.jpg (quality 90, 4:2:0, --min-side..--max-side px a side), KEY.txt and KEY.json
({"width", "height"}: the image's size × --json-scale, an "original size" as LAION / CC12M shards record it
beside a downscaled image, so that the SDXL scripts' WebdatasetFilter keeps small images). Seeded, so every machine gets the same bytes (for the same flags).
scripts/bench_distill.sh and scripts/gpu_distill_bench.sh make their smaller shards with it.
"""
import argparse
import io
import json
import os
import tarfile

import numpy as np
from PIL import Image


def image(rng, min_side=320, max_side=1600):
    w, h = (int(v) for v in rng.integers(min_side, max_side + 1, 2))
    # Smooth structure (a small random image upscaled) plus grain: JPEG sizes like photos.
    small = Image.fromarray(rng.integers(0, 256, (max(2, h // 32), max(2, w // 32), 3), dtype=np.uint8))
    arr = np.asarray(small.resize((w, h), Image.Resampling.BICUBIC), dtype=np.int16)
    arr = arr + rng.integers(-12, 13, (h, w, 1), dtype=np.int16)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--per-shard", type=int, default=100)
    ap.add_argument("--min-side", type=int, default=320)
    ap.add_argument("--max-side", type=int, default=1600)
    ap.add_argument("--json-scale", type=int, default=1)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(0)
    n = 0
    for s in range((args.images + args.per_shard - 1) // args.per_shard):
        with tarfile.open(os.path.join(args.out, f"bench-{s:05d}.tar"), "w", format=tarfile.USTAR_FORMAT) as tar:
            for _ in range(min(args.per_shard, args.images - n)):
                img = image(rng, args.min_side, args.max_side)
                buf = io.BytesIO()
                img.save(buf, "JPEG", quality=90)
                key = f"{n:06d}"
                members = {
                    "jpg": buf.getvalue(),
                    "txt": f"a benchmark image number {n}".encode(),
                    "json": json.dumps({"width": img.width * args.json_scale, "height": img.height * args.json_scale}).encode(),
                }
                for ext, data in members.items():
                    info = tarfile.TarInfo(f"{key}.{ext}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                n += 1
    print(f"{n} images in {s + 1} shards under {args.out}")


if __name__ == "__main__":
    main()
