import Foundation
import ImageCodecs
import SafeTensors
import Testing
import Torch

/// `lcm distill` end to end on the tiny fixture pipeline and an image folder made here.
@Suite("lcm distill", .serialized)
struct DistillCommandTests {
  func lcm(_ args: [String]) throws -> (status: Int32, output: String) {
    let r = try runLCM(args)
    return (r.status, r.output)
  }

  func imageFolder() throws -> String { try randomImageFolder("imgs") }

  func losses(_ output: String) -> [String] {
    output.split(separator: "\n").filter { $0.hasPrefix("step ") }.map { String($0.split(separator: " ")[3]) }
  }

  /// With AdamW and with --use_8bit_adam (8-bit moments in the checkpoint, resumed exactly; a
  /// resume with the other optimizer is refused in one line).
  @Test(arguments: [[], ["--use_8bit_adam"]])
  func stopAndResumeGivesTheSameLossCurve(optimizerFlags: [String]) throws {
    let images = try imageFolder()
    let out = NSTemporaryDirectory() + "distill-\(UInt32.random(in: 0...UInt32.max))"
    let common = ["distill", "--pretrained_teacher_model", "\(repoRoot)/Tests/Fixtures/pipeline/base", "--train_data_dir", images,
                  "--resolution", "16", "--train_batch_size", "2", "--unet_time_cond_proj_dim", "8", "--lr_warmup_steps", "0",
                  "--checkpointing_steps", "2", "--seed", "3"] + optimizerFlags
    let straight = try lcm(common + ["--max_train_steps", "4", "--output_dir", out + "/a"])
    #expect(straight.status == 0, "\(straight.output)")
    let part = try lcm(common + ["--max_train_steps", "2", "--output_dir", out + "/b"])
    let opt = try SafeTensorsFile(path: "\(out)/b/checkpoint-2/optimizer.safetensors")
    let eightBit = opt.keys.filter { $0.hasSuffix(".state1") }.contains { opt.info($0)?.dtype == .U8 }
    #expect(eightBit == !optimizerFlags.isEmpty && opt.keys.contains { $0.hasSuffix(".exp_avg") } == optimizerFlags.isEmpty)
    let other = try lcm(common.filter { $0 != "--use_8bit_adam" } + (optimizerFlags.isEmpty ? ["--use_8bit_adam"] : [])
                        + ["--max_train_steps", "4", "--output_dir", out + "/b", "--resume_from_checkpoint", "latest"])
    let otherErrors = other.output.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
    #expect(other.status != 0 && otherErrors.count == 1 && otherErrors[0].contains("give the same optimizer flags"), "\(other.output)")
    let rest = try lcm(common + ["--max_train_steps", "4", "--output_dir", out + "/b", "--resume_from_checkpoint", "latest"])
    #expect(rest.output.contains("resumed from \(out)/b/checkpoint-2 at step 2"), "\(rest.output)")
    #expect(losses(straight.output).count == 4)
    #expect(losses(straight.output) == losses(part.output) + losses(rest.output))
    // TensorBoard (read by the tensorboard package) has the same losses; the run config is saved
    let data = try python(["\(repoRoot)/scripts/fixtures/read_tensorboard.py", out + "/a/logs/text2image-fine-tune"])
    let scalars = try #require((try JSONSerialization.jsonObject(with: data) as? [String: Any])?["scalars"] as? [String: [[Double]]])
    #expect(scalars["loss"]?.map { Float($0[1]) } == losses(straight.output).map { Float($0)! })
    #expect(Set(scalars.keys).isSuperset(of: ["loss", "lr", "grad_norm", "samples_per_second", "skipped_samples"]))
    #expect(FileManager.default.fileExists(atPath: out + "/a/run_config.json"))
    for name in ["unet", "unet_target"] {
      #expect(FileManager.default.fileExists(atPath: "\(out)/b/\(name)/diffusion_pytorch_model.safetensors"))
    }
  }

  func python(_ args: [String]) throws -> Data { try runCommand(pythonPath, args).stdout }

