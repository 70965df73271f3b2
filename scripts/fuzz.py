#!/usr/bin/env python3
"""Seeded mutation fuzzer for the inputs `lcm` reads (DESIGN.md §7, issue 11).

Seeds are built here, deterministically, from the test fixtures:
  shards       WebDataset tar shards (ustar, pax and GNU formats; JPEG, progressive JPEG, PNG in
               several colour types, WebP, .txt and .json members) -> `lcm data stats`
  safetensors  the UNet, VAE and text encoder weights of Tests/Fixtures/pipeline/{base,lcm} and the
               LCM-LoRA of Tests/Fixtures/pipeline/base_lcm_lora -> `lcm generate` (1 step, 32 px)
  configs      config.json, scheduler_config.json, model_index.json and tokenizer JSON files of
               those pipelines -> `lcm generate`

Each input i of a run is a pure function of (--seed, i): the same seed gives the same inputs, and
`--index I` replays one input. Mutations: bit flips, byte sets, truncation, insertion, deletion,
splicing; tar header integer fields (octal, base-256, garbage) with and without a fixed checksum;
malformed pax records; member edits (PNG IHDR/chunk fields with fixed CRCs, decompression bombs,
JPEG SOF/marker edits, WebP sizes, captions, duplicate or missing members); safetensors header
length, dtype, shape, data_offsets, key and metadata edits; JSON values swapped for boundary numbers
(0, -1, 2^31, 2^62, 2^63-1, ...), huge strings, wrong types, deleted keys, deep nesting; special
files (FIFO, directory, /dev/zero, /dev/urandom, dangling link) in place of an input.

Each result is classified:
  ok        exit 0
  error     a clean error: non-zero exit below 128 with an `Error:` line
  odd       non-zero exit below 128 without an `Error:` line (reported, not fatal)
  CRASH     killed by a signal, exit >= 128, or a Swift trap / abort text in the output
  HANG      still running after --timeout seconds (the process group is killed)
Crashing and hanging inputs are kept under WORK/findings/ with the command, output and a note on
how to replay them. Errors that do not name the mutated file ("unnamed") are counted and one
example per distinct message is kept under WORK/findings/unnamed/.

The summary line is `fuzz: inputs=N ok=.. errors=.. crashes=.. hangs=.. seconds=..`; the exit
status is 1 when there were crashes or hangs, 0 otherwise. Runs with plain python3 (stdlib only).

  python3 scripts/fuzz.py --seed 1 --budget-seconds 300
  python3 scripts/fuzz.py --seed 1 --count 20 --targets shards
  python3 scripts/fuzz.py --seed 1 --index 137 --work /tmp/replay   # replay one input, keep it
"""
import argparse
import base64
import copy
import io
import json
import os
import random
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
FIXTURES = os.path.join(REPO, "Tests", "Fixtures")
TARGETS = ("shards", "safetensors", "configs")

# ---------------------------------------------------------------------------------------------
# boundary values

INT_BOUNDARIES = [0, -1, 1, 2, 3, 7, 8, 255, 256, 65535, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32,
                  2**53 + 1, 2**62, 2**63 - 1, 2**63, -2**31, -2**63, 2**64 - 1, 2**64, 10**30]
INT_FOCUS = [0, -1, 1, 2**31, 2**32, 2**62, 2**63 - 1, -2**63, 10**6]
FLOAT_BOUNDARIES = [0.0, -0.0, 0.5, -0.5, 1e-320, 1e-38, 1e38, 1e308, -1e308, 3.4e39]
HUGE_STRING = "A" * 200_000


def boundary_value(rng, old=None):
    """A replacement JSON value: boundary numbers, huge or odd strings, wrong types."""
    r = rng.random()
    if r < 0.45:
        return rng.choice(INT_BOUNDARIES)
    if r < 0.55:
        return rng.choice(FLOAT_BOUNDARIES)
    if r < 0.62:
        return rng.choice([float("nan"), float("inf"), float("-inf")])  # json.dumps writes NaN/Infinity
    if r < 0.70:
        return rng.choice(["", HUGE_STRING, "\u0000", "é" * 1000, "-1", "1e999", "null", " silu", "SILU"])
    if r < 0.78:
        return rng.choice([None, True, False])
    if r < 0.86:
        return rng.choice([[], [0], [-1], [2**31] * 3, [[1]], list(range(300)), {}, {"a": 1}])
    if isinstance(old, (int, float)) and not isinstance(old, bool):
        return rng.choice([old + 1, old - 1, old * 2, -old, old * 1000, str(old), [old]])
    if isinstance(old, str):
        return rng.choice([old + "x", old[:-1], old.upper(), old * 50, [old]])
    if isinstance(old, list):
        return rng.choice([old + old, old[:-1], old[::-1], [], old * 20])
    return rng.choice(INT_BOUNDARIES)


# ---------------------------------------------------------------------------------------------
# generic byte mutations

