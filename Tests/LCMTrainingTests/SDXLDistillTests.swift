import Foundation
import ImageCodecs
import Testing

/// SDXL teachers in `lcm distill` and `lcm distill-lora`, end to end on a tiny SDXL-like pipeline
/// (scripts/fixtures/make_sdxl_pipeline_fixtures.py, live): both text encoders, pooled embeddings
/// and time_ids from the batch, validation, and outputs diffusers loads. (The SDXL scripts' own
/// flags, their step parity beyond S3's and WebdatasetFilter come with the SDXL issue.)
@Suite("SDXL distillation runs", .serialized)
struct SDXLDistillTests {
  static let made = LiveFixture.make("scripts/fixtures/make_sdxl_pipeline_fixtures.py", name: "sdxl-distill")

  static let filtered = LiveFixture.make("scripts/fixtures/make_filter_fixtures.py", name: "sdxl-wds-filter")
  static let datasets = LiveFixture.make("scripts/fixtures/make_datasets_fixtures.py", name: "sdxl-datasets")

  func python(_ code: String) throws -> CommandResult { try runCommand(pythonPath, ["-c", code]) }

  @Test func fullUNetAndLoRA() throws {
    let teacher = "\(try Self.made.get())/sdxl"
    let images = try randomImageFolder("sdxl-imgs")
    let out = NSTemporaryDirectory() + "sdxl-distill-\(UInt32.random(in: 0...UInt32.max))"
    let common = ["--pretrained_teacher_model", teacher, "--train_data_dir", images, "--resolution", "32", "--train_batch_size", "2",
                  "--max_train_steps", "2", "--validation_steps", "2", "--checkpointing_steps", "2", "--seed", "1"]
    let full = try runLCM(["distill"] + common + ["--unet_time_cond_proj_dim", "8", "--output_dir", out + "/full"])
    #expect(full.status == 0 && full.output.contains("validation images:"), "\(full.output)")
    let check = try python("""
      from diffusers import UNet2DConditionModel
      u = UNet2DConditionModel.from_pretrained('\(out)/full/unet_target')
      print(u.config.addition_embed_type, u.config.time_cond_proj_dim)
      """)
    #expect(check.status == 0 && check.output.contains("text_time 8"), "\(check.output)")
    // the SDXL scripts' defaults for an SDXL teacher: w_min 3.0, vae_encode_batch_size 8
    let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(out)/full/run_config.json"))) as? [String: Any])
    #expect(config["resolvedWMin"] as? Double == 3.0 && config["resolvedVaeEncodeBatchSize"] as? Int == 8 && config["resolvedResolution"] as? Int == 32, "\(config)")
    let swapped = try runLCM(["generate", "--model", teacher, "--unet", out + "/full/unet_target", "--prompt", "a cat",
                              "--height", "32", "--width", "32", "--seed", "3", "--output", out + "/full.png"])
    #expect(swapped.status == 0, "\(swapped.output)")
    // lcm export: a StableDiffusionXLPipeline folder (LCMScheduler) that diffusers loads and that
    // generates what the swapped UNet does
    let exported = try runLCM(["export", "--model", teacher, "--unet", out + "/full/unet_target", "--output", out + "/pipe"])
    #expect(exported.status == 0 && exported.output.contains("StableDiffusionXLPipeline.from_pretrained"), "\(exported.output)")
    let json = try #require(try JSONSerialization.jsonObject(with: try runCommand(pythonPath, [
      "\(repoRoot)/scripts/fixtures/check_export.py", out + "/pipe", teacher, "a cat", "3", "32", "4", "8"]).stdout) as? [String: Any])
    #expect(json["pipeline"] as? String == "StableDiffusionXLPipeline" && json["scheduler"] as? String == "LCMScheduler", "\(json.keys)")
    let ours = try ImageDecoder.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: out + "/full.png"))))
    let theirs = try #require(json["pixels"] as? [Int])
    #expect(theirs.count == ours.pixels.count && zip(ours.pixels, theirs).map { abs(Int($0) - $1) }.max()! <= 2, "lcm generate vs diffusers")

    let lora = try runLCM(["distill-lora"] + common + ["--lora_rank", "4", "--use_fix_crop_and_size", "--output_dir", out + "/lora"])
    #expect(lora.status == 0, "\(lora.output)")
    let loads = try python("""
      import warnings; warnings.filterwarnings('ignore')
      from diffusers import StableDiffusionXLPipeline
      p = StableDiffusionXLPipeline.from_pretrained('\(teacher)')
      p.load_lora_weights('\(out)/lora', weight_name='pytorch_lora_weights.safetensors')
      p.load_lora_weights('\(out)/lora', weight_name='pytorch_lora_weights_kohya.safetensors', adapter_name='kohya')
      print('loaded', len(p.get_list_adapters()['unet']))
      """)
    #expect(loads.status == 0 && loads.output.contains("loaded 2"), "\(loads.output)")
    let merged = try runLCM(["export", "--model", teacher, "--lora", out + "/lora/pytorch_lora_weights.safetensors", "--output", out + "/pipe-lora"])
    #expect(merged.status == 0, "\(merged.output)")
    let mergedJSON = try #require(try JSONSerialization.jsonObject(with: try runCommand(pythonPath, [
      "\(repoRoot)/scripts/fixtures/check_export.py", out + "/pipe-lora", teacher, "a cat", "3", "32", "4", "1"]).stdout) as? [String: Any])
    #expect(mergedJSON["pipeline"] as? String == "StableDiffusionXLPipeline" && mergedJSON["scheduler_config_equal"] as? Bool == true)
  }

  /// S5's data path: `--dataset_name` on a parquet dataset `datasets` wrote (one corrupt image,
  /// skipped and counted), the S5 flags by name; the LoRA loads in diffusers.
  @Test func loraFromAParquetDataset() throws {
    let teacher = "\(try Self.made.get())/sdxl"
    let data = "\(try Self.datasets.get())/sdxl"
    let out = NSTemporaryDirectory() + "sdxl-dataset-\(UInt32.random(in: 0...UInt32.max))"
    let r = try runLCM([
      "distill-lora", "--pretrained_teacher_model", teacher, "--dataset_name", data, "--image_column", "image", "--caption_column", "text",
      "--encode_batch_size", "4", "--resolution", "32", "--train_batch_size", "4", "--max_train_steps", "4", "--validation_steps", "100",
      "--checkpointing_steps", "100", "--seed", "2", "--lora_rank", "4", "--center_crop", "--random_flip", "--output_dir", out,
    ])
    #expect(r.status == 0, "\(r.output)")
    #expect(r.output.contains("not_an_image"), "the corrupt row is reported: \(r.output)")
    // S5 validates once more after the last step, with its own four prompts
    #expect(r.output.contains("final validation images:") && r.output.contains("prompt 4/4"), "\(r.output)")
    let loads = try python("""
      import warnings; warnings.filterwarnings('ignore')
      from diffusers import StableDiffusionXLPipeline
      p = StableDiffusionXLPipeline.from_pretrained('\(teacher)')
      p.load_lora_weights('\(out)', weight_name='pytorch_lora_weights.safetensors')
      print('loaded', len(p.get_list_adapters()['unet']))
      """)
    #expect(loads.status == 0 && loads.output.contains("loaded 1"), "\(loads.output)")
    // a hub id that is not cached is one line, before anything is written
    let missing = try runLCM(["distill-lora", "--pretrained_teacher_model", teacher, "--dataset_name", "nobody/nothing-here",
                              "--max_train_steps", "1", "--output_dir", out + "-missing"])
    #expect(missing.status != 0 && missing.output.contains("not in the Hugging Face cache"), "\(missing.output)")
    #expect(!FileManager.default.fileExists(atPath: out + "-missing"))
  }

  func losses(_ output: String) -> [String] {
    output.split(separator: "\n").filter { $0.hasPrefix("step ") }.map { String($0.split(separator: " ")[3]) }
  }

  /// S3 on shards with json members: the WebdatasetFilter drops (and counts) some; stopped at
  /// step 2 and resumed, the loss curve and the final UNets equal an uninterrupted run's, bit for bit.
  @Test(.enabled(if: upstreamScripts != nil, "the upstream scripts are not beside this clone"))
  func filteredShardsAndExactResume() throws {
    let teacher = "\(try Self.made.get())/sdxl"
    let shards = "\(try Self.filtered.get())/shards/sdxl-{00000..00001}.tar"
    let out = NSTemporaryDirectory() + "sdxl-resume-\(UInt32.random(in: 0...UInt32.max))"
    let common = ["distill", "--pretrained_teacher_model", teacher, "--train_shards_path_or_url", shards, "--max_train_samples", "24",
                  "--dataloader_num_workers", "1", "--resolution", "32", "--train_batch_size", "2", "--unet_time_cond_proj_dim", "8",
                  "--lr_warmup_steps", "0", "--checkpointing_steps", "2", "--validation_steps", "100", "--seed", "5"]
    let straight = try runLCM(common + ["--max_train_steps", "4", "--output_dir", out + "/a"])
    #expect(straight.status == 0 && straight.output.contains("WebdatasetFilter on the shards"), "\(straight.output)")
    #expect(straight.output.contains("[filtered]"), "drops are reported: \(straight.output)")
    let part = try runLCM(common + ["--max_train_steps", "2", "--output_dir", out + "/b"])
    let rest = try runLCM(common + ["--max_train_steps", "4", "--output_dir", out + "/b", "--resume_from_checkpoint", "latest"])
    #expect(rest.status == 0 && rest.output.contains("resumed from"), "\(rest.output)")
    #expect(losses(straight.output).count == 4 && losses(straight.output) == losses(part.output) + losses(rest.output))
    for name in ["unet", "unet_target"] {
      let a = "\(out)/a/\(name)/diffusion_pytorch_model.safetensors", b = "\(out)/b/\(name)/diffusion_pytorch_model.safetensors"
      #expect(FileManager.default.contents(atPath: a) == FileManager.default.contents(atPath: b), "\(name) differs after resume")
    }
  }
}
