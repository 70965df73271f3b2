import Foundation
import ImageCodecs
import SafeTensors
import Testing
import Torch

/// `lcm distill-lora` end to end on the tiny base pipeline: diffusers loads both exported files
/// (its LCMScheduler images equal `lcm generate --lora`'s within 2/255, the trained alpha
/// honoured), resume is bit-exact, and --use_target_model moves EMA adapters.
@Suite("lcm distill-lora", .serialized)
struct DistillLoRATests {
  let base = "\(repoRoot)/Tests/Fixtures/pipeline/base"

  func images() throws -> String { try randomImageFolder("lora-imgs") }

  func distill(_ images: String, _ out: String, _ extra: [String]) throws -> CommandResult {
    try runLCM(["distill-lora", "--pretrained_teacher_model", base, "--train_data_dir", images, "--resolution", "16",
                "--train_batch_size", "2", "--lora_rank", "4", "--lora_alpha", "8", "--learning_rate", "1e-3",
                "--lr_warmup_steps", "0", "--checkpointing_steps", "2", "--validation_steps", "100", "--seed", "9",
                "--output_dir", out] + extra)
  }

  @Test func diffusersLoadsBothFilesAndMatchesGenerate() throws {
    let imgs = try images()
    let out = NSTemporaryDirectory() + "lora-run-\(UInt32.random(in: 0...UInt32.max))"
    let r = try distill(imgs, out, ["--max_train_steps", "4"])
    #expect(r.status == 0, "\(r.output)")
    let sample = ["--prompt", "a red house", "--seed", "3", "--height", "32", "--width", "32", "--num_inference_steps", "4", "--guidance_scale", "1"]
    let generated = try runLCM(["generate", "--model", base, "--lora", "\(out)/pytorch_lora_weights.safetensors", "--output", "\(out)/ours.png"] + sample)
    #expect(generated.status == 0, "\(generated.output)")
    let ours = try ImageDecoder.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(out)/ours.png"))))
    for file in ["pytorch_lora_weights.safetensors", "pytorch_lora_weights_kohya.safetensors"] {
      let data = try runScript("scripts/fixtures/check_lora_output.py", [base, "\(out)/\(file)", "a red house", "3", "32", "4"])
      let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
      #expect(json["scale"] as? Double == 2.0, "\(file): diffusers' scale \(json["scale"] ?? "none") (alpha 8 / rank 4)")
      let pixels = try #require(json["pixels"] as? [Int])
      #expect(pixels.count == ours.pixels.count && zip(ours.pixels, pixels).map { abs(Int($0) - $1) }.max()! <= 2, "\(file): lcm generate vs diffusers")
    }
    let plain = try runLCM(["generate", "--model", base, "--output", "\(out)/plain.png"] + sample)
    #expect(plain.status == 0)
    let before = try ImageDecoder.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(out)/plain.png"))))
    #expect(before.pixels != ours.pixels, "the trained LoRA changes the images")
    #expect(FileManager.default.fileExists(atPath: "\(out)/adapter_config.json"))

    // lcm export --lora: the LoRA merged into the base UNet, a StableDiffusionPipeline with the
    // LCMScheduler that diffusers loads
    let exported = try runLCM(["export", "--model", base, "--lora", "\(out)/pytorch_lora_weights.safetensors", "--output", "\(out)/pipe"])
    #expect(exported.status == 0, "\(exported.output)")
    let fromPipe = try runLCM(["generate", "--model", "\(out)/pipe", "--output", "\(out)/pipe.png"] + sample)
    #expect(fromPipe.status == 0, "\(fromPipe.output)")
    let merged = try ImageDecoder.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(out)/pipe.png"))))
    #expect(zip(merged.pixels, ours.pixels).map { abs(Int($0) - Int($1)) }.max()! <= 2, "merged vs unfused LoRA")
    let data = try runScript("scripts/fixtures/check_export.py", ["\(out)/pipe", base, "a red house", "3", "32", "4", "1"])
    let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    #expect(json["pipeline"] as? String == "StableDiffusionPipeline" && json["scheduler"] as? String == "LCMScheduler")
    let pixels = try #require(json["pixels"] as? [Int])
    #expect(zip(merged.pixels, pixels).map { abs(Int($0) - $1) }.max()! <= 2, "lcm generate vs diffusers on the exported pipeline")
    let unet = try String(contentsOfFile: "\(out)/pipe/unet/config.json", encoding: .utf8)
    #expect(!unet.contains("lora"), "the exported UNet is merged, without LoRA keys")
  }