def mutate_bytes(rng, data, protect=0, other=None):
    """One to a few generic mutations of `data`; returns (bytes, description)."""
    data = bytearray(data)
    notes = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        n = len(data)
        kind = rng.choice(["bitflip", "byteset", "truncate", "insert", "delete", "duplicate", "splice"])
        if n == 0:
            kind = "insert"
        lo = min(protect, max(n - 1, 0))
        pos = rng.randrange(lo, n) if n > lo else 0
        if kind == "bitflip":
            for _ in range(rng.choice([1, 1, 2, 8])):
                p = rng.randrange(lo, n) if n > lo else 0
                if n:
                    data[p] ^= 1 << rng.randrange(8)
            notes.append(f"bitflip@{pos}")
        elif kind == "byteset":
            v = rng.choice([0x00, 0xFF, 0x7F, 0x80, 0x20, 0x30, 0x39, rng.randrange(256)])
            k = rng.choice([1, 1, 2, 4, 8])
            data[pos:pos + k] = bytes([v]) * len(data[pos:pos + k])
            notes.append(f"byteset@{pos}x{k}={v:#x}")
        elif kind == "truncate":
            cut = rng.choice([pos, pos, n // 2, max(n - 1, 0), (pos // 512) * 512, 0])
            del data[cut:]
            notes.append(f"truncate@{cut}")
        elif kind == "insert":
            k = rng.choice([1, 4, 100, 512, 4096])
            data[pos:pos] = bytes(rng.randrange(256) for _ in range(k)) if rng.random() < 0.5 else bytes(k)
            notes.append(f"insert@{pos}+{k}")
        elif kind == "delete":
            k = rng.choice([1, 4, 100, 512])
            del data[pos:pos + k]
            notes.append(f"delete@{pos}-{k}")
        elif kind == "duplicate":
            k = rng.choice([8, 100, 512, 2048])
            data[pos:pos] = data[pos:pos + k]
            notes.append(f"duplicate@{pos}+{k}")
        elif kind == "splice" and other:
            cut = rng.randrange(len(other)) if other else 0
            del data[pos:]
            data += other[cut:]
            notes.append(f"splice@{pos}<-other@{cut}")
    return bytes(data), ",".join(notes)


# ---------------------------------------------------------------------------------------------
# images (stdlib only)

def png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def make_png(width, height, color_type, seed, bit_depth=8, palette=None):
    rng = random.Random(seed)
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    rows = []
    for y in range(height):
        row = bytearray([rng.randrange(5)])  # filter type per row
        for x in range(width * channels):
            row.append((x * 7 + y * 13 + rng.randrange(16)) % (len(palette) // 3 if palette else 256))
        rows.append(bytes(row))
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))
    if color_type == 3:
        out += png_chunk(b"PLTE", palette)
        out += png_chunk(b"tRNS", bytes([0, 128, 255]))
    out += png_chunk(b"tEXt", b"Comment\x00fuzz seed")
    return out + png_chunk(b"IDAT", zlib.compress(b"".join(rows), 9)) + png_chunk(b"IEND", b"")


def png_bomb(width, height):
    """A valid, highly compressible PNG of width x height gray pixels, streamed through zlib."""
    comp = zlib.compressobj(9)
    parts = []
    row = bytes(width + 1)
    budget = 0
    for _ in range(height):
        parts.append(comp.compress(row))
        budget += len(row)
        if budget > 200_000_000:
            break
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", b"".join(parts)) + png_chunk(b"IEND", b"")


def png_chunks(data):
    chunks, pos = [], 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        chunks.append((pos, length, data[pos + 4:pos + 8]))
        pos += 12 + length
    return chunks


def mutate_png(rng, data):
    data = bytearray(data)
    chunks = png_chunks(bytes(data))
    kind = rng.choice(["dims", "dims", "ihdr_field", "chunk_length", "idat_flip", "drop_chunk", "dup_ihdr", "big_chunk"])
    fix = rng.random() < 0.9
    def refix(pos, length):
        if fix:
            body = bytes(data[pos + 4:pos + 8 + length])
            data[pos + 8 + length:pos + 12 + length] = struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    ihdr = chunks[0][0]
    if kind == "dims":
        w = rng.choice([0, 1, 24, 65535, 100_000, 8_000_000, 50_000_000, 2**31 - 1, 2**31, 2**32 - 1])
        h = rng.choice([0, 1, 20, 65535, 100_000, 2**31 - 1, 2**32 - 1])
        data[ihdr + 8:ihdr + 16] = struct.pack(">II", w, h)
        refix(ihdr, 13)
        return bytes(data), f"png_dims={w}x{h}{'' if fix else ',badcrc'}"
    if kind == "ihdr_field":
        off = rng.choice([16, 17, 18, 19, 20])  # bit depth, colour type, compression, filter, interlace
        v = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 16, 255])
        data[ihdr + off] = v
        refix(ihdr, 13)
        return bytes(data), f"png_ihdr[{off}]={v}"
    if kind == "chunk_length":
        pos, length, name = rng.choice(chunks)
        v = rng.choice([0, 1, length + 1, max(length - 1, 0), 2**31 - 1, 2**32 - 1, 10**8])
        data[pos:pos + 4] = struct.pack(">I", v)
        return bytes(data), f"png_{name.decode('latin1')}_length={v}"
    if kind == "idat_flip":
        for pos, length, name in chunks:
            if name == b"IDAT" and length:
                for _ in range(rng.choice([1, 3, 20])):
                    p = pos + 8 + rng.randrange(length)
                    data[p] ^= 1 << rng.randrange(8)
                refix(pos, length)
        return bytes(data), "png_idat_flip"
    if kind == "drop_chunk":
        pos, length, name = rng.choice(chunks)
        del data[pos:pos + 12 + length]
        return bytes(data), f"png_drop_{name.decode('latin1')}"
    if kind == "dup_ihdr":
        data[ihdr + 25:ihdr + 25] = data[ihdr:ihdr + 25]
        return bytes(data), "png_dup_IHDR"
    big = rng.choice([2**20, 2**24, 2**31 - 1])
    data[ihdr + 25:ihdr + 25] = struct.pack(">I", big) + b"zzZz" + b"\0" * 16
    return bytes(data), f"png_chunk_declares_{big}"


def mutate_jpeg(rng, data):
    data = bytearray(data)
    segs, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        segs.append((pos, marker, length))
        if marker == 0xDA:
            break
        pos += 2 + length
    kind = rng.choice(["sof_dims", "sof_dims", "sof_comps", "sof_sampling", "seg_length", "drop_eoi", "cut_scan", "qt_selector"])
    sof = next((s for s in segs if s[1] in (0xC0, 0xC1, 0xC2)), None)
    if kind == "sof_dims" and sof:
        h = rng.choice([0, 1, 20, 8192, 65500, 65535])
        w = rng.choice([0, 1, 24, 8192, 65500, 65535])
        data[sof[0] + 5:sof[0] + 9] = struct.pack(">HH", h, w)
        return bytes(data), f"jpeg_sof_dims={w}x{h}"
    if kind == "sof_comps" and sof:
        v = rng.choice([0, 2, 4, 5, 255])
        data[sof[0] + 9] = v
        return bytes(data), f"jpeg_sof_ncomp={v}"
    if kind == "sof_sampling" and sof:
        v = rng.choice([0x00, 0x44, 0x41, 0x14, 0xFF, 0x33])
        data[sof[0] + 11 + 3 * rng.randrange(3)] = v
        return bytes(data), f"jpeg_sampling={v:#x}"
    if kind == "qt_selector" and sof:
        v = rng.choice([1, 2, 3, 4, 255])
        data[sof[0] + 12 + 3 * rng.randrange(3)] = v
        return bytes(data), f"jpeg_qt_selector={v}"
    if kind == "seg_length" and segs:
        pos, marker, length = rng.choice(segs)
        v = rng.choice([0, 1, 2, length + 1, max(length - 1, 0), 65535])
        data[pos + 2:pos + 4] = struct.pack(">H", v)
        return bytes(data), f"jpeg_seg_{marker:#x}_length={v}"
    if kind == "drop_eoi":
        return bytes(data[:-2]), "jpeg_no_eoi"
    scan = segs[-1][0] if segs else len(data) // 2
    cut = rng.randrange(scan, len(data))
    return bytes(data[:cut]), f"jpeg_cut@{cut}"


