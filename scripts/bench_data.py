"""The scripts' WebDataset pipeline (train_lcm_distill_sd_wds.py's SDText2ImageDataset), timed.

  bench_data.py --shards SPEC --workers N [--batches 40] [--resolution 512] [--batch-size 16]

ResampledShards → tar_file_expander + the script's group_by_keys_nothrow → shuffle(1000) →
decode("pil") → rename → filter_keys → Resize/RandomCrop/ToTensor/Normalize → batched(partial=False),
in a WebLoader with N workers. Prints images/s after the first batch of every worker (warm-up).
Pinned: webdataset 0.2.86, torchvision 0.26.0, pillow 13.0.0 (scripts/requirements-test.txt).
"""
import argparse
import math
import time

import torch
import torchvision.transforms.functional as TF
import webdataset as wds
from torchvision import transforms
from webdataset.tariterators import base_plus_ext, tar_file_expander, url_opener, valid_sample


def group_by_keys_nothrow(data, keys=base_plus_ext, lcase=True, suffixes=None, handler=None):
    current_sample = None
    for filesample in data:
        assert isinstance(filesample, dict)
        fname, value = filesample["fname"], filesample["data"]
        prefix, suffix = keys(fname)
        if prefix is None:
            continue
        if lcase:
            suffix = suffix.lower()
        if current_sample is None or prefix != current_sample["__key__"] or suffix in current_sample:
            if valid_sample(current_sample):
                yield current_sample
            current_sample = {"__key__": prefix, "__url__": filesample["__url__"]}
        if suffixes is None or suffix in suffixes:
            current_sample[suffix] = value
    if valid_sample(current_sample):
        yield current_sample


def tarfile_to_samples_nothrow(src, handler=wds.warn_and_continue):
    streams = url_opener(src, handler=handler)
    files = tar_file_expander(streams, handler=handler)
    return group_by_keys_nothrow(files, handler=handler)


def filter_keys(key_set):
    def _f(dictionary):
        return {k: v for k, v in dictionary.items() if k in key_set}

    return _f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shards", required=True)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--batches", type=int, default=40)
    ap.add_argument("--resolution", type=int, default=512)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    torch.set_num_threads(1)
    res = args.resolution

    def transform(example):
        image = TF.resize(example["image"], res, interpolation=transforms.InterpolationMode.BILINEAR)
        c_top, c_left, _, _ = transforms.RandomCrop.get_params(image, output_size=(res, res))
        image = TF.crop(image, c_top, c_left, res, res)
        image = TF.normalize(TF.to_tensor(image), [0.5], [0.5])
        example["image"] = image
        return example

    pipeline = [
        wds.ResampledShards(args.shards),
        tarfile_to_samples_nothrow,
        wds.shuffle(1000),
        wds.decode("pil", handler=wds.ignore_and_continue),
        wds.rename(image="jpg;png;jpeg;webp", text="text;txt;caption", handler=wds.warn_and_continue),
        wds.map(filter_keys({"image", "text"})),
        wds.map(transform),
        wds.to_tuple("image", "text"),
        wds.batched(args.batch_size, partial=False, collation_fn=torch.utils.data.default_collate),
    ]
    total = args.batches + args.workers
    dataset = wds.DataPipeline(*pipeline).with_epoch(math.ceil(total / args.workers))
    loader = wds.WebLoader(dataset, batch_size=None, shuffle=False, num_workers=args.workers, pin_memory=False, persistent_workers=True)
    it = iter(loader)
    for _ in range(args.workers):  # warm-up: one batch per worker (process start, imports)
        next(it)
    start = time.perf_counter()
    for _ in range(args.batches):
        images, _ = next(it)
        assert images.shape == (args.batch_size, 3, res, res)
    elapsed = time.perf_counter() - start
    n = args.batches * args.batch_size
    print(f"python webdataset+PIL+torchvision workers={args.workers}: {n} images in {elapsed:.2f} s = {n / elapsed:.1f} images/s")


if __name__ == "__main__":
    main()
