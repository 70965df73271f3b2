"""Checks that the benchmark's Python reference step (scripts/bench_distill.py: lcd_losses, then the
loop's clip / AdamW / EMA) reproduces Tests/Fixtures/lcd/step.safetensors, the S1 step written out by
scripts/fixtures/make_lcd_step_fixtures.py, on the same inputs: fp32, CPU, one thread.

    python scripts/bench_distill_check.py [Tests/Fixtures]

Prints the largest difference per case; exits 1 if any is above --tolerance (default 0: the
same kernels on the same inputs give the same bits). The fixture's tensors are cloned first: a
tensor viewed straight out of the safetensors buffer can sit at an unaligned address, and the CPU
matmul kernels then round differently in the last bit.
"""

import argparse
import os
import sys

import torch
from diffusers import DDPMScheduler, UNet2DConditionModel
from safetensors.torch import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_distill as bd  # noqa: E402

KEYS = ["conv_in.weight", "time_embedding.cond_proj.weight", "down_blocks.0.attentions.0.proj_in.weight",
        "conv_out.bias"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fixtures", nargs="?", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures"))
    ap.add_argument("--tolerance", type=float, default=0.0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    fx = {k: v.clone() for k, v in load_file(os.path.join(args.fixtures, "lcd", "step.safetensors")).items()}
    worst = 0.0
    for prediction_type, loss_type in (("epsilon", "l2"), ("epsilon", "huber"), ("v_prediction", "huber")):
        tag = f"{prediction_type}_{loss_type}"

        def get(key):
            return fx[f"{tag}.{key}"]

        # the fixture's set-up: the tiny SD1-like teacher, time_cond_proj_dim 8, cond_proj drawn after seed 1
        teacher = UNet2DConditionModel.from_pretrained(os.path.join(args.fixtures, "unet", "sd1")).eval()
        torch.manual_seed(1)
        unet = UNet2DConditionModel.from_config(teacher.config, time_cond_proj_dim=8)
        unet.load_state_dict(teacher.state_dict(), strict=False)
        unet.train()
        target = UNet2DConditionModel.from_config(unet.config)
        target.load_state_dict(unet.state_dict())
        target.train()
        sched = DDPMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                              prediction_type=prediction_type)
        ac = sched.alphas_cumprod
        m = dict(device=torch.device("cpu"), weight_dtype=torch.float32, prediction_type=prediction_type,
                 num_train_timesteps=1000, num_ddim_timesteps=50, timestep_scaling=10.0,
                 alpha_schedule=ac.sqrt(), sigma_schedule=(1 - ac).sqrt(), solver=bd.DDIMSolver(ac.numpy(), 1000, 50),
                 time_cond_proj_dim=8, loss_type=loss_type, huber_c=0.001, noise_scheduler=sched,
                 teacher_unet=teacher, unet=unet, target_unet=target)
        opt = torch.optim.AdamW(unet.parameters(), lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8)
        loss, model_pred, tgt, x_prev = bd.lcd_losses(
            m, get("latents"), get("prompt_embeds"), get("uncond_prompt_embeds"),
            noise_fn=lambda latents: get("noise"), index_fn=lambda bsz, dev: get("index"), w_fn=lambda bsz: get("w"))
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        bd.update_ema(target.parameters(), unet.parameters(), 0.95)

        got = {"loss": loss.detach(), "grad_norm": grad_norm, "x_prev": x_prev, "target": tgt,
               "model_pred": model_pred.detach()}
        params = {"student": dict(unet.named_parameters()), "target": dict(target.named_parameters())}
        for key in KEYS:
            for side in ("student", "target"):
                got[f"{side}.{key}"] = params[side][key].detach()
        diffs = {k: (v.double() - get(k).double()).abs().max().item() for k, v in got.items()}
        case_worst = max(diffs.values())
        worst = max(worst, case_worst)
        print(f"{tag}: loss {loss.item():.7g} (fixture {get('loss').item():.7g}), x_prev {x_prev.dtype}, "
              f"max |diff| over {len(diffs)} tensors {case_worst:.3g}")
    print("ok" if worst <= args.tolerance else f"FAILED: {worst:.3g} > {args.tolerance}")
    sys.exit(0 if worst <= args.tolerance else 1)


if __name__ == "__main__":
    main()