  @Test func resumeIsBitExactAndTheTargetModelMoves() throws {
    let imgs = try images()
    let out = NSTemporaryDirectory() + "lora-resume-\(UInt32.random(in: 0...UInt32.max))"
    #expect(try distill(imgs, out + "/a", ["--max_train_steps", "4"]).status == 0)
    #expect(try distill(imgs, out + "/b", ["--max_train_steps", "2"]).status == 0)
    let rest = try distill(imgs, out + "/b", ["--max_train_steps", "4", "--resume_from_checkpoint", "latest"])
    #expect(rest.status == 0 && rest.output.contains("resumed from \(out)/b/checkpoint-2 at step 2"), "\(rest.output)")
    for file in ["adapter_model.safetensors", "pytorch_lora_weights.safetensors", "pytorch_lora_weights_kohya.safetensors"] {
      #expect(FileManager.default.contents(atPath: "\(out)/a/\(file)") == FileManager.default.contents(atPath: "\(out)/b/\(file)"), "\(file)")
    }
    // a full-UNet run cannot resume a LoRA checkpoint
    let wrong = try runLCM(["distill", "--pretrained_teacher_model", base, "--train_data_dir", imgs, "--resolution", "16",
                            "--train_batch_size", "2", "--max_train_steps", "4", "--seed", "9", "--output_dir", out + "/b", "--resume_from_checkpoint", "checkpoint-2"])
    #expect(wrong.status != 0 && wrong.output.contains("it is a LoRA (lcm distill-lora) checkpoint"), "\(wrong.output)")

    let ema = try distill(imgs, out + "/ema", ["--max_train_steps", "3", "--use_target_model", "--ema_decay", "0.5"])
    #expect(ema.status == 0, "\(ema.output)")
    let target = try SafeTensorsFile(path: "\(out)/ema/adapter_model.safetensors")
    let online = try SafeTensorsFile(path: "\(out)/ema/online/adapter_model.safetensors")
    let key = try #require(target.keys.first { $0.hasSuffix("lora_B.weight") })
    let tb = try Tensor.load(key, from: target), ob = try Tensor.load(key, from: online)
    #expect(try tb.abs().amax().item() > 0, "the EMA adapters moved from lora_B = 0")
    #expect(try (tb - ob).abs().amax().item() > 0, "the EMA adapters differ from the online ones")
  }

  /// fp16 mixed precision keeps the adapters fp32 (diffusers#6442) and trains them.
  @Test func fp16KeepsTheAdaptersFP32() throws {
    let out = NSTemporaryDirectory() + "lora-fp16-\(UInt32.random(in: 0...UInt32.max))"
    let r = try distill(try images(), out, ["--max_train_steps", "2", "--mixed_precision", "fp16", "--gradient_checkpointing"])
    #expect(r.status == 0, "\(r.output)")
    let file = try SafeTensorsFile(path: "\(out)/adapter_model.safetensors")
    #expect(!file.keys.isEmpty && file.keys.allSatisfy { file.info($0)?.dtype == .F32 })
    let key = try #require(file.keys.first { $0.hasSuffix("lora_B.weight") })
    #expect(try Tensor.load(key, from: file).abs().amax().item() > 0, "the adapters trained")
  }

  @Test func loraFlagOnDistillPointsToDistillLoRA() throws {
    let r = try runLCM(["distill", "--pretrained_teacher_model", base, "--train_data_dir", "/x", "--max_train_steps", "1", "--lora_rank", "8"])
    let errors = r.output.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
    #expect(r.status != 0 && errors.count == 1 && errors[0].contains("is `lcm distill-lora`"), "\(r.output)")
  }
}
