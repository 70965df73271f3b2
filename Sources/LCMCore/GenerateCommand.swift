import ArgumentParser
import Foundation
import DiffusionModels
import ImageCodecs
import LCMPipeline
import LCMTraining
import Torch

/// `lcm generate`: LCM text-to-image / image-to-image, LCM-LoRA on a base model, or the teacher's
/// DDIM sampler, as diffusers' pipelines run them.
struct Generate: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Generate images with an LCM (1-8 steps), an LCM-LoRA on a base model, or the teacher's DDIM sampler.")

  @Option(name: .customLong("model"), help: "A diffusers pipeline folder or a Hugging Face id in the local cache.")
  var model: String
  @Option(name: .customLong("unet"), help: "A UNet folder used instead of the pipeline's (e.g. a distilled unet_target/ in its teacher's pipeline).")
  var unet: String?
  @Option(name: .customLong("revision")) var revision: String?
  @Option(name: .customLong("variant"), help: "Weight file variant, e.g. fp16.") var variant: String?
  @Option(name: .customLong("prompt"), help: "A prompt (repeatable).") var prompt: [String] = []
  @Option(name: .customLong("prompt_file"), help: "A text file with one prompt per line.") var promptFile: String?
  @Option(name: .customLong("negative_prompt"), help: "Negative prompt(s) for classifier-free guidance (non-LCM UNets).")
  var negativePrompt: [String] = []
  @Option(name: .customLong("num_inference_steps")) var numInferenceSteps = 4
  @Option(name: .customLong("guidance_scale"), help: "LCM UNets: the guidance embedding's w; others: CFG when > 1.")
  var guidanceScale = 8.0
  @Option(name: .customLong("original_inference_steps")) var originalInferenceSteps: Int?
  @Option(name: .customLong("seed")) var seed: UInt64 = 0
  @Option(name: .customLong("height")) var height: Int?
  @Option(name: .customLong("width")) var width: Int?
  @Option(name: .customLong("num_images_per_prompt")) var numImagesPerPrompt = 1
  @Option(name: .customLong("output"), help: "Output folder for PNGs, or a .png file (several images: numbered siblings; one grid with --grid).") var output = "outputs"
  @Flag(name: .customLong("grid"), help: "Write all images as one grid PNG.") var grid = false
  @Option(name: .customLong("device")) var device = "cpu"
  @Option(name: .customLong("dtype"), help: "float32, float16 or bfloat16.") var dtype = "float32"
  @Option(name: .customLong("lora"), help: "A LoRA / LCM-LoRA file or folder (diffusers/PEFT or kohya format).") var lora: String?
  @Option(name: .customLong("lora_scale")) var loraScale = 1.0
  @Flag(name: .customLong("fuse_lora"), help: "Merge the LoRA into the UNet weights.") var fuseLora = false
  @Option(name: .customLong("init_image"), help: "img2img: the starting image (PNG, JPEG, WebP).") var initImage: String?
  @Option(name: .customLong("strength"), help: "img2img: how far the image is noised (default 0.8, 0.3 for SDXL as its img2img pipeline).")
  var strength: Double?
  @Option(name: .customLong("scheduler"), help: "lcm, or ddim for the teacher's sampler.") var scheduler = "lcm"

  func validate() throws {
    guard numInferenceSteps > 0 else { throw ValidationError("--num_inference_steps must be positive") }
    guard numImagesPerPrompt > 0 else { throw ValidationError("--num_images_per_prompt must be positive") }
    if let height, height % 8 != 0 || height <= 0 { throw ValidationError("--height must be a positive multiple of 8, got \(height)") }
    if let width, width % 8 != 0 || width <= 0 { throw ValidationError("--width must be a positive multiple of 8, got \(width)") }
    if let strength, !(strength > 0 && strength <= 1) { throw ValidationError("--strength must be in (0, 1], got \(strength)") }
    guard Device(parsing: device) != nil else { throw ValidationError("--device must be cpu or cuda[:N], got '\(device)'") }
    guard [DType.float32, .float16, .bfloat16].contains(DType(name: dtype)) else {
      throw ValidationError("--dtype must be float32, float16 or bfloat16, got '\(dtype)'")
    }
    guard StableDiffusionPipeline.SchedulerKind(rawValue: scheduler) != nil else {
      throw ValidationError("--scheduler must be lcm or ddim, got '\(scheduler)'")
    }
    guard !prompt.isEmpty || promptFile != nil else { throw ValidationError("give --prompt (repeatable) or --prompt_file") }
    if grid && !output.hasSuffix(".png") { throw ValidationError("--grid needs --output ending in .png") }
  }

  func run() throws {
    let log = Log.logger("lcm.generate")
    var prompts = prompt
    if let promptFile {
      guard let text = try? String(contentsOfFile: promptFile, encoding: .utf8) else {
        throw ValidationError("\(promptFile): cannot read the prompt file")
      }
      prompts += text.split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
    }
    let dev = Device(parsing: device)!
    let pipe = try StableDiffusionPipeline(model, revision: revision, device: dev, dtype: DType(name: dtype)!, variant: variant, unetFolder: unet)
    if let lora {
      // a file or folder, else a hub id in the local cache (latent-consistency/lcm-lora-sdv1-5)
      let path = FileManager.default.fileExists(atPath: lora) ? lora : try ModelLocator.resolve(lora)
      try pipe.unet.loadLoRA(path: path, scale: loraScale, fuse: fuseLora)
    }
    var o = StableDiffusionPipeline.Options(prompts: prompts)
    o.negativePrompts = negativePrompt.isEmpty ? nil
      : negativePrompt.count == 1 ? Array(repeating: negativePrompt[0], count: prompts.count) : negativePrompt
    (o.height, o.width, o.numInferenceSteps, o.originalInferenceSteps) = (height, width, numInferenceSteps, originalInferenceSteps)
    (o.guidanceScale, o.numImagesPerPrompt, o.seed) = (guidanceScale, numImagesPerPrompt, seed)
    o.strength = strength ?? (pipe.isSDXL ? 0.3 : 0.8)
    o.scheduler = StableDiffusionPipeline.SchedulerKind(rawValue: scheduler)!
    if let initImage {
      guard let data = FileManager.default.contents(atPath: initImage) else { throw ValidationError("\(initImage): cannot read the image") }
      let image = try ImageDecoder.decode([UInt8](data))
      guard image.width % 8 == 0, image.height % 8 == 0 else {
        throw ValidationError("\(initImage): \(image.width)×\(image.height) is not a multiple of 8 on both sides")
      }
      o.initImage = try PipelineImages.tensor(image)
    }
    let start = BenchClock.now()
    let images = try PipelineImages.rgbImages(pipe(o))
    for w in pipe.warnings { log.warning("\(w)") }
    let elapsed = BenchClock.now() - start
    let meta: [(String, String)] = [
      ("prompt", ""), ("seed", "\(seed)"), ("steps", "\(numInferenceSteps)"), ("guidance_scale", "\(guidanceScale)"),
      ("model", model), ("scheduler", scheduler), ("software", "swift-lcm \(LCM.version)"),
    ]
    if grid {
      let cols = Int(Double(images.count).squareRoot().rounded(.up))
      try PNGText.write(RGBImage.grid(images, columns: cols), to: output, text: meta.filter { $0.0 != "prompt" } + [("prompt", prompts.joined(separator: " | "))])
      print("wrote \(output) (\(images.count) images) in \(BenchClock.fmt(elapsed)) s")
      return
    }
    // a .png path is that file (several images: numbered siblings out-000.png, ...); else a folder
    let toFile = output.lowercased().hasSuffix(".png")
    let parent = toFile ? (output as NSString).deletingLastPathComponent : output
    if !parent.isEmpty {
      try fileOperation("creating the output folder", parent) { try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true) }
    }
    for (i, image) in images.enumerated() {
      let p = prompts[i / numImagesPerPrompt]
      let number = String(format: "%03d", i)
      let path = !toFile ? "\(output)/\(number).png"
        : images.count == 1 ? output : "\((output as NSString).deletingPathExtension)-\(number).png"
      try PNGText.write(image, to: path, text: meta.map { $0.0 == "prompt" ? ("prompt", p) : $0 })
      print(path)
    }
    print("generated \(images.count) images in \(BenchClock.fmt(elapsed)) s")
  }
}
