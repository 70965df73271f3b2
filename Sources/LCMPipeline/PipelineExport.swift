import DiffusionModels
import Foundation
import Schedulers

/// `lcm export`: a complete diffusers pipeline folder from a teacher pipeline and a distilled UNet
/// (`LatentConsistencyModelPipeline`) or an LCM-LoRA merged into its UNet (`StableDiffusionPipeline`
/// with the LCMScheduler), ready for `from_pretrained` and for uploading.
public enum PipelineExport {
  /// LCMScheduler's __init__ arguments (diffusers 0.42): what from_pretrained keeps of a config.
  static let lcmSchedulerKeys = [
    "num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "original_inference_steps",
    "clip_sample", "clip_sample_range", "set_alpha_to_one", "steps_offset", "prediction_type", "thresholding",
    "dynamic_thresholding_ratio", "sample_max_value", "timestep_spacing", "timestep_scaling", "rescale_betas_zero_snr",
  ]

  /// Writes `output` (which must not exist or be empty) through a temporary sibling renamed at the
  /// end: the teacher's tokenizer, text encoder and VAE, the UNet of `unetFolder` (its config
  /// checked), an LCMScheduler config as `LCMScheduler.from_pretrained(teacher, subfolder="scheduler")`
  /// reads the teacher's, and model_index.json without a safety checker. Returns the components.
  /// `lora`: instead of a UNet folder, an LCM-LoRA merged into the teacher's UNet (fp32).
  public static func write(teacher: DiffusersPipelineFolder, unetFolder: String?, lora: String? = nil, to output: String) throws -> [String] {
    let fm = FileManager.default
    if fm.fileExists(atPath: output), !((try? fm.contentsOfDirectory(atPath: output))?.isEmpty ?? false) {
      throw ConfigError(output, "exists and is not an empty folder: choose a new --output")
    }
    guard (unetFolder == nil) != (lora == nil) else { throw ConfigError(output, "give exactly one of --unet and --lora") }
    var merged: UNet2DConditionModel?
    if let lora {
      let unet = try UNet2DConditionModel.load(folder: try teacher.component("unet"))
      try unet.loadLoRA(path: lora, fuse: true)
      merged = unet
    } else if let unetFolder {
      // the UNet's config must be one swift-lcm (and so diffusers) loads, with safetensors weights
      _ = try UNet2DConditionConfig(path: "\(unetFolder)/config.json")
      _ = try ModelFiles.weights(in: unetFolder, base: "diffusion_pytorch_model")
    }
    let parent = (output as NSString).deletingLastPathComponent
    let temp = (parent.isEmpty ? "." : parent) + "/.\((output as NSString).lastPathComponent).tmp-\(getpid())"
    try? fm.removeItem(atPath: temp)
    do {
      try fm.createDirectory(atPath: temp, withIntermediateDirectories: true)
      for name in components(of: teacher) {
        try copyFolder(try teacher.component(name), to: "\(temp)/\(name)")
      }
      if let merged { try merged.save(folder: "\(temp)/unet") } else { try copyFolder(unetFolder!, to: "\(temp)/unet") }
      try fm.createDirectory(atPath: "\(temp)/scheduler", withIntermediateDirectories: true)
      try writeJSON(try lcmSchedulerConfig(teacher: teacher), to: "\(temp)/scheduler/scheduler_config.json")
      // diffusers' LCM pipeline needs a guidance embedding; a base UNet with a merged LCM-LoRA
      // runs in StableDiffusionPipeline with the LCMScheduler (at guidance 1). SDXL has no LCM
      // pipeline class: LCM SDXL UNets run in StableDiffusionXLPipeline with the LCMScheduler.
      let sdxl = teacher.has("text_encoder_2")
      let pipelineClass = sdxl ? "StableDiffusionXLPipeline" : lora == nil ? "LatentConsistencyModelPipeline" : "StableDiffusionPipeline"
      let index = try modelIndex(teacher: teacher, pipelineClass: pipelineClass)
      try writeJSON(index, to: "\(temp)/model_index.json")
      if fm.fileExists(atPath: output) { try fm.removeItem(atPath: output) }  // empty, checked above
      try fm.moveItem(atPath: temp, toPath: output)
    } catch {
      try? fm.removeItem(atPath: temp)
      throw error
    }
    return (["model_index.json", "scheduler", "unet"] + components(of: teacher)).sorted()
  }

