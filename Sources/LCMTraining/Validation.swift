import DiffusionModels
import Foundation
import ImageCodecs
import LCMPipeline
import Torch

/// log_validation of train_lcm_distill_sd_wds.py: the teacher pipeline with a distilled UNet and
/// LCMScheduler, 4 steps, 4 images per prompt, the SD pipeline's default guidance (7.5, embedded
/// as w = 6.5), under autocast in the run's mixed-precision dtype.
extension LCDTrainer {
  /// The script's four validation prompts.
  public static let scriptValidationPrompts = [
    "portrait photo of a girl, photograph, highly detailed face, depth of field, moody light, golden hour, style by Dan Winters, Russell James, Steve McCurry, centered, extremely detailed, Nikon D850, award winning photography",
    "Self-portrait oil painting, a beautiful cyborg with golden hair, 8k",
    "Astronaut in a jungle, cold color palette, muted colors, detailed, 8k",
    "A photo of beautiful mountain with realistic sunset and blue lake, highly detailed, masterpiece",
  ]

  /// train_lcm_distill_lora_sdxl.py's (S5) four validation prompts.
  public static let s5ValidationPrompts = [
    "cute sundar pichai character", "robotic cat with wings", "a photo of yoda", "a cute creature with blue eyes",
  ]

  public struct ValidationResult: Sendable {
    /// "target" (the EMA UNet) or "online" (the student).
    public let name: String
    public let prompt: String
    public let images: [RGBImage]
  }

  /// Images of the target then the online UNet for each prompt (`seed` + prompt index seeds each call).
  /// `progress` hears one line before each UNet × prompt (validation can take minutes).
  public func validationImages(
    prompts: [String], seed: UInt64, imagesPerPrompt: Int = 4, steps: Int? = nil, guidanceScale: Double? = nil,
    progress: ((String) -> Void)? = nil
  ) throws -> [ValidationResult] {
    let sampling = objective.validation
    let guidanceScale = guidanceScale ?? sampling.guidanceScale
    var results: [ValidationResult] = []
    let store = objective.trainingStore
    let wasTraining = store.isTraining
    store.isTraining = false
    defer { store.isTraining = wasTraining }
    for (name, unet) in sampling.unets {
      let pipe = try StableDiffusionPipeline(
        folder: pipelineFolder, tokenizer: tokenizer, textEncoder: textEncoder, unet: unet, vae: vae, device: config.device,
        dtype: config.mixedPrecision == nil ? .float32 : weightDType, tokenizer2: tokenizer2, textEncoder2: textEncoder2)
      for (i, prompt) in prompts.enumerated() {
        progress?("validation at step \(globalStep): \(name) UNet, prompt \(i + 1)/\(prompts.count), \(imagesPerPrompt) images")
        var o = StableDiffusionPipeline.Options(prompts: [prompt])
        (o.numInferenceSteps, o.numImagesPerPrompt, o.guidanceScale, o.seed) = (steps ?? sampling.steps, imagesPerPrompt, guidanceScale, seed &+ UInt64(i))
        o.scheduler = sampling.scheduler
        let images = try config.mixedPrecision.map { dt in try Torch.autocast(config.device.kind, dtype: dt) { try pipe(o) } } ?? pipe(o)
        results.append(ValidationResult(name: name, prompt: prompt, images: try PipelineImages.rgbImages(images)))
      }
    }
    return results
  }

  /// Runs validation and writes `validation/step-N-{target,online}.png` (one row of images per
  /// prompt) and one TensorBoard image per UNet and prompt; returns the grid paths.
  public func writeValidation(
    prompts: [String], seed: UInt64, board: TensorBoardWriter?, progress: ((String) -> Void)? = nil
  ) throws -> [String] {
    let results = try validationImages(prompts: prompts, seed: seed, progress: progress)
    let dir = "\(config.outputDir)/validation"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    var paths: [String] = []
    for name in objective.validation.unets.map(\.name) {
      let rows = results.filter { $0.name == name }
      let columns = rows.first?.images.count ?? 1
      let grid = RGBImage.grid(rows.flatMap(\.images), columns: columns)
      let path = "\(dir)/step-\(globalStep)-\(name).png"
      try PNGText.write(grid, to: path, text: [("step", "\(globalStep)"), ("unet", name), ("prompts", rows.map(\.prompt).joined(separator: "\n"))])
      paths.append(path)
      for row in rows {
        let strip = RGBImage.grid(row.images, columns: row.images.count)
        try board?.image("validation/\(name)/\(row.prompt)", png: try strip.pngData(), width: strip.width, height: strip.height, step: globalStep)
      }
    }
    try board?.flush()
    return paths
  }
}