def mutate_webp(rng, data):
    data = bytearray(data)
    kind = rng.choice(["riff_size", "chunk_size", "dims", "cut"])
    if kind == "riff_size":
        v = rng.choice([0, 4, 2**31 - 1, 2**32 - 1, len(data) * 4])
        data[4:8] = struct.pack("<I", v)
        return bytes(data), f"webp_riff_size={v}"
    if kind == "chunk_size":
        v = rng.choice([0, 1, 2**31 - 1, 2**32 - 1, 10**6])
        data[16:20] = struct.pack("<I", v)
        return bytes(data), f"webp_chunk_size={v}"
    if kind == "dims" and len(data) > 30:
        w, h = rng.choice([0, 1, 16383, 0xFFFF]), rng.choice([0, 1, 16383, 0xFFFF])
        data[26:30] = struct.pack("<HH", w, h)
        return bytes(data), f"webp_dims={w}x{h}"
    cut = rng.randrange(len(data))
    return bytes(data[:cut]), f"webp_cut@{cut}"


# Tiny images made once with PIL (24 x 20 RGB; baseline 4:2:0 q70, progressive 4:4:4, lossy WebP),
# embedded so that the fuzzer needs nothing but the standard library.
JPEG_BASELINE = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAoHBwgHBgoICAgLCgoLDhgQDg0NDh0VFhEYIx8lJCIfIiEmKzcvJik0KSEiMEExNDk7Pj4+JS5ESUM8SDc9Pjv/"
    "2wBDAQoLCw4NDhwQEBw7KCIoOzs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozv/wAARCAAUABgDASIAAhEBAxEB/8QAHwAA"
    "AQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcY"
    "GRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJ"
    "ytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEE"
    "BSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaH"
    "iImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwDza20zOPlrVttJ"
    "zj5a2rTTM4+Wty00nOPlrkoP2xngMztbU5+20fOPlortYrBIiF2bm9BRV1HgqcnCpPVeTf5Jn2mHzOTgrFeyt4+OK3IYUjgLKORRRXDgZNYeTT1s/wAj8cwT"
    "d0XbK1i4+WiiiuPCRXslofbUpPl3P//Z")
JPEG_PROGRESSIVE = base64.b64decode(
    "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAoHBwgHBgoICAgLCgoLDhgQDg0NDh0VFhEYIx8lJCIfIiEmKzcvJik0KSEiMEExNDk7Pj4+JS5ESUM8SDc9Pjv/"
    "2wBDAQoLCw4NDhwQEBw7KCIoOzs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozs7Ozv/wgARCAAUABgDAREAAhEBAxEB/8QAFwAB"
    "AQEBAAAAAAAAAAAAAAAABAMCBv/EABkBAAIDAQAAAAAAAAAAAAAAAAQFAAEGA//aAAwDAQACEAMQAAAB5rjS4eu2Gh8e401UYTWZRx5t1rL/xAAYEAADAQEA"
    "AAAAAAAAAAAAAAAAAQIDEf/aAAgBAQABBQKcycicScychRwiUJcUSj//xAAZEQADAQEBAAAAAAAAAAAAAAAAAgMBESH/2gAIAQMBAT8BnQnUnUSglST9EbSe"
    "+iNp/8QAHREAAgMAAgMAAAAAAAAAAAAAAAIBAxEEEhMiMf/aAAgBAgEBPwHtpmni0RtEjS3kJT6/ZKSx5rpllKVg/8QAFBABAAAAAAAAAAAAAAAAAAAAMP/a"
    "AAgBAQAGPwIf/8QAGhAAAwEAAwAAAAAAAAAAAAAAAAFhERAhUf/aAAgBAQABPyGJEgTJiema+AvVHiP/2gAMAwEAAgADAAAAEOw3Nh//xAAYEQEBAAMAAAAA"
    "AAAAAAAAAAABEBEgIf/aAAgBAwEBPxDVHl6zA6Bg/8QAIREAAgEACwAAAAAAAAAAAAAAAAERICExQVFhcYGRocH/2gAIAQIBAT8QokTOqmThq7uHtIzcFrso"
    "7aXoxB//xAAYEAADAQEAAAAAAAAAAAAAAAAAAREhcf/aAAgBAQABPxC8FoLQXgtA/XERkwZUajKP/9k=")
WEBP_LOSSY = base64.b64decode(
    "UklGRrIAAABXRUJQVlA4IKYAAABwBQCdASoYABQAPrVKn0qnJCKhsAgA4BaJbACdMuz1cK3miBRgWK7kCubouVpz+IEHkDe8AP7+v1+rChxc94vQjyYeAAj6"
    "9gQM8AAR6lHsqPL0FPpX/Ikp6H5Ff3Yol0hPMG6VcKARgBhLa361skHI4iHyai/ybEfGDnHTYu9M1e9j/trsKE4VX+ZVnB/P/4MTKRLbkvOgJzyTut0YSz/j"
    "oPH9QwAA")


def sample_members():
    """(name, bytes) of the seed shards' samples, in tar order (a sample's files together)."""
    palette = bytes(v for i in range(16) for v in (i * 16, 255 - i * 16, (i * 40) % 256))
    images = [
        ("000000.jpg", JPEG_BASELINE),
        ("000001.png", make_png(40, 48, 2, 1)),
        ("000002.jpg", JPEG_PROGRESSIVE),
        ("000003.png", make_png(33, 17, 0, 2)),
        ("000004.webp", WEBP_LOSSY),
        ("000005.png", make_png(24, 24, 3, 3, palette=palette)),
        ("000006.png", make_png(20, 28, 6, 4)),
        ("000007.png", make_png(16, 16, 4, 5)),
    ]
    members = []
    for i, (name, data) in enumerate(images):
        key = name.split(".")[0]
        members.append((name, data))
        members.append((key + ".txt", f"a photo number {i}".encode()))
        if i % 3 == 0:
            members.append((key + ".json", json.dumps({"caption": f"photo {i}", "width": 24}).encode()))
    return members


def write_tar(members, fmt, long_names=False, pax_extra=False):
    buf = io.BytesIO()
    formats = {"ustar": tarfile.USTAR_FORMAT, "pax": tarfile.PAX_FORMAT, "gnu": tarfile.GNU_FORMAT}
    with tarfile.open(fileobj=buf, mode="w", format=formats[fmt]) as tar:
        for name, data in members:
            if long_names:
                name = ("d" * 70 + "/" + "e" * 50 + "/") + name
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            info.mode = 0o644
            info.uname = info.gname = "fuzz"
            if pax_extra and fmt == "pax":
                info.pax_headers = {"comment": "fuzz seed é", "mtime": "1700000000.25"}
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def seed_shards():
    members = sample_members()
    return {
        "ustar": write_tar(members, "ustar"),
        "pax": write_tar(members, "pax", long_names=True, pax_extra=True),
        "gnu": write_tar(members, "gnu", long_names=True),
        "small": write_tar(members[:5], "ustar"),
    }


# ---------------------------------------------------------------------------------------------
# tar mutations

HDR_FIELDS = {"name": (0, 100), "mode": (100, 8), "uid": (108, 8), "gid": (116, 8), "size": (124, 12),
              "mtime": (136, 12), "chksum": (148, 8), "typeflag": (156, 1), "linkname": (157, 100),
              "magic": (257, 6), "version": (263, 2), "devmajor": (329, 8), "devminor": (337, 8), "prefix": (345, 155)}


