#!/usr/bin/env python3
"""Kill -9 / resume harness for `lcm distill` (DESIGN.md §7, issue 11).

Runs a tiny distillation (the Tests/Fixtures/pipeline/base teacher, two small WebDataset shards
made here, 32 px, --checkpointing_steps 2) once without interruption, then --trials times in a
fresh output folder each: the run is killed with SIGKILL at a random moment (startup, training,
a checkpoint save, the final save), resumed with `--resume_from_checkpoint latest`, killed again a
random number of times (1 to --max-kills), and finally left to finish. The final unet/ and
unet_target/ folders are compared with the uninterrupted run's byte for byte; where the bytes
differ, tensors are compared with the reference Python (safetensors) when it is available.

Prints one line per trial and `kill_resume: trials=N identical=K differing=D failed=F`; exits 1
when any trial differs or fails (a resume that exits non-zero, or a run that never finishes).
Hidden files left in the output folder after a trial are reported (`leftovers`), not counted as
failures. Runs with plain python3 (stdlib only).

  python3 scripts/kill_resume.py --trials 5 --seed 1
  python3 scripts/kill_resume.py --trials 20 --seed 2 --steps 80 --keep
"""
import argparse
import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, ".."))
sys.path.insert(0, HERE)
import fuzz  # noqa: E402  (the seed shards' samples)

REFERENCE_PY = os.path.expanduser("~/.cache/swift-lcm/py/bin/python")


def make_shards(d):
    members = fuzz.sample_members()
    half = len(members) // 2
    while members[half][0].split(".")[0] == members[half - 1][0].split(".")[0]:
        half += 1  # keep a sample's files in one shard
    for i, part in enumerate([members[:half], members[half:]]):
        with open(os.path.join(d, f"shard-{i}.tar"), "wb") as f:
            f.write(fuzz.write_tar(part, "ustar"))
    return os.path.join(d, "shard-{0..1}.tar")


def distill_cmd(args, shards, out, resume):
    cmd = [os.path.abspath(args.lcm), "distill", "--pretrained_teacher_model", os.path.join(REPO, "Tests/Fixtures/pipeline/base"),
           "--train_shards_path_or_url", shards, "--resolution", str(args.resolution), "--train_batch_size", "2",
           "--dataloader_num_workers", "1", "--max_train_steps", str(args.steps), "--learning_rate", "1e-3",
           "--lr_warmup_steps", "0", "--unet_time_cond_proj_dim", "8", "--checkpointing_steps", str(args.checkpointing_steps),
           "--checkpoints_total_limit", "2", "--seed", "5", "--report_to", "none", "--output_dir", out]
    if resume:
        cmd += ["--resume_from_checkpoint", "latest"]
    return cmd + args.extra


def run(cmd, log, kill_at=None, timeout=600):
    """Runs cmd with its output appended to log. kill_at: None, or (step, jitter, delay): SIGKILL the
    process `jitter` seconds after the line `step STEP/...` appears (STEP 0: `delay` seconds after the
    start). Returns (rc, killed, seconds, seconds until the first step line)."""
    start = time.monotonic()
    with open(log, "ab") as f:
        f.write(("\n$ " + " ".join(cmd) + (f"   # kill -9 at {kill_at}" if kill_at else "") + "\n").encode())
        f.flush()
        offset = f.tell()
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    first_step = None
    deadline = None if not kill_at or kill_at[0] else start + kill_at[2]
    buf = b""
    with open(log, "rb") as r:
        r.seek(offset)
        while p.poll() is None:
            now = time.monotonic()
            if now - start > timeout or (deadline is not None and now >= deadline):
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
                return p.returncode, deadline is not None, now - start, first_step
            buf += r.read()
            lines = buf.split(b"\n")
            buf = lines.pop()
            for line in lines:
                if line.startswith(b"step "):
                    if first_step is None:
                        first_step = now - start
                    if kill_at and kill_at[0] and deadline is None and line.split()[1].split(b"/")[0] == str(kill_at[0]).encode():
                        deadline = now + kill_at[1]
            time.sleep(0.005)
    return p.returncode, False, time.monotonic() - start, first_step


def latest_checkpoint(out):
    steps = [int(n.split("-")[1]) for n in os.listdir(out) if n.startswith("checkpoint-") and n.split("-")[1].isdigit()] \
        if os.path.isdir(out) else []
    return max(steps, default=0)


def last_step(log):
    step = "start"
    with open(log, errors="replace") as f:
        for line in f:
            if line.startswith("step "):
                step = line.split()[1]
            elif line.startswith("saved "):
                step = line.strip()[:60].replace(os.path.dirname(log), "")
            elif line.startswith("$ "):
                step = "start"
    return step


def digest_tree(d):
    out = {}
    for root, _, files in os.walk(d):
        for name in sorted(files):
            p = os.path.join(root, name)
            with open(p, "rb") as f:
                out[os.path.relpath(p, d)] = hashlib.sha256(f.read()).hexdigest()
    return out


TENSOR_EQUAL = r"""
import sys
from safetensors.numpy import load_file
a, b = load_file(sys.argv[1]), load_file(sys.argv[2])
bad = sorted(set(a) ^ set(b)) + [k for k in sorted(set(a) & set(b)) if a[k].dtype != b[k].dtype or a[k].shape != b[k].shape or a[k].tobytes() != b[k].tobytes()]
print(len(bad), " ".join(bad[:5]))
"""