  /// 30 steps with checkpoints and validation, stopped by SIGTERM part way and resumed: the final
  /// UNets equal an uninterrupted run's; diffusers loads them and generates with LCMScheduler the
  /// images `lcm generate` makes from them; validation grids and TensorBoard images are written.
  @Test func stopBySignalResumeValidationAndDiffusersLoadsTheOutput() throws {
    // WebDataset shards made from the image folder with tar (each sample's .png and .txt together)
    let images = try imageFolder()
    let out = NSTemporaryDirectory() + "distill-e2e-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
    for (shard, keys) in [(0, 0..<3), (1, 3..<6)] {
      let tar = try runCommand("/usr/bin/tar", ["cf", "\(out)/shard-\(shard).tar"] + keys.flatMap { ["\($0).png", "\($0).txt"] }, in: images)
      #expect(tar.status == 0, "\(tar.output)")
    }
    let teacher = "\(repoRoot)/Tests/Fixtures/pipeline/base"
    let common = ["distill", "--pretrained_teacher_model", teacher, "--train_shards_path_or_url", out + "/shard-{0..1}.tar",
                  "--dataloader_num_workers", "1", "--resolution", "16",
                  "--train_batch_size", "2", "--unet_time_cond_proj_dim", "8", "--lr_warmup_steps", "0", "--learning_rate", "1e-3",
                  "--checkpointing_steps", "10", "--validation_steps", "15", "--validation_prompts", "a red house", "a cat",
                  "--max_train_steps", "30", "--seed", "4"]
    let straight = try lcm(common + ["--output_dir", out + "/a"])
    #expect(straight.status == 0, "\(straight.output)")

    // the interrupted run: SIGTERM once a few steps are done
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "\(repoRoot)/.build/debug/lcm")
    p.arguments = common + ["--output_dir", out + "/b"]
    let log = out + "-b.log"
    _ = FileManager.default.createFile(atPath: log, contents: nil)
    p.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
    p.standardError = p.standardOutput
    try p.run()
    let deadline = Date().addingTimeInterval(120)
    while Date() < deadline, !((try? String(contentsOfFile: log, encoding: .utf8))?.contains("step 12/30") ?? false) {
      Thread.sleep(forTimeInterval: 0.02)
    }
    p.terminate()
    p.waitUntilExit()
    let stopped = try String(contentsOfFile: log, encoding: .utf8)
    #expect(p.terminationStatus == 128 + SIGTERM, "\(stopped)")
    #expect(stopped.contains("stopped by SIGTERM at step"), "\(stopped)")
    #expect(!FileManager.default.fileExists(atPath: out + "/b/unet"), "no final UNet from a stopped run")
    let rest = try lcm(common + ["--output_dir", out + "/b", "--resume_from_checkpoint", "latest"])
    #expect(rest.status == 0 && rest.output.contains("resumed from"), "\(rest.output)")
    for name in ["unet", "unet_target"] {
      let a = try SafeTensorsFile(path: "\(out)/a/\(name)/diffusion_pytorch_model.safetensors")
      let b = try SafeTensorsFile(path: "\(out)/b/\(name)/diffusion_pytorch_model.safetensors")
      for key in a.keys {
        #expect(try Tensor.load(key, from: a).equal(Tensor.load(key, from: b)), "\(name) \(key) differs after resume")
      }
    }
    for step in [15, 30] {
      for name in ["target", "online"] { #expect(FileManager.default.fileExists(atPath: "\(out)/a/validation/step-\(step)-\(name).png")) }
    }
    let board = try #require(
      try JSONSerialization.jsonObject(with: try python(["\(repoRoot)/scripts/fixtures/read_tensorboard.py", out + "/a/logs/text2image-fine-tune"])) as? [String: Any])
    let imageTags = (board["images"] as? [String: [[Int]]]) ?? [:]
    #expect(imageTags["validation/target/a red house"]?.map { $0[0] } == [15, 30], "\(imageTags.keys)")
    #expect(imageTags["validation/online/a cat"]?.first?.dropFirst() == [128, 32], "width 4 × 32, height 32")