def tar_size(field):
    if field and field[0] & 0x80:
        return int.from_bytes(field[1:], "big")
    s = field.split(b"\0")[0].strip(b" \0")
    try:
        return int(s, 8) if s else 0
    except ValueError:
        return 0


def walk_tar(data):
    """[(header offset, typeflag, size)] of a well-formed archive (the seeds)."""
    out, off = [], 0
    while off + 512 <= len(data):
        block = data[off:off + 512]
        if block == bytes(512):
            break
        size = tar_size(block[124:136])
        out.append((off, block[156:157], size))
        off += 512 + (size + 511) // 512 * 512
    return out


def fix_checksum(block):
    block = bytearray(block)
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % (sum(block) & 0o777777)
    return block


def tar_int_field(rng, width, actual):
    kind = rng.random()
    if kind < 0.55:
        v = rng.choice([0, 1, actual + 1, max(actual - 1, 0), actual * 2, 511, 512, 2**31 - 1, 2**33 - 1,
                        8 ** (width - 1) - 1, 2**30, 1 << 30 | 7])
        s = b"%0*o" % (width - 1, v)
        return s[-width:] if len(s) > width else s + b"\0", f"octal {v}"
    if kind < 0.75:
        v = rng.choice([2**62, 2**63 - 1, 2**64 - 1, 2**40, 2**31, 1 << 30])
        v %= 2 ** (8 * (width - 1))  # what fits the field (8-byte fields hold 7 bytes)
        return b"\x80" + v.to_bytes(width - 1, "big"), f"base256 {v}"
    if kind < 0.82:
        return b"\xff" * width, "base256 -1"
    return rng.choice([b"99999999999\0", b"-1\0", b"0x10\0", b"           \0", bytes(12), b"7" * 12,
                       b"1e3\0", b" 12 34\0"])[:width].ljust(width, b"\0"), "garbage"


def pax_record(key, value):
    body = b" " + key + b"=" + value + b"\n"
    n = len(body) + 1
    while len(str(n).encode()) + len(body) != n:
        n += 1
    return str(n).encode() + body


def malformed_pax(rng):
    pool = [
        b"1 x", b"2 ab\n", b"0 \n", b"3 a\n", b"-5 a=b\n", b"99999999999999999999999 path=x\n",
        b"18446744073709551615 path=x\n", b"9223372036854775807 a=b\n", b"11 path=x\n", b"9 path=x\n",
        b"x a=b\n", b" 9 a=b\n", b"10path=xy\n", b"", b"10 path=xy", b"5 =\n\n",
        pax_record(b"size", b"-1"), pax_record(b"size", b"18446744073709551616"),
        pax_record(b"size", b"9223372036854775807"), pax_record(b"size", b"1073741824"), pax_record(b"size", b"abc"),
        pax_record(b"size", b"1e3"), pax_record(b"path", b""), pax_record(b"path", b"../../x.jpg"),
        pax_record(b"path", b"a\0b.jpg"), pax_record(b"path", b"\xff\xfe.jpg"), pax_record(b"mtime", b"nan"),
        pax_record(b"uid", b"-1"), pax_record(b"path", b"p" * 100_000 + b".txt"), pax_record(b"linkpath", b"/etc/passwd"),
        pax_record(b"GNU.sparse.size", b"99999999999"), pax_record(b"GNU.sparse.map", b"0,1,2"),
        pax_record(b"hdrcharset", b"BINARY") + pax_record(b"path", b"\xc3(.png"),
        b"".join(pax_record(b"comment", b"%d" % i) for i in range(5000)),
    ]
    recs = [rng.choice(pool) for _ in range(rng.choice([1, 1, 2, 3]))]
    if rng.random() < 0.3:
        recs.insert(rng.randrange(len(recs) + 1), pax_record(b"comment", b"ok"))
    return b"".join(recs)


def pax_header_block(data, typeflag=b"x"):
    block = bytearray(512)
    block[0:15] = b"./PaxHeaders/x\0"
    block[100:108] = b"0000644\0"
    block[108:116] = block[116:124] = b"0000000\0"
    block[124:136] = b"%011o\0" % len(data)
    block[136:148] = b"14540000000\0"
    block[156:157] = typeflag
    block[257:265] = b"ustar\x0000"
    return bytes(fix_checksum(block)) + data + bytes((512 - len(data) % 512) % 512)