  /// A fine-tuned pipeline beside its trained `unet/` in `dir` (train_text_to_image.py's final
  /// save_pretrained): the base pipeline's other components, its scheduler and model_index.json
  /// as they are. Returns what was written.
  public static func writeBesideUNet(base: DiffusersPipelineFolder, in dir: String) throws -> [String] {
    let names = components(of: base) + ["scheduler"]
    for name in names {
      let destination = "\(dir)/\(name)"
      if FileManager.default.fileExists(atPath: destination) { try FileManager.default.removeItem(atPath: destination) }
      try copyFolder(try base.component(name), to: destination)
    }
    let index = "\(dir)/model_index.json"
    if FileManager.default.fileExists(atPath: index) { try FileManager.default.removeItem(atPath: index) }
    try FileManager.default.copyItem(atPath: URL(fileURLWithPath: "\(base.path)/model_index.json").resolvingSymlinksInPath().path, toPath: index)
    return names.map { "\(dir)/\($0)" } + [index]
  }

  /// The teacher's components the export copies: SD's tokenizer, text encoder and VAE, and
  /// SDXL's second tokenizer and encoder.
  static func components(of teacher: DiffusersPipelineFolder) -> [String] {
    ["tokenizer", "text_encoder", "vae"] + (teacher.has("text_encoder_2") ? ["tokenizer_2", "text_encoder_2"] : [])
  }

  /// The teacher's scheduler config with only LCMScheduler's keys, named LCMScheduler; the keys
  /// it lacks take LCMScheduler's defaults when diffusers loads it, as from the teacher.
  static func lcmSchedulerConfig(teacher: DiffusersPipelineFolder) throws -> [String: Any] {
    let path = "\(try teacher.component("scheduler"))/scheduler_config.json"
    guard let data = FileManager.default.contents(atPath: path),
      let source = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    else { throw ConfigError(path, "missing or not a JSON object") }
    var config: [String: Any] = ["_class_name": "LCMScheduler", "_diffusers_version": "0.42.1"]
    for key in lcmSchedulerKeys { if let v = source[key] { config[key] = v } }
    _ = try LCMSchedulerConfig(path: path)  // read as generate reads it
    return config
  }

  static func modelIndex(teacher: DiffusersPipelineFolder, pipelineClass: String) throws -> [String: Any] {
    let path = "\(teacher.path)/model_index.json"
    guard let data = FileManager.default.contents(atPath: path),
      let source = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    else { throw ConfigError(path, "missing or not a JSON object") }
    var index: [String: Any] = [
      "_class_name": pipelineClass, "_diffusers_version": "0.42.1",
      "unet": ["diffusers", "UNet2DConditionModel"], "scheduler": ["diffusers", "LCMScheduler"],
      "safety_checker": [NSNull(), NSNull()], "feature_extractor": [NSNull(), NSNull()],
      "image_encoder": [NSNull(), NSNull()], "requires_safety_checker": false,
    ]
    for name in components(of: teacher) { index[name] = source[name] }
    if teacher.has("text_encoder_2") {
      // StableDiffusionXLPipeline's own keys (no safety checker or image encoder of SD's)
      for key in ["safety_checker", "requires_safety_checker"] { index.removeValue(forKey: key) }
      index["force_zeros_for_empty_prompt"] = source["force_zeros_for_empty_prompt"] ?? true
    }
    return index
  }

  /// Copies a folder, following symbolic links (a hub cache snapshot links to its blobs).
  static func copyFolder(_ source: String, to destination: String) throws {
    let fm = FileManager.default
    try fm.createDirectory(atPath: destination, withIntermediateDirectories: true)
    for name in try fm.contentsOfDirectory(atPath: source) {
      let from = URL(fileURLWithPath: "\(source)/\(name)").resolvingSymlinksInPath().path
      var isDir: ObjCBool = false
      guard fm.fileExists(atPath: from, isDirectory: &isDir) else { throw ConfigError("\(source)/\(name)", "a dangling link") }
      if isDir.boolValue {
        try copyFolder(from, to: "\(destination)/\(name)")
      } else {
        try fm.copyItem(atPath: from, toPath: "\(destination)/\(name)")
      }
    }
  }

  static func writeJSON(_ object: [String: Any], to path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    try data.write(to: URL(fileURLWithPath: path))
  }
}