    // diffusers loads both UNets and generates with LCMScheduler; `lcm generate` agrees on them
    let json = try #require(try JSONSerialization.jsonObject(with: try python([
      "\(repoRoot)/scripts/fixtures/check_distilled_output.py", teacher, out + "/a", "a red house", "3", "32", "4", "8"])) as? [String: [String: Any]])
    for name in ["unet", "unet_target"] {
      let model = out + "/model-\(name)"
      try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
      for component in ["model_index.json", "scheduler", "text_encoder", "tokenizer", "vae"] {
        try FileManager.default.createSymbolicLink(atPath: "\(model)/\(component)", withDestinationPath: "\(teacher)/\(component)")
      }
      try FileManager.default.createSymbolicLink(atPath: "\(model)/unet", withDestinationPath: "\(out)/a/\(name)")
      let gen = try lcm(["generate", "--model", model, "--prompt", "a red house", "--seed", "3", "--height", "32", "--width", "32",
                         "--num_inference_steps", "4", "--guidance_scale", "8", "--output", "\(model)/images"])
      #expect(gen.status == 0, "\(gen.output)")
      let decoded = try ImageDecoder.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(model)/images/000.png"))))
      let expected = try #require(json[name]?["pixels"] as? [Int])
      #expect(json[name]!["config_time_cond_proj_dim"] as? Int == 8)
      #expect(zip(decoded.pixels, expected).map { abs(Int($0) - $1) }.max()! <= 2, "\(name): lcm generate vs diffusers")
    }
  }

  @Test(arguments: [
    (["--train_data_dir", "/x", "--train_shards_path_or_url", "/y"], "exactly one of"),
    (["--train_data_dir", "/x", "--resolution", "100"], "multiple of 8"),
    (["--train_data_dir", "/x", "--loss_type", "l1"], "--loss_type must be l2 or huber"),
    (["--train_data_dir", "/x", "--max_train_steps", "1", "--report_to", "neptune"], "--report_to must be tensorboard, none, or a tracker"),
    // every refusal together, in one line
    (["--train_data_dir", "/x", "--max_train_steps", "1", "--resolution", "100", "--loss_type", "l1"],
     "--resolution must be a positive multiple of 8, got 100; --loss_type must be l2 or huber"),
    // an unknown flag is reported even where another check would fail first
    (["--train_data_dir", "/x", "--resolution", "7", "--no_such_flag", "1"], "Unknown option '--no_such_flag'"),
    // argparse's prefixes: an ambiguous one is an error, an unambiguous one is its flag
    (["--train_data_dir", "/x", "--max_train", "1"], "ambiguous option: --max_train could match --max_train_samples, --max_train_steps"),
    (["--train_data_dir", "/x", "--max_train_step", "1", "--resol", "100"], "--resolution must be a positive multiple of 8, got 100"),
    (["--train_data_dir", "/x", "--max_train_steps", "1", "--mixed_precision", "fp8"], "--mixed_precision must be no, fp16 or bf16"),
    (["--train_data_dir", "/x"], "give --max_train_steps, or --max_train_samples"),
    (["--train_data_dir", "/x", "--max_train_steps", "1", "--no_such_flag", "1"], "Unknown option '--no_such_flag'"),
    (["--train_shards_path_or_url", "/nonexistent/s-{0..2}.tar", "--max_train_steps", "1", "--resolution", "16"],
     "no sample could be read from any of 3 shard(s)"),
    (["--train_data_dir", "/nonexistent", "--max_train_steps", "1", "--resolution", "16"], "/nonexistent"),
  ])
  func badFlags(args: [String], message: String) throws {
    let out = NSTemporaryDirectory() + "distill-bad-\(UInt32.random(in: 0...UInt32.max))"
    let r = try lcm(["distill", "--pretrained_teacher_model", "\(repoRoot)/Tests/Fixtures/pipeline/base", "--output_dir", out] + args)
    #expect(r.status != 0)
    let errors = r.output.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
    #expect(errors.count == 1 && errors[0].contains(message), "\(r.output)")
    #expect(!FileManager.default.fileExists(atPath: out), "nothing written for bad input")
  }

  /// The README command's network flags as written: one warning line each, TensorBoard logs, the
  /// upload command at the end; the device line first (no GPU here: the CPU, and why).
  @Test func networkFlagsWarnAndTheRunGoesOn() throws {
    let images = try imageFolder()
    let out = NSTemporaryDirectory() + "distill-net-\(UInt32.random(in: 0...UInt32.max))"
    let r = try lcm(["distill", "--pretrained_teacher_model", "\(repoRoot)/Tests/Fixtures/pipeline/base", "--train_data_dir", images,
                     "--resolution", "16", "--train_batch_size", "2", "--unet_time_cond_proj_dim", "8", "--max_train_step", "1",
                     "--output_dir", out, "--report_to", "wandb", "--push_to_hub", "--hub_model_id", "me/lcm-test", "--hub_token", "secret"])
    #expect(r.status == 0, "\(r.output)")
    let lines = r.output.split(separator: "\n").map(String.init)
    #expect(lines.first == "device: cpu, no CUDA GPU found" || CUDA.isAvailable, "\(r.output)")
    #expect(lines.filter { $0.contains("--report_to wandb: swift-lcm uses no network service") }.count == 1, "\(r.output)")
    #expect(lines.filter { $0.contains("--push_to_hub: swift-lcm does not upload") }.count == 1, "\(r.output)")
    let saved = lines.firstIndex { $0.hasPrefix("saved \(out)/unet") } ?? lines.count
    #expect(lines[saved...].contains { $0.contains("to upload the outputs, run: hf upload me/lcm-test \(out)") } && !r.output.contains("secret"), "\(r.output)")
    let logs = try FileManager.default.contentsOfDirectory(atPath: "\(out)/logs/text2image-fine-tune")
    #expect(logs.contains { $0.hasPrefix("events.out.tfevents") })
  }

  /// The summary counts training time only when a checkpoint and validation fall on the last step;
  /// run_config.json holds JSON values; a changed data setting on resume is one line naming it.
  @Test func summaryRunConfigAndChangedSettings() throws {
    let images = try imageFolder()
    let out = NSTemporaryDirectory() + "distill-sum-\(UInt32.random(in: 0...UInt32.max))"
    let common = ["distill", "--pretrained_teacher_model", "\(repoRoot)/Tests/Fixtures/pipeline/base", "--train_data_dir", images,
                  "--resolution", "16", "--unet_time_cond_proj_dim", "8", "--output_dir", out, "--seed", "5"]
    let r = try lcm(common + ["--train_batch_size", "2", "--max_train_steps", "3", "--checkpointing_steps", "1", "--validation_steps", "3"])
    #expect(r.status == 0, "\(r.output)")
    let summary = try #require(r.output.split(separator: "\n").first { $0.hasPrefix("summary: ") })
    let fields = Dictionary(uniqueKeysWithValues: summary.dropFirst(9).split(separator: " ").map {
      let kv = $0.split(separator: "=")
      return (String(kv[0]), Double(kv[1]) ?? .nan)
    })
    let perStep = try #require(fields["seconds_per_step"]), rate = try #require(fields["samples_per_second"])
    #expect(fields["steps"] == 2 && perStep > 0 && rate.isFinite && abs(rate * perStep - 2) < 0.05, "\(summary)")
    let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/run_config.json"))) as? [String: Any])
    #expect(config["maxTrainSteps"] as? Int == 3 && config["seed"] as? Int == 5 && config["checkpointsTotalLimit"] is NSNull)
    #expect(config["gradientCheckpointing"] as? Bool == false && config["validationPrompts"] as? [String] == [])
    #expect(config["learningRate"] as? Double == 1e-4 && config["resolvedDevice"] as? String == "cpu" && config["hubToken"] == nil)
    #expect(!config.values.contains { "\($0)".contains("Optional(") || "\($0)" == "nil" }, "\(config)")
    let changed = try lcm(common + ["--train_batch_size", "1", "--max_train_steps", "4", "--resume_from_checkpoint", "latest"])
    let errors = changed.output.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
    #expect(changed.status != 0 && errors.count == 1 && errors[0].contains("--train_batch_size was 2 in the checkpoint, now 1"), "\(changed.output)")
  }

  /// From distillation to images: `lcm generate --unet` swaps the distilled UNet into the teacher
  /// pipeline; `lcm export` writes a pipeline that diffusers' LatentConsistencyModelPipeline
  /// .from_pretrained loads (LCMScheduler read as from the teacher) and that generates the same
  /// images; `--output x.png` writes that file, several images as numbered siblings.
  @Test func generateWithUNetAndExport() throws {
    let images = try imageFolder()
    let out = NSTemporaryDirectory() + "distill-export-\(UInt32.random(in: 0...UInt32.max))"
    let teacher = "\(repoRoot)/Tests/Fixtures/pipeline/base"
    let r = try lcm(["distill", "--pretrained_teacher_model", teacher, "--train_data_dir", images, "--resolution", "16",
                     "--train_batch_size", "2", "--unet_time_cond_proj_dim", "8", "--max_train_steps", "2", "--output_dir", out + "/run"])
    #expect(r.status == 0, "\(r.output)")
    let sample = ["--prompt", "a red house", "--seed", "3", "--height", "32", "--width", "32", "--num_inference_steps", "4", "--guidance_scale", "8"]
    let swapped = try lcm(["generate", "--model", teacher, "--unet", out + "/run/unet_target", "--output", out + "/swap.png"] + sample)
    #expect(swapped.status == 0 && FileManager.default.fileExists(atPath: out + "/swap.png"), "\(swapped.output)")
    let exported = try lcm(["export", "--model", teacher, "--unet", out + "/run/unet_target", "--output", out + "/pipe"])
    #expect(exported.status == 0, "\(exported.output)")
    let again = try lcm(["export", "--model", teacher, "--unet", out + "/run/unet_target", "--output", out + "/pipe"])
    #expect(again.status != 0 && again.output.contains("exists and is not an empty folder"), "\(again.output)")
    let fromPipe = try lcm(["generate", "--model", out + "/pipe", "--output", out + "/pipe.png"] + sample)
    #expect(fromPipe.status == 0, "\(fromPipe.output)")
    let a = try ImageDecoder.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: out + "/swap.png"))))
    let b = try ImageDecoder.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: out + "/pipe.png"))))
    #expect(a.pixels == b.pixels, "the exported pipeline generates what the swapped UNet does")
    let json = try #require(try JSONSerialization.jsonObject(with: try python([
      "\(repoRoot)/scripts/fixtures/check_export.py", out + "/pipe", teacher, "a red house", "3", "32", "4", "8"])) as? [String: Any])
    #expect(json["pipeline"] as? String == "LatentConsistencyModelPipeline" && json["scheduler"] as? String == "LCMScheduler")
    #expect(json["scheduler_config_equal"] as? Bool == true)
    let expected = try #require(json["pixels"] as? [Int])
    #expect(expected.count == a.pixels.count && zip(a.pixels, expected).map { abs(Int($0) - $1) }.max()! <= 2, "lcm generate vs diffusers")
    let two = try lcm(["generate", "--model", out + "/pipe", "--output", out + "/two.png", "--num_images_per_prompt", "2"] + sample)
    #expect(two.status == 0 && ["two-000.png", "two-001.png"].allSatisfy { FileManager.default.fileExists(atPath: "\(out)/\($0)") }, "\(two.output)")
    #expect(!FileManager.default.fileExists(atPath: out + "/two.png"))
  }

  /// An upstream script checkpoint (diffusers unet/ and unet_target/ beside accelerate's pickles):
  /// the UNets and the step are restored with one warning line, the pickles are never read.
  @Test func resumesAnUpstreamCheckpoint() throws {
    let images = try imageFolder()
    let out = NSTemporaryDirectory() + "distill-upstream-\(UInt32.random(in: 0...UInt32.max))"
    let common = ["distill", "--pretrained_teacher_model", "\(repoRoot)/Tests/Fixtures/pipeline/base", "--train_data_dir", images,
                  "--resolution", "16", "--train_batch_size", "2", "--unet_time_cond_proj_dim", "8", "--checkpointing_steps", "2", "--seed", "4"]
    let first = try lcm(common + ["--max_train_steps", "2", "--output_dir", out + "/ours"])
    #expect(first.status == 0, "\(first.output)")
    _ = try python(["\(repoRoot)/scripts/fixtures/make_upstream_checkpoint.py", out + "/ours/checkpoint-2", out + "/theirs/checkpoint-2"])
    #expect(FileManager.default.fileExists(atPath: out + "/theirs/checkpoint-2/optimizer.bin"))
    let r = try lcm(common + ["--max_train_steps", "3", "--output_dir", out + "/theirs", "--resume_from_checkpoint", "latest"])
    #expect(r.status == 0, "\(r.output)")
    let lines = r.output.split(separator: "\n")
    #expect(lines.filter { $0.contains("was written by the Python script") }.count == 1, "\(r.output)")
    #expect(!r.output.contains("data_position.json is missing"), "one warning, not two")
    #expect(r.output.contains("resumed from \(out)/theirs/checkpoint-2 at step 2") && lines.filter { $0.hasPrefix("step ") }.count == 1, "\(r.output)")
    #expect(FileManager.default.fileExists(atPath: out + "/theirs/unet_target/diffusion_pytorch_model.safetensors"))
  }

  /// `lcm distill --help`: the script's sections in its order, every flag described, and (where
  /// the unmodified upstream script is at hand) every flag of the script present.
  @Test(arguments: [("distill", "train_lcm_distill_sd_wds.py"), ("distill-lora", "train_lcm_distill_lora_sd_wds.py")])
  func helpHasTheScriptsSectionsAndDescribesEveryFlag(command: String, scriptName: String) throws {
    let r = try lcm([command, "--help"])
    let lines = r.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    // the LoRA script has no EMA section
    let sections = ["MODEL CHECKPOINT LOADING:", "GENERAL TRAINING:", "LOGGING:", "CHECKPOINTING:", "IMAGE PROCESSING:", "DATALOADER:",
                    "BATCH SIZE AND TRAINING STEPS:", "LEARNING RATE:", "OPTIMIZER (ADAM):", "DIFFUSION TRAINING:",
                    "LATENT CONSISTENCY DISTILLATION (LCD):"] + (command == "distill" ? ["EXPONENTIAL MOVING AVERAGE (EMA):"] : [])
      + ["MIXED PRECISION:", "TRAINING OPTIMIZATIONS:", "DISTRIBUTED TRAINING:", "VALIDATION:", "HUGGING FACE HUB:", "ACCELERATE:"]
    let positions = sections.map { title in lines.firstIndex(of: title) ?? -1 }
    #expect(!positions.contains(-1) && positions == positions.sorted(), "\(zip(sections, positions).map { "\($0) \($1)" })")
    var flags: [String] = []
    for (i, line) in lines.enumerated() where line.hasPrefix("  --") && !line.hasPrefix("  --help") && !line.hasPrefix("  --version") {
      let flag = String(line.dropFirst(2).prefix { $0 != " " })
      flags.append(flag)
      // ArgumentParser puts a description in column 26, on the flag's line when the flag fits
      let chars = Array(line)
      let sameLine = chars.count > 26 && chars[25] == " " && chars[26] != " "
      let nextLine = i + 1 < lines.count && lines[i + 1].hasPrefix(String(repeating: " ", count: 20)) && !lines[i + 1].trimmingCharacters(in: .whitespaces).hasPrefix("(default")
      #expect(sameLine || nextLine, "\(flag) has no description")
    }
    #expect(flags.count >= 58, "\(flags.count) flags")
    let upstream = "\(repoRoot)/../shared/reference/upstream/\(scriptName)"
    if let script = try? String(contentsOfFile: upstream, encoding: .utf8) {
      let theirs = script.components(separatedBy: "\"--").dropFirst().map { "--" + $0.prefix { $0 != "\"" } }.filter { $0.count > 2 }
      #expect(theirs.count >= 50)
      for flag in theirs { #expect(flags.contains(flag), "\(flag) of the script is missing") }
    }
  }

  /// The full-UNet command of the upstream README, as written — `accelerate launch
  /// train_lcm_distill_sd_wds.py` replaced by `lcm distill`, and only the model, the data (local
  /// shards through pipe:cat instead of pipe:curl), the sizes and the step count changed: fp16,
  /// 8-bit Adam, wandb, push_to_hub, xformers, resume latest and all.
  @Test func theUpstreamREADMECommandRunsAsWritten() throws {
    let images = try imageFolder()
    let out = NSTemporaryDirectory() + "distill-readme-\(UInt32.random(in: 0...UInt32.max))"
    let shards = out + "-shards"
    try FileManager.default.createDirectory(atPath: shards, withIntermediateDirectories: true)
    for k in 0..<3 {
      // a sample's members next to each other, as webdataset needs
      let members = (0..<2).flatMap { i in ["\(2 * k + i).png", "\(2 * k + i).txt"] }
      let r = try runCommand("/bin/tar", ["-cf", "\(shards)/0000\(k).tar", "-C", images] + members)
      #expect(r.status == 0, "\(r.output)")
    }
    let r = try lcm([
      "distill",
      "--pretrained_teacher_model=\(repoRoot)/Tests/Fixtures/pipeline/base",
      "--output_dir=\(out)",
      "--mixed_precision=fp16",
      "--resolution=16",
      "--learning_rate=1e-6", "--loss_type=huber", "--ema_decay=0.95", "--adam_weight_decay=0.0",
      "--max_train_steps=3",
      "--max_train_samples=4000000",
      "--dataloader_num_workers=8",
      "--train_shards_path_or_url=pipe:cat \(shards)/{00000..00002}.tar",
      "--validation_steps=200",
      "--checkpointing_steps=200", "--checkpoints_total_limit=10",
      "--train_batch_size=2",
      "--gradient_checkpointing", "--enable_xformers_memory_efficient_attention",
      "--gradient_accumulation_steps=1",
      "--use_8bit_adam",
      "--resume_from_checkpoint=latest",
      "--report_to=wandb",
      "--seed=453645634",
      "--push_to_hub",
    ])
    #expect(r.status == 0, "\(r.output)")
    #expect(r.output.split(separator: "\n").filter { $0.hasPrefix("step ") }.count == 3, "\(r.output)")
    for name in ["unet", "unet_target"] {
      #expect(FileManager.default.fileExists(atPath: "\(out)/\(name)/diffusion_pytorch_model.safetensors"))
    }
    #expect(!r.output.contains("Error"), "\(r.output)")
  }

  /// A teacher pipeline folder without unet/: one line naming it, nothing written.
  @Test func teacherWithoutUNet() throws {
    let teacher = NSTemporaryDirectory() + "teacher-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: teacher, withIntermediateDirectories: true)
    for c in ["model_index.json", "scheduler", "text_encoder", "tokenizer", "vae"] {
      try FileManager.default.copyItem(atPath: "\(repoRoot)/Tests/Fixtures/pipeline/base/\(c)", toPath: "\(teacher)/\(c)")
    }
    let out = teacher + "-out"
    let r = try lcm(["distill", "--pretrained_teacher_model", teacher, "--train_data_dir", try imageFolder(), "--resolution", "16",
                     "--train_batch_size", "2", "--max_train_steps", "1", "--output_dir", out])
    let errors = r.output.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
    #expect(r.status != 0 && errors.count == 1 && errors[0].contains("has no unet/ component"), "\(r.output)")
    #expect(!FileManager.default.fileExists(atPath: out))
  }

  /// Without --max_train_steps the script's epoch arithmetic sets the count: 2 epochs of
  /// ceil(5 / (2 × 1)) = 3 batches.
  @Test func epochsSetTheStepCount() throws {
    let out = NSTemporaryDirectory() + "distill-epochs-\(UInt32.random(in: 0...UInt32.max))"
    let r = try lcm(["distill", "--pretrained_teacher_model", "\(repoRoot)/Tests/Fixtures/pipeline/base", "--train_data_dir", try imageFolder(),
                     "--resolution", "16", "--train_batch_size", "2", "--max_train_samples", "5", "--num_train_epochs", "2",
                     "--dataloader_num_workers", "1", "--unet_time_cond_proj_dim", "8", "--output_dir", out, "--report_to", "none"])
    #expect(r.status == 0 && r.output.contains("step 6/6 "), "\(r.output)")
    #expect(r.output.contains("6 steps (2 epoch(s) of --max_train_samples 5)"))
  }
}