def mutate_tar(rng, seeds, name):
    data = seeds[name]
    members = walk_tar(data)
    kind = rng.choice(["bytes", "bytes", "header", "header", "header", "pax", "pax", "member", "member", "member", "special"])
    if kind == "bytes":
        others = [v for k, v in sorted(seeds.items()) if k != name]
        out, note = mutate_bytes(rng, data, other=rng.choice(others))
        return out, f"bytes:{note}"
    if kind == "header":
        off, _, size = rng.choice(members)
        block = bytearray(data[off:off + 512])
        field = rng.choice(["size", "size", "size", "mode", "uid", "mtime", "chksum", "typeflag", "name", "magic",
                            "prefix", "linkname", "devmajor"])
        start, width = HDR_FIELDS[field]
        if field == "typeflag":
            v = rng.choice(b"0\x0012345678xgLKSVDMNA")
            block[start] = v
            note = f"typeflag={chr(v)!r}"
        elif field in ("name", "prefix", "linkname"):
            v = rng.choice([b"", b"noext", b".txt", b"../../up.jpg", b"a" * width, b"\xff\xfe.png", b"x.y.z.jpg",
                            b"/abs/p.png", b"dir/", b"000001.png"])
            block[start:start + width] = v[:width].ljust(width, b"\0")
            note = f"{field}={v[:24]!r}"
        elif field == "magic":
            v = rng.choice([b"ustar\0", b"ustar ", b"\0" * 6, b"GNUtar"])
            block[start:start + width] = v
            note = f"magic={v!r}"
        else:
            v, note = tar_int_field(rng, width, size)
            block[start:start + width] = v
            note = f"{field}={note}"
        if field != "chksum" and rng.random() < 0.85:
            block = fix_checksum(block)
        else:
            note += ",checksum-not-fixed"
        return data[:off] + bytes(block) + data[off + 512:], f"header@{off}:{note}"
    if kind == "pax":
        records = malformed_pax(rng)
        typeflag = rng.choice([b"x", b"x", b"g"])
        paxes = [m for m in members if m[1] in (b"x", b"g")]
        if paxes and rng.random() < 0.6:
            off, _, size = rng.choice(paxes)
            end = off + 512 + (size + 511) // 512 * 512
            out = data[:off] + pax_header_block(records, typeflag) + data[end:]
            where = f"replace@{off}"
        else:
            off = rng.choice(members)[0]
            out = data[:off] + pax_header_block(records, typeflag) + data[off:]
            where = f"insert@{off}"
        if rng.random() < 0.15:  # declared size disagrees with the records
            block = bytearray(out[off:off + 512])
            block[124:136] = b"%011o\0" % rng.choice([0, 1, len(records) + 1, len(records) + 600, 2**33 - 1])
            out = out[:off] + bytes(fix_checksum(block)) + out[off + 512:]
            where += ",size-mismatch"
        return out, f"pax:{typeflag.decode()}:{where}:{records[:40]!r}"
    if kind == "member":
        fmt = {"ustar": "ustar", "small": "ustar", "pax": "pax", "gnu": "gnu"}[name]
        items = [list(x) for x in sample_members()]
        if name == "small":
            items = items[:5]
        op = rng.choice(["image", "image", "image", "image", "caption", "json", "drop", "dup", "bomb", "bigmember"])
        idx = rng.randrange(len(items))
        if op in ("image", "bomb"):
            idx = rng.choice([i for i, (n, _) in enumerate(items) if n.rsplit(".", 1)[1] in ("jpg", "png", "webp")])
        mname, mdata = items[idx]
        ext = mname.rsplit(".", 1)[1]
        if op == "image":
            if ext == "png" and rng.random() < 0.85:
                items[idx][1], note = mutate_png(rng, mdata)
            elif ext == "jpg" and rng.random() < 0.85:
                items[idx][1], note = mutate_jpeg(rng, mdata)
            elif ext == "webp" and rng.random() < 0.85:
                items[idx][1], note = mutate_webp(rng, mdata)
            else:
                items[idx][1], note = mutate_bytes(rng, mdata, protect=rng.choice([0, 8, 16]))
        elif op == "bomb":
            w, h = rng.choice([(50_000_000, 1), (8_000_000, 1), (1, 8_000_000), (20_000, 20_000), (1_000_000, 3)])
            items[idx] = [mname.rsplit(".", 1)[0] + ".png", png_bomb(w, h)]
            note = f"png_bomb {w}x{h}"
        elif op == "caption":
            cidx = rng.choice([i for i, (n, _) in enumerate(items) if n.endswith(".txt")])
            v = rng.choice([b"", b"\xff\xfe\x80", b"\0" * 10, b"x" * 1_000_000, "é".encode() * 50_000,
                            b"a\nb\rc\td", b"\xed\xa0\x80"])
            items[cidx][1] = v
            note = f"caption {items[cidx][0]} = {v[:16]!r} ({len(v)} bytes)"
        elif op == "json":
            jidx = rng.choice([i for i, (n, _) in enumerate(items) if n.endswith(".json")])
            v = rng.choice([b"{", b"[]", b"null", b"{\"caption\": 5}", b"[" * 100_000, b"{\"a\":" * 50_000,
                            json.dumps({"caption": HUGE_STRING}).encode(), b"\xff"])
            items[jidx][1] = v
            note = f"json {items[jidx][0]} = {v[:16]!r} ({len(v)} bytes)"
        elif op == "drop":
            note = f"drop {items[idx][0]}"
            del items[idx]
        elif op == "dup":
            items.insert(idx + rng.choice([1, 2, 5]), list(items[idx]))
            note = f"dup {items[idx][0]}"
        else:  # a member whose header declares far more than the archive holds
            out = write_tar([tuple(x) for x in items], fmt)
            ms = walk_tar(out)
            hdr = [m for m in ms if m[1] in (b"0", b"\0")][idx % len([m for m in ms if m[1] in (b"0", b"\0")])]
            block = bytearray(out[hdr[0]:hdr[0] + 512])
            big = rng.choice([2**30, 2**30 + 1, 2**33 - 1, 100_000_000])
            block[124:136] = b"%011o\0" % big
            out = out[:hdr[0]] + bytes(fix_checksum(block)) + out[hdr[0] + 512:]
            return out, f"member:declares size {big} at header@{hdr[0]}"
        return write_tar([tuple(x) for x in items], fmt, long_names=name in ("pax", "gnu"), pax_extra=name == "pax"), \
            f"member:{op}:{mname}:{note}"
    return None, rng.choice(["special:fifo", "special:dir", "special:/dev/zero", "special:/dev/urandom",
                             "special:dangling", "special:empty"])


# ---------------------------------------------------------------------------------------------
# safetensors and config mutations

SAFETENSOR_FILES = [("unet", "diffusion_pytorch_model.safetensors"), ("vae", "diffusion_pytorch_model.safetensors"),
                    ("text_encoder", "model.safetensors"), ("lora", "pytorch_lora_weights.safetensors")]
CONFIG_FILES = [("unet", "config.json"), ("unet", "config.json"), ("vae", "config.json"), ("text_encoder", "config.json"),
                ("scheduler", "scheduler_config.json"), (".", "model_index.json"), ("tokenizer", "tokenizer_config.json"),
                ("tokenizer", "special_tokens_map.json")]
DTYPES = ["F16", "BF16", "F64", "I8", "U8", "I16", "U16", "I32", "U32", "I64", "U64", "BOOL", "F8_E4M3", "F8_E5M2",
          "C64", "", "f32", "F32 ", "F4", 5, None, ["F32"]]


def split_safetensors(data):
    (n,) = struct.unpack("<Q", data[:8])
    return n, json.loads(data[8:8 + n]), data[8 + n:]


def join_safetensors(header, body, pad=True):
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + body


