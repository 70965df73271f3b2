import Foundation
import Testing

/// `lcm train-text-to-image` end to end on the tiny fixture pipeline and shapes shards: a
/// pipeline folder diffusers loads (the EMA UNet in it), an interrupted run resumed equal to an
/// uninterrupted one bit for bit, its checkpoints refused by the distillation commands, bad flags
/// in one line. (Its step's maths: TextToImageStepTests.)
@Suite("lcm train-text-to-image", .serialized)
struct TrainTextToImageCommandTests {
  let base = "\(repoRoot)/Tests/Fixtures/pipeline/base"

  func shards(_ dir: String) throws -> String {
    let r = try runLCM(["data", "synth", "--output_dir", dir, "--num_images", "64", "--images_per_shard", "32", "--resolution", "32"])
    #expect(r.status == 0, "\(r.output)")
    return "\(dir)/shapes-{00000..00001}.tar"
  }

  func args(_ shards: String, _ out: String, steps: Int) -> [String] {
    ["train-text-to-image", "--pretrained_model_name_or_path", base, "--train_shards_path_or_url", shards, "--resolution", "32",
     "--train_batch_size", "4", "--max_train_steps", "\(steps)", "--checkpointing_steps", "2", "--validation_steps", "100",
     "--use_ema", "--snr_gamma", "5", "--noise_offset", "0.05", "--proportion_empty_prompts", "0.2", "--seed", "3",
     "--device", "cpu", "--output_dir", out]
  }

  @Test func pipelineDiffusersLoadsAndExactResume() throws {
    let tmp = try TempDir()
    let data = try shards(tmp.path + "/shapes")
    let straight = try runLCM(args(data, tmp.path + "/a", steps: 4))
    #expect(straight.status == 0 && straight.output.contains("saved the pipeline in"), "\(straight.output)")
    let part = try runLCM(args(data, tmp.path + "/b", steps: 2))
    #expect(part.status == 0, "\(part.output)")
    let rest = try runLCM(args(data, tmp.path + "/b", steps: 4) + ["--resume_from_checkpoint", "latest"])
    #expect(rest.status == 0 && rest.output.contains("resumed from"), "\(rest.output)")
    let name = "unet/diffusion_pytorch_model.safetensors"
    let a = FileManager.default.contents(atPath: "\(tmp.path)/a/\(name)")
    #expect(a != nil && a == FileManager.default.contents(atPath: "\(tmp.path)/b/\(name)"), "2 + 2 resumed steps equal 4")
    #expect(a == FileManager.default.contents(atPath: "\(tmp.path)/a/checkpoint-4/unet_ema/diffusion_pytorch_model.safetensors"), "the saved UNet is the EMA")
    let check = try runCommand(pythonPath, ["-c", """
      import torch
      from diffusers import StableDiffusionPipeline
      p = StableDiffusionPipeline.from_pretrained('\(tmp.path)/a', safety_checker=None, requires_safety_checker=False)
      img = p('a small red circle in the center on a white background', num_inference_steps=2, output_type='np',
              generator=torch.Generator().manual_seed(0)).images
      print(type(p.unet).__name__, img.shape)
      """])
    #expect(check.status == 0 && check.output.contains("UNet2DConditionModel (1, 32, 32, 3)"), "\(check.output)")
    let distill = try runLCM(["distill", "--pretrained_teacher_model", base, "--train_shards_path_or_url", data, "--resolution", "32",
                              "--max_train_steps", "6", "--seed", "3", "--train_batch_size", "4", "--device", "cpu", "--output_dir", tmp.path + "/b", "--resume_from_checkpoint", "latest"])
    #expect(distill.status != 0 && distill.output.contains("it is a text-to-image (lcm train-text-to-image) checkpoint"), "\(distill.output)")
  }

  /// --unet_config: a UNet of that config from torch's default init after --seed; the same
  /// seed, the same weights; not the pipeline's UNet.
  @Test func fromScratchIsSeeded() throws {
    let tmp = try TempDir()
    let data = try shards(tmp.path + "/shapes")
    let config = ["--unet_config", "\(base)/unet"]
    for out in ["a", "b"] {
      let r = try runLCM(args(data, "\(tmp.path)/\(out)", steps: 1) + config)
      #expect(r.status == 0, "\(r.output)")
    }
    let name = "unet/diffusion_pytorch_model.safetensors"
    let a = FileManager.default.contents(atPath: "\(tmp.path)/a/\(name)")
    #expect(a != nil && a == FileManager.default.contents(atPath: "\(tmp.path)/b/\(name)"))
    let tuned = try runLCM(args(data, tmp.path + "/c", steps: 1))
    #expect(tuned.status == 0 && FileManager.default.contents(atPath: "\(tmp.path)/c/\(name)") != a, "from scratch differs from fine-tuning")
    let bad = try runLCM(args(data, tmp.path + "/d", steps: 1) + ["--unet_config", tmp.path])
    #expect(bad.status != 0 && bad.output.contains("no config.json there"), "\(bad.output)")
  }

  @Test func badFlagsAreOneLine() throws {
    let r = try runLCM(["train-text-to-image", "--pretrained_model_name_or_path", base, "--train_data_dir", "/x", "--max_train_steps", "1",
                        "--prediction_type", "sample", "--snr_gamma", "0"])
    let errors = r.output.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
    #expect(r.status != 0 && errors.count == 1 && errors[0].contains("--prediction_type must be epsilon or v_prediction")
            && errors[0].contains("--snr_gamma must be positive"), "\(r.output)")
  }
}