def compare(ref, out):
    """None when unet/ and unet_target/ are byte-identical, else a description of the difference."""
    problems = []
    for name in ("unet", "unet_target"):
        a, b = os.path.join(ref, name), os.path.join(out, name)
        if not os.path.isdir(b):
            problems.append(f"{name}/ missing")
            continue
        da, db = digest_tree(a), digest_tree(b)
        if set(da) != set(db):
            problems.append(f"{name}/ files differ: {sorted(set(da) ^ set(db))}")
        for f in sorted(set(da) & set(db)):
            if da[f] == db[f]:
                continue
            detail = "bytes differ"
            if f.endswith(".safetensors") and os.access(REFERENCE_PY, os.X_OK):
                r = subprocess.run([REFERENCE_PY, "-c", TENSOR_EQUAL, os.path.join(a, f), os.path.join(b, f)],
                                   capture_output=True, text=True)
                detail += f"; tensors: {r.stdout.strip() or r.stderr.strip()[-200:]} differing"
            problems.append(f"{name}/{f}: {detail}")
    return "; ".join(problems) or None


def leftovers(out):
    hidden = []
    for root, dirs, files in os.walk(out):
        for n in dirs + files:
            if n.startswith("."):
                hidden.append(os.path.relpath(os.path.join(root, n), out))
    return sorted(hidden)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__)
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-kills", type=int, default=3, help="kills per trial: 1 to this many (default 3)")
    ap.add_argument("--steps", type=int, default=40, help="--max_train_steps of the tiny run (default 40)")
    ap.add_argument("--checkpointing_steps", type=int, default=2)
    ap.add_argument("--resolution", type=int, default=32)
    ap.add_argument("--lcm", default=os.path.join(REPO, ".build", "release", "lcm"))
    ap.add_argument("--work", help="work folder (default: a new temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep every trial's output folder (default: only failing ones)")
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more `lcm distill` flags (put last)")
    args = ap.parse_args()
    if not os.access(args.lcm, os.X_OK):
        ap.error(f"--lcm {args.lcm}: not an executable")
    work = os.path.abspath(args.work or tempfile.mkdtemp(prefix="lcm-kill-resume-"))
    os.makedirs(work, exist_ok=True)
    shards = make_shards(work)
    rng = random.Random(f"lcm-kill-resume-{args.seed}")
    start = time.monotonic()

    ref = os.path.join(work, "straight")
    shutil.rmtree(ref, ignore_errors=True)
    rc, _, duration, startup = run(distill_cmd(args, shards, ref, False), ref + ".log")
    startup = startup or duration / 2
    if rc != 0 or not os.path.isdir(os.path.join(ref, "unet_target")):
        print(f"kill_resume: the uninterrupted run failed (exit {rc}); see {ref}.log")
        print(f"kill_resume: trials=0 identical=0 differing=0 failed=1")
        sys.exit(1)
    print(f"uninterrupted run: {duration:.1f} s, {args.steps} steps -> {ref}", flush=True)

    identical = differing = failed = 0
    for trial in range(args.trials):
        out = os.path.join(work, f"trial-{trial}")
        log = out + ".log"
        shutil.rmtree(out, ignore_errors=True)
        if os.path.exists(log):
            os.unlink(log)
        kills = rng.randint(1, args.max_kills)
        events, status = [], None
        resume = False
        for k in range(kills + 1):
            final = k == kills
            # a random moment: during startup (loading, resuming), after a step (often inside a
            # checkpoint save), or during the final save
            kill_at = None
            if not final:
                r = rng.random()
                if r < 0.15:
                    kill_at = (0, 0.0, rng.uniform(0.05, startup * 1.1))
                elif r < 0.85:
                    kill_at = (rng.randint(min(latest_checkpoint(out) + 1, args.steps), args.steps), rng.uniform(0, 0.06), 0)
                else:
                    kill_at = (args.steps, rng.uniform(0, 0.4), 0)
            rc, killed, _, _ = run(distill_cmd(args, shards, out, resume), log, kill_at=kill_at)
            where = "" if not kill_at else (f"startup+{kill_at[2]:.2f}s" if not kill_at[0] else f"step{kill_at[0]}+{kill_at[1]:.3f}s")
            if killed:
                events.append(f"kill@{where}({last_step(log)})")
            elif rc != 0:
                status = f"failed: exit {rc} on {'resume' if resume else 'first start'} (see {log})"
                break
            else:
                events.append("finished" if final else f"finished-before-kill@{where}")
            resume = True
        left = leftovers(out)
        if status is None:
            if not os.path.isdir(os.path.join(out, "unet_target")):
                status = f"failed: no unet_target/ after the final run (see {log})"
            else:
                diff = compare(ref, out)
                status = "identical" if diff is None else "DIFFERENT: " + diff
        if status == "identical":
            identical += 1
        elif status.startswith("DIFFERENT"):
            differing += 1
        else:
            failed += 1
        print(f"trial {trial}: {' '.join(events)} -> {status}" + (f"; leftovers: {left}" if left else ""), flush=True)
        if status == "identical" and not args.keep:
            shutil.rmtree(out, ignore_errors=True)
    print(f"kill_resume: trials={args.trials} identical={identical} differing={differing} failed={failed} "
          f"seconds={time.monotonic() - start:.0f} work={work}")
    sys.exit(1 if differing or failed else 0)


if __name__ == "__main__":
    main()