def mutate_safetensors(rng, data):
    n, header, body = split_safetensors(data)
    keys = [k for k in header if k != "__metadata__"]
    kind = rng.choice(["hlen", "hlen", "dtype", "shape", "shape", "shape", "offsets", "offsets", "offsets", "entry",
                       "keys", "metadata", "nan", "trunc", "bytes", "bytes", "special"])
    if kind == "hlen":
        v = rng.choice([0, 1, 2, 7, n - 1, n + 1, len(data) - 8, len(data) - 7, len(data), 2**31, 2**32,
                        100_000_001, 2**63 - 1, 2**63, 2**64 - 1])
        return struct.pack("<Q", v % 2**64) + data[8:], f"header_length={v}"
    if kind == "bytes":
        out, note = mutate_bytes(rng, data[:8 + n] if rng.random() < 0.7 else data)
        if len(out) <= 8 + n + 16:
            out = out + data[8 + n:] if rng.random() < 0.5 else out
        return out, f"bytes:{note}"
    if kind == "trunc":
        cut = rng.choice([0, 4, 8, 8 + n // 2, 8 + n, 8 + n + len(body) // 2, len(data) - 1])
        return data[:cut], f"truncate@{cut}"
    if kind == "special":
        return None, rng.choice(["special:fifo", "special:dir", "special:/dev/zero", "special:/dev/urandom",
                                 "special:dangling", "special:empty"])
    key = rng.choice(keys)
    entry = header[key]
    note = ""
    if kind == "dtype":
        v = rng.choice(DTYPES + [HUGE_STRING])
        entry["dtype"] = v
        note = f"{key}.dtype={str(v)[:20]!r}"
    elif kind == "shape":
        shape = list(entry["shape"])
        op = rng.random()
        if op < 0.5 and shape:
            i = rng.randrange(len(shape))
            shape[i] = rng.choice([0, -1, 1, 2**31, 2**32 + 1, 2**62, 2**63 - 1, 2**64, 1.5, "8", None, shape[i] + 1, shape[i] * 2])
            v = shape
        else:
            v = rng.choice([[], [0], [2**32, 2**32, 2**32], [2**21] * 3, shape + [1], shape + [2], shape[:-1], [1] * 70,
                            "8", None, {"0": 8}, shape[::-1]])
        entry["shape"] = v
        note = f"{key}.shape={str(v)[:60]}"
    elif kind == "offsets":
        a, b = entry["data_offsets"]
        v = rng.choice([[b, a], [a, a], [a, len(body)], [a, len(body) + 1], [a, 2**63 - 1], [-1, b], [a, 2**64],
                        [0, b - a], [a + 1, b + 1], [a], [a, b, b], ["0", str(b)], [a + 0.5, b], None, [2**62, 2**62 + b - a]])
        entry["data_offsets"] = v
        note = f"{key}.data_offsets={v}"
    elif kind == "entry":
        op = rng.choice(["del_dtype", "del_shape", "del_offsets", "extra", "not_object"])
        if op == "not_object":
            header[key] = rng.choice([None, 5, [], "F32", [1, 2]])
        elif op == "extra":
            entry["extra"] = HUGE_STRING
        else:
            entry.pop({"del_dtype": "dtype", "del_shape": "shape", "del_offsets": "data_offsets"}[op])
        note = f"{key}:{op}"
    elif kind == "keys":
        op = rng.choice(["delete", "rename", "empty_name", "huge_name", "add"])
        if op == "delete":
            del header[key]
        elif op == "rename":
            header[key + ".x"] = header.pop(key)
        elif op == "empty_name":
            header[""] = header.pop(key)
        elif op == "huge_name":
            header["k" * 300_000] = header.pop(key)
        else:
            header["extra.weight"] = {"dtype": "F32", "shape": [2**31], "data_offsets": [0, 8]}
        note = f"{key}:{op}"
    elif kind == "metadata":
        v = rng.choice([[], 5, None, {"format": 5}, {"format": HUGE_STRING}, {"a": {"b": 1}}, "pt"])
        header["__metadata__"] = v
        note = f"__metadata__={str(v)[:30]}"
    elif kind == "nan":
        a, b = entry["data_offsets"]
        fill = rng.choice([struct.pack("<f", float("nan")), struct.pack("<f", float("inf")), struct.pack("<f", 3e38)])
        body = body[:a] + fill * ((b - a) // 4) + body[a + (b - a) // 4 * 4:]
        note = f"{key} filled with {struct.unpack('<f', fill)[0]}"
    pad = rng.random() < 0.9
    out = join_safetensors(header, body, pad)
    if rng.random() < 0.1:  # keep the old header length
        out = struct.pack("<Q", n) + out[8:]
        note += ",stale-header-length"
    return out, f"{kind}:{note}"


def json_paths(value, prefix=()):
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += json_paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += json_paths(v, prefix + (i,))
    return out


def get_path(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def string_pool():
    pool = set()
    for base in ("base", "lcm"):
        for comp, fname in CONFIG_FILES:
            path = os.path.join(FIXTURES, "pipeline", base, comp, fname)
            with open(path) as f:
                doc = json.load(f)
            for p in json_paths(doc):
                v = get_path(doc, p)
                if isinstance(v, str):
                    pool.add(v)
    return sorted(pool)


def mutate_config(rng, text, strings):
    try:
        doc = json.loads(text)
    except ValueError:
        doc = None
    kind = rng.choice(["value", "value", "value", "value", "value", "swap", "delete", "add", "structure", "bytes"])
    if kind == "bytes" or doc is None:
        out, note = mutate_bytes(rng, text)
        return out, f"bytes:{note}"
    if kind == "structure":
        v = rng.choice([b"[]", b"null", b"5", b"\"x\"", b"[" * 200_000 + b"]" * 200_000, b"{\"a\":" * 100_000 + b"1" + b"}" * 100_000,
                        b"\xef\xbb\xbf" + text, text + b"garbage", b"", text.replace(b"{", b"{\"_class_name\":1,", 1)])
        return v, f"structure:{v[:20]!r}({len(v)} bytes)"
    notes = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        paths = json_paths(doc)
        if not paths:
            break
        ints = [p for p in paths if type(get_path(doc, p)) is int]
        path = rng.choice(ints) if kind == "value" and ints and rng.random() < 0.6 else rng.choice(paths)
        parent = get_path(doc, path[:-1])
        old = parent[path[-1]]
        name = "/".join(str(p) for p in path)
        if kind == "value":
            # fields that size, count or divide something get the integer boundaries most often
            new = rng.choice(INT_FOCUS) if type(old) is int and rng.random() < 0.8 else boundary_value(rng, old)
            parent[path[-1]] = new
            notes.append(f"{name}={json.dumps(new)[:40]}")
        elif kind == "swap":
            new = rng.choice(strings) if rng.random() < 0.7 else copy.deepcopy(get_path(doc, rng.choice(paths)))
            parent[path[-1]] = new
            notes.append(f"{name}<-{json.dumps(new)[:40]}")
        elif kind == "delete":
            del parent[path[-1]]
            notes.append(f"del {name}")
        else:
            if isinstance(parent, dict):
                parent[rng.choice(["extra_key", "_class_name", "time_cond_proj_dim", "num_attention_heads",
                                   "addition_embed_type", "class_embed_type", "encoder_hid_dim_type"])] = boundary_value(rng)
                notes.append(f"add key in {name}")
            elif isinstance(parent, list):
                parent.append(boundary_value(rng, old))
                notes.append(f"append to {name}")
    out = json.dumps(doc, indent=2).encode()  # NaN/Infinity written as such when chosen
    return out, f"{kind}:" + ";".join(notes)


# ---------------------------------------------------------------------------------------------
# running one input

CRASH_PATTERNS = re.compile(r"Fatal error|Trace/breakpoint|Segmentation fault|Illegal instruction|terminate called|"
                            r"Aborted|failed to allocate|Stack dump|Program crashed|Bus error|Thread \d+ crashed|Swift runtime failure|"
                            r"\*\*\* Signal \d+")


def limit_child(memory_mb):
    def f():
        os.setsid()
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if memory_mb:
            resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
    return f


def run_command(cmd, timeout, memory_mb, cwd):
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         preexec_fn=limit_child(memory_mb), cwd=cwd)
    try:
        out, err = p.communicate(timeout=timeout)
        hung = False
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        out, err = p.communicate()
        hung = True
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), hung, time.monotonic() - start


def classify(rc, out, err, hung):
    text = out + "\n" + err
    if hung:
        return "hang"
    raw = "\n".join(l for l in text.splitlines() if not l.startswith("Error:") and " warning " not in l)
    if rc < 0 or rc >= 128 or CRASH_PATTERNS.search(raw):
        return "crash"
    if rc == 0:
        return "ok"
    if any(line.startswith("Error:") for line in text.splitlines()):
        return "error"
    return "odd"


def crash_site(text):
    """The first frame of the crashed thread in lcm's own code, from Swift's backtrace."""
    crashed = text.split("crashed:", 1)
    if len(crashed) < 2:
        return ""
    for line in crashed[1].splitlines()[:40]:
        m = re.search(r"\s(\S+\(.*?\)) \+ \d+ in lcm at (\S+)", line)
        if m and "[system]" not in line and "/<compiler-generated>" not in m.group(2):
            return f" at {m.group(1)} {m.group(2).split('/Sources/')[-1]}"
    return ""


def signature(kind, rc, out, err, target, mutation):
    text = (err + "\n" + out)
    m = re.search(r"(Fatal error: [^\n]*|Swift runtime failure: [^\n*]*|failed to allocate [^\n]*)", text)
    if m:
        sig = m.group(1).strip() + crash_site(text)
    else:
        m = CRASH_PATTERNS.search(text)
        first = next((l for l in text.splitlines() if l.strip() and not re.match(r"^\d{4}-\d\d-\d\dT", l)), "")
        sig = (m.group(0) + ": " if m else "") + first + crash_site(text)
    if kind == "hang":
        sig = "hang " + re.sub(r"\d+", "N", mutation.split(":", 1)[1] if target == "shards" else mutation)[:70]
    elif rc < 0:
        sig = f"signal {signal.Signals(-rc).name}: " + sig
    elif rc >= 128:
        sig = f"exit {rc}: " + sig
    sig = re.sub(r"0x[0-9a-f]+", "0x…", sig)
    sig = re.sub(r"(?<![\w.])/[^\s:'\"]*/", "…/", sig)
    return f"{target}: {sig[:220]}"


class Fuzzer:
    def __init__(self, args):
        self.args = args
        self.lcm = os.path.abspath(args.lcm)
        self.work = args.work
        self.seeds = seed_shards()
        self.strings = string_pool()
        self.counts = {"ok": 0, "error": 0, "odd": 0, "crash": 0, "hang": 0}
        self.unnamed = 0
        self.basename_only = 0
        self.classes = {}
        self.unnamed_classes = {}
        self.mutations = {}
        os.makedirs(os.path.join(self.work, "findings"), exist_ok=True)

    def make_input(self, index):
        rng = random.Random(f"lcm-fuzz-{self.args.seed}-{index}")
        target = rng.choice(self.args.targets)
        case = os.path.join(self.work, "case")
        shutil.rmtree(case, ignore_errors=True)
        os.makedirs(case)
        if target == "shards":
            name = rng.choice(sorted(self.seeds))
            data, mutation = mutate_tar(rng, self.seeds, name)
            path = os.path.join(case, "shard-0.tar")
            self.place(path, data, mutation)
            cmd = [self.lcm, "data", "stats", "--train_shards_path_or_url", path, "--resolution", "16",
                   "--train_batch_size", "2", "--batches", "6", "--sequential_shards", "--dataloader_num_workers", "1",
                   "--shuffle_buffer_size", "4", "--seed", "0"]
            return target, f"{name}:{mutation}", cmd, path, [path]
        base = rng.choice(["base", "lcm"])
        if target == "safetensors":
            comp, fname = rng.choice(SAFETENSOR_FILES)
            if comp == "lora":
                base = "base"
                src = os.path.join(FIXTURES, "pipeline", "base_lcm_lora", fname)
            else:
                src = os.path.join(FIXTURES, "pipeline", base, comp, fname)
            with open(src, "rb") as f:
                data, mutation = mutate_safetensors(rng, f.read())
        else:
            comp, fname = rng.choice(CONFIG_FILES)
            src = os.path.join(FIXTURES, "pipeline", base, comp, fname)
            with open(src, "rb") as f:
                data, mutation = mutate_config(rng, f.read(), self.strings)
        pipe = self.make_pipeline(case, base, comp if comp != "lora" else None)
        if comp == "lora":
            path = os.path.join(case, "lora", fname)
            os.makedirs(os.path.dirname(path))
        else:
            path = os.path.join(pipe, comp, fname)
            if os.path.lexists(path):
                os.unlink(path)
        self.place(path, data, mutation)
        cmd = [self.lcm, "generate", "--model", pipe, "--prompt", "a red house", "--num_inference_steps", "1",
               "--seed", "0", "--output", os.path.join(case, "out")]
        if comp == "lora":
            cmd += ["--lora", path]
        if target == "safetensors" or rng.random() < 0.5:
            cmd += ["--height", "32", "--width", "32"]
        names = [path, os.path.dirname(path)] + ([pipe] if comp == "." else [])
        return target, f"{base}/{comp}/{fname}:{mutation}", cmd, path, names

    def make_pipeline(self, case, base, mutated_comp):
        src = os.path.join(FIXTURES, "pipeline", base)
        pipe = os.path.join(case, "pipe")
        os.makedirs(pipe)
        for entry in sorted(os.listdir(src)):
            s = os.path.join(src, entry)
            if entry == mutated_comp or (mutated_comp == "." and not os.path.isdir(s)):
                if os.path.isdir(s):
                    os.makedirs(os.path.join(pipe, entry))
                    for f in sorted(os.listdir(s)):
                        os.symlink(os.path.join(s, f), os.path.join(pipe, entry, f))
                else:
                    os.symlink(s, os.path.join(pipe, entry))
            else:
                os.symlink(s, os.path.join(pipe, entry))
        return pipe

    def place(self, path, data, mutation):
        if data is not None:
            with open(path, "wb") as f:
                f.write(data)
            return
        special = mutation.split(":", 1)[1]
        if special == "fifo":
            os.mkfifo(path)
        elif special == "dir":
            os.makedirs(path)
        elif special == "dangling":
            os.symlink(path + ".missing", path)
        elif special == "empty":
            open(path, "wb").close()
        else:
            os.symlink(special, path)

    def keep(self, index, kind, target, mutation, cmd, path, rc, out, err, seconds, sub="findings"):
        """Copies the case folder (mutated file, pipeline links, FIFOs) and a runnable command."""
        d = os.path.join(self.work, sub, f"{index:06d}-{kind}-{target}")
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        case = os.path.join(self.work, "case")
        copy_case(case, os.path.join(d, "case"))
        cmd = [c.replace(case, os.path.join(d, "case")) for c in cmd]
        with open(os.path.join(d, "cmd.txt"), "w") as f:
            f.write(" ".join(shlex_quote(c) for c in cmd) + "\n")
        with open(os.path.join(d, "stderr.txt"), "w") as f:
            f.write(err)
        with open(os.path.join(d, "stdout.txt"), "w") as f:
            f.write(out)
        with open(os.path.join(d, "info.json"), "w") as f:
            json.dump({"seed": self.args.seed, "index": index, "kind": kind, "target": target, "mutation": mutation,
                       "exit": rc, "seconds": round(seconds, 2), "input": path.replace(case, os.path.join(d, "case")),
                       "replay": f"python3 scripts/fuzz.py --seed {self.args.seed} --index {index} --targets "
                                 f"{','.join(self.args.targets)} --work DIR"}, f, indent=1)
        return d

    def one(self, index):
        try:
            target, mutation, cmd, path, names = self.make_input(index)
        except Exception as e:  # a bug in a mutator must not end the campaign
            print(f"[{index}] fuzz.py could not build this input: {type(e).__name__}: {e}", file=sys.stderr)
            return "skipped"
        rc, out, err, hung, seconds = run_command(cmd, self.args.timeout, self.args.memory_mb, self.work)
        kind = classify(rc, out, err, hung)
        self.counts[kind] += 1
        mclass = target + ":" + re.split(r"[@=]", mutation.split(":")[1])[0]
        self.mutations.setdefault(mclass, {}).setdefault(kind, 0)
        self.mutations[mclass][kind] += 1
        if kind in ("crash", "hang"):
            sig = signature(kind, rc, out, err, target, mutation)
            d = self.keep(index, kind, target, mutation, cmd, path, rc, out, err, seconds)
            self.classes.setdefault(sig, []).append((index, mutation, d))
        elif kind == "error":
            line = next(l for l in (out + "\n" + err).splitlines() if l.startswith("Error:"))
            if any(n in line for n in names) or "special:" in mutation:
                pass
            elif os.path.basename(path) in line:
                self.basename_only += 1
            else:
                self.unnamed += 1
                norm = re.sub(r"\d+", "N", re.sub(r"/\S*", "PATH", line))[:160]
                key = f"{target}: {norm}"
                if key not in self.unnamed_classes:
                    self.keep(index, "unnamed", target, mutation, cmd, path, rc, out, err, seconds, sub="findings/unnamed")
                self.unnamed_classes.setdefault(key, []).append((index, mutation))
        if self.args.verbose or kind in ("crash", "hang", "odd"):
            first = next((l for l in (err + "\n" + out).splitlines() if l.strip()), "")
            print(f"[{index}] {kind:5} rc={rc} {seconds:5.1f}s {target} {mutation[:140]} | {first[:160]}", flush=True)
        return kind

    def run(self):
        start = time.monotonic()
        if self.args.index is not None:
            indices = [self.args.index]
        else:
            indices = range(self.args.first, 10**12)
        n = 0
        for index in indices:
            if self.args.count is not None and n >= self.args.count:
                break
            if self.args.budget_seconds is not None and time.monotonic() - start >= self.args.budget_seconds:
                break
            self.one(index)
            n += 1
        if self.args.index is None:
            shutil.rmtree(os.path.join(self.work, "case"), ignore_errors=True)
        seconds = time.monotonic() - start
        c = self.counts
        if self.classes:
            print("crash/hang classes:")
            for sig, hits in sorted(self.classes.items(), key=lambda kv: -len(kv[1])):
                print(f"  {len(hits):4}  {sig}")
                for index, mutation, d in hits[:3]:
                    print(f"        e.g. #{index} {mutation[:150]}  -> {d}")
        if self.unnamed_classes and self.args.show_unnamed:
            print("errors that do not name the mutated file:")
            for sig, hits in sorted(self.unnamed_classes.items(), key=lambda kv: -len(kv[1])):
                print(f"  {len(hits):4}  {sig}  e.g. #{hits[0][0]} {hits[0][1][:100]}")
        if self.args.show_mutations:
            print("by mutation:")
            for m, ks in sorted(self.mutations.items()):
                print(f"  {m[:60]:60} " + " ".join(f"{k}={v}" for k, v in sorted(ks.items())))
        print(f"fuzz: odd={c['odd']} errors_without_the_file={self.unnamed} errors_with_only_its_basename={self.basename_only} "
              f"findings={os.path.join(self.work, 'findings')}")
        print(f"fuzz: inputs={n} ok={c['ok']} errors={c['error'] + c['odd']} crashes={c['crash']} hangs={c['hang']} "
              f"seconds={seconds:.0f}", flush=True)
        return 1 if c["crash"] or c["hang"] else 0


def copy_case(src, dst):
    os.makedirs(dst)
    for name in sorted(os.listdir(src)):
        s, t = os.path.join(src, name), os.path.join(dst, name)
        if name == "out" and src.endswith("case"):
            continue
        if os.path.islink(s):
            os.symlink(os.readlink(s), t)
        elif os.path.isdir(s):
            copy_case(s, t)
        elif os.path.isfile(s):
            shutil.copyfile(s, t)
        else:
            import stat
            if stat.S_ISFIFO(os.lstat(s).st_mode):
                os.mkfifo(t)


def shlex_quote(s):
    import shlex
    return shlex.quote(s)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--budget-seconds", type=float)
    ap.add_argument("--count", type=int)
    ap.add_argument("--index", type=int, help="run only input INDEX (a replay) and keep it under WORK/case")
    ap.add_argument("--first", type=int, default=0, help="first input index (default 0)")
    ap.add_argument("--lcm", default=os.path.join(REPO, ".build", "release", "lcm"))
    ap.add_argument("--work", help="work folder (default: a new temporary one)")
    ap.add_argument("--targets", default=",".join(TARGETS))
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per input before it counts as a hang")
    ap.add_argument("--memory-mb", type=int, default=4096, help="address-space limit per input (0: none)")
    ap.add_argument("--verbose", action="store_true", help="print every input")
    ap.add_argument("--show-unnamed", action="store_true", help="list errors that do not name the mutated file")
    ap.add_argument("--show-mutations", action="store_true", help="outcomes per mutation kind")
    args = ap.parse_args()
    args.targets = [t for t in args.targets.split(",") if t]
    bad = [t for t in args.targets if t not in TARGETS]
    if bad or not args.targets:
        ap.error(f"--targets: unknown {bad}; choose from {','.join(TARGETS)}")
    if args.count is None and args.budget_seconds is None and args.index is None:
        args.budget_seconds = 60
    if not os.access(args.lcm, os.X_OK):
        ap.error(f"--lcm {args.lcm}: not an executable (build with `swift build -c release`)")
    args.work = os.path.abspath(args.work or tempfile.mkdtemp(prefix="lcm-fuzz-"))
    os.makedirs(args.work, exist_ok=True)
    sys.exit(Fuzzer(args).run())


if __name__ == "__main__":
    main()
