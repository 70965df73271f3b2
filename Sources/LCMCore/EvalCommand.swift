import ArgumentParser
import LCMTraining
import Foundation
import LCMEval
import LCMPipeline
import Torch

/// `lcm eval`: the shapes prompts through the teacher's DDIM and the student's LCM samplers,
/// scored by the shapes detector and against the teacher's 50-step images.
struct Eval: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval",
    abstract: "Score a teacher and its LCM student on the shapes prompts: prompt accuracy, teacher PSNR, diversity, speed.")

  @Option(name: .customLong("model"), help: "The teacher: a diffusers pipeline folder.") var model: String
  @Option(name: .customLong("unet"), help: "The student: a distilled UNet folder (unet_target/) run in the teacher's pipeline.") var unet: String?
  @Option(name: .customLong("lora"), help: "The student: an LCM-LoRA file or folder on the teacher's UNet.") var lora: String?
  @Option(name: .customLong("samplers"), help: "Comma-separated: ddim-N runs the teacher, lcm-N the student.")
  var samplers = "ddim-50,ddim-4,lcm-1,lcm-2,lcm-4,lcm-8"
  @Option(name: .customLong("reference"), help: "The teacher sampler the others are compared with.") var reference = "ddim-50"
  @Option(name: .customLong("prompt_file"), help: "JSON lines with \"prompt\" and \"labels\", or shapes captions (default: the 54 held-out prompts).")
  var promptFile: String?
  @Option(name: .customLong("num_prompts"), help: "Only the first N prompts.") var numPrompts: Int?
  @Option(name: .customLong("seeds_per_prompt"), help: "Images per prompt (seeds seed, seed+1, ...); 2 or more measure diversity.") var seedsPerPrompt = 2
  @Option(name: .customLong("seed")) var seed: UInt64 = 0
  @Option(name: .customLong("guidance_scale"), help: "The teacher's classifier-free guidance (DDIM samplers).") var guidanceScale = 7.5
  @Option(name: .customLong("student_guidance_scale"), help: "The student's w (an LCM UNet's guidance embedding; CFG when > 1 for an LCM-LoRA). Default 8, or 1 with --lora.")
  var studentGuidanceScale: Double?
  @Option(name: .customLong("resolution"), help: "Image side (default: the UNet's sample size × the VAE's factor).") var resolution: Int?
  @Option(name: .customLong("output_json"), help: "Write {sampler: scores} here.") var outputJSON: String?
  @Option(name: .customLong("save_images"), help: "Write DIR/<sampler>/NNNN.png and DIR/prompts.jsonl.") var saveImages: String?
  @Option(name: .customLong("grid"), help: "With --save_images: a comparison grid PNG (a row per prompt, a column per sampler).") var grid: String?
  @Option(name: .customLong("grid_rows")) var gridRows = 6
  @Option(name: .customLong("device")) var device = "cpu"

  var parsedSamplers: [ShapesEvaluation.Sampler] { samplers.split(separator: ",").compactMap { ShapesEvaluation.Sampler(String($0)) } }

  func validate() throws {
    let names = samplers.split(separator: ",").map(String.init)
    for name in names where ShapesEvaluation.Sampler(name) == nil {
      throw ValidationError("--samplers: '\(name)' is not ddim-N or lcm-N (N in 1...1000)")
    }
    guard ShapesEvaluation.Sampler(reference)?.kind == .ddim else { throw ValidationError("--reference must be a teacher sampler ddim-N, got '\(reference)'") }
    guard unet == nil || lora == nil else { throw ValidationError("give --unet or --lora, not both") }
    guard seedsPerPrompt >= 1, numPrompts.map({ $0 >= 1 }) ?? true else { throw ValidationError("--seeds_per_prompt and --num_prompts must be positive") }
    guard resolution.map({ $0 > 0 && $0 % 8 == 0 }) ?? true else { throw ValidationError("--resolution must be a positive multiple of 8") }
    guard Device(parsing: device) != nil else { throw ValidationError("--device must be cpu or cuda[:N], got '\(device)'") }
    guard grid == nil || saveImages != nil else { throw ValidationError("--grid needs --save_images (it is made from the saved images)") }
  }

  func run() throws {
    let dev = Device(parsing: device)!
    let teacher = try StableDiffusionPipeline(model, device: dev)
    var student = teacher
    if unet != nil || lora != nil {
      student = try StableDiffusionPipeline(model, device: dev, unetFolder: unet)
      if let lora { try student.unet.loadLoRA(path: lora, scale: 1, fuse: true) }
    }
    var settings = ShapesEvaluation.Settings(samplers: parsedSamplers, prompts: try ShapesEvaluation.prompts(file: promptFile, count: numPrompts))
    settings.reference = ShapesEvaluation.Sampler(reference)!
    (settings.seedsPerPrompt, settings.seed, settings.resolution, settings.saveImages) = (seedsPerPrompt, seed, resolution, saveImages)
    settings.teacherGuidance = guidanceScale
    settings.studentGuidance = studentGuidanceScale ?? (lora != nil ? 1 : 8)
    let count = settings.prompts.count * seedsPerPrompt
    let results = try ShapesEvaluation(teacher: teacher, student: student, settings: settings).run { name in
      print("\(name): \(count) images"); fflush(nil)
    }
    func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
    print(pad("sampler", 9) + " accuracy  shape  color  place  psnr dB diversity   s/image")
    for sampler in parsedSamplers.map(\.description) {
      guard let r = results[sampler] else { continue }
      let a = r.attributeAccuracy
      print(pad(sampler, 9) + String(format: " %8.3f %6.3f %6.3f %6.3f %8.2f %9.4f %9.3f", r.promptAccuracy, a["shape"] ?? 0, a["color"] ?? 0,
                   a["position"] ?? 0, r.teacherPSNR, r.diversity, r.secondsPerImage))
    }
    if let outputJSON {
      let object = Dictionary(uniqueKeysWithValues: results.map { ($0.key, $0.value.json) })
      let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
      try fileOperation("writing the scores", outputJSON) { try data.write(to: URL(fileURLWithPath: outputJSON), options: .atomic) }
      print("wrote \(outputJSON)")
    }
    if let grid, let saveImages {
      var columns = parsedSamplers.map(\.description)
      if !columns.contains(reference) { columns.insert(reference, at: 0) }
      let image = try ShapesEvaluation.grid(imagesDir: saveImages, samplers: columns, prompts: min(gridRows, settings.prompts.count), seedsPerPrompt: seedsPerPrompt)
      try image.writePNG(to: grid)
      print("wrote \(grid) (rows: prompts; columns: \(columns.joined(separator: ", ")))")
    }
  }
}
