import Foundation
import ImageCodecs
import LCMPipeline
import SyntheticShapes
import Torch

/// `lcm eval`: how close a distilled student comes to its teacher on the shapes prompts. Every
/// sampler draws each (prompt, seed) from the same initial noise; each image is scored by the
/// shapes detector against the prompt's labels, and against the teacher's reference image (DDIM,
/// 50 steps by default) of the same prompt and seed; images of one prompt across seeds give the
/// diversity (a student that collapses to one picture scores low there).
public struct ShapesEvaluation {
  /// A sampler: the teacher under DDIM or the student under LCM, with a step count.
  public struct Sampler: Hashable, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable { case ddim, lcm }
    public var kind: Kind
    public var steps: Int

    /// "ddim-50", "lcm-4".
    public init?(_ text: String) {
      let parts = text.lowercased().split(separator: "-")
      guard parts.count == 2, let kind = Kind(rawValue: String(parts[0])), let steps = Int(parts[1]), (1...1000).contains(steps) else { return nil }
      (self.kind, self.steps) = (kind, steps)
    }

    public var description: String { "\(kind.rawValue)-\(steps)" }
  }

  public struct Prompt: Sendable {
    public var text: String
    public var labels: ShapeLabels
  }

  public struct Settings {
    public var samplers: [Sampler]
    public var reference = Sampler("ddim-50")!
    public var prompts: [Prompt]
    public var seedsPerPrompt = 2
    public var seed: UInt64 = 0
    /// The teacher's classifier-free guidance; the student's guidance (an LCM UNet's w embedding,
    /// or CFG for a base UNet with an LCM-LoRA when > 1).
    public var teacherGuidance = 7.5
    public var studentGuidance = 8.0
    public var resolution: Int?
    public var saveImages: String?

    public init(samplers: [Sampler], prompts: [Prompt]) { (self.samplers, self.prompts) = (samplers, prompts) }
  }

  public struct Scores: Sendable {
    public var promptAccuracy: Double
    public var attributeAccuracy: [String: Double]
    public var teacherPSNR: Double
    public var teacherMeanAbsDiff: Double
    public var diversity: Double
    public var secondsPerImage: Double

    public var json: [String: Any] {
      ["prompt_accuracy": promptAccuracy, "attribute_accuracy": attributeAccuracy, "teacher_psnr": teacherPSNR,
       "teacher_mean_abs_diff": teacherMeanAbsDiff, "diversity": diversity, "seconds_per_image": secondsPerImage]
    }
  }

  public let teacher: StableDiffusionPipeline
  public let student: StableDiffusionPipeline
  public let settings: Settings

  /// `student` may be the teacher itself (no --unet or --lora: the model is sampled both ways).
  public init(teacher: StableDiffusionPipeline, student: StableDiffusionPipeline, settings: Settings) {
    (self.teacher, self.student, self.settings) = (teacher, student, settings)
  }

  /// The held-out shapes prompts (the first `count`), or the prompts of a file: JSON lines with
  /// "prompt" and "labels", or plain captions of the data set's form.
  public static func prompts(file: String?, count: Int?) throws -> [Prompt] {
    var list: [Prompt]
    if let file {
      guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw EvalError("\(file): cannot read the prompt file") }
      list = []
      for (i, line) in text.split(whereSeparator: \.isNewline).enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
        if line.first == "{" {
          guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let prompt = object["prompt"] as? String else {
            throw EvalError("\(file):\(i + 1): a JSON line needs a \"prompt\"")
          }
          let labels = (object["labels"] as? [String: String]).flatMap { try? JSONDecoder().decode(ShapeLabels.self, from: JSONEncoder().encode($0)) }
            ?? ShapeLabels(caption: prompt)
          guard let labels else { throw EvalError("\(file):\(i + 1): no shapes labels for '\(prompt)' (give \"labels\" or a caption of the data set's form)") }
          list.append(Prompt(text: prompt, labels: labels))
        } else {
          guard let labels = ShapeLabels(caption: String(line)) else {
            throw EvalError("\(file):\(i + 1): '\(line)' is not a shapes caption (\"a small red triangle at the top left on a white background\")")
          }
          list.append(Prompt(text: String(line), labels: labels))
        }
      }
    } else {
      list = ShapeLabels.heldOut.map { Prompt(text: $0.caption, labels: $0) }
    }
    if let count { list = Array(list.prefix(count)) }
    guard !list.isEmpty else { throw EvalError("no prompts to evaluate") }
    return list
  }

  /// Image `index` of the run: prompt `index / seedsPerPrompt`, seed `seed + index`.
  func seed(_ index: Int) -> UInt64 { settings.seed &+ UInt64(index) }

  func generate(_ sampler: Sampler, prompt: String, seed: UInt64) throws -> RGBImage {
    let pipe = sampler.kind == .ddim ? teacher : student
    var o = StableDiffusionPipeline.Options(prompts: [prompt])
    (o.numInferenceSteps, o.seed, o.height, o.width) = (sampler.steps, seed, settings.resolution, settings.resolution)
    o.scheduler = sampler.kind == .ddim ? .ddim : .lcm
    o.guidanceScale = sampler.kind == .ddim ? settings.teacherGuidance : settings.studentGuidance
    return try PipelineImages.rgbImages(try pipe(o))[0]
  }

  /// Runs every sampler (the reference first); `progress` hears each sampler's name as it starts.
  public func run(progress: (String) -> Void = { _ in }) throws -> [String: Scores] {
    let s = settings
    let count = s.prompts.count * s.seedsPerPrompt
    var samplers = s.samplers.filter { $0 != s.reference }
    samplers.insert(s.reference, at: 0)
    var reference: [RGBImage] = []
    var results: [String: Scores] = [:]
    if let dir = s.saveImages { try writePromptList(dir) }
    for sampler in samplers {
      progress(sampler.description)
      var images: [RGBImage] = []
      let start = Date()
      for i in 0..<count { images.append(try generate(sampler, prompt: s.prompts[i / s.seedsPerPrompt].text, seed: seed(i))) }
      let seconds = Date().timeIntervalSince(start) / Double(count)
      if sampler == s.reference { reference = images }
      if let dir = s.saveImages {
        let folder = "\(dir)/\(sampler)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (i, image) in images.enumerated() { try image.writePNG(to: "\(folder)/\(String(format: "%04d", i)).png") }
      }
      guard s.samplers.contains(sampler) else { continue }
      results[sampler.description] = score(images, reference: reference, seconds: seconds)
    }
    return results
  }

  func score(_ images: [RGBImage], reference: [RGBImage], seconds: Double) -> Scores {
    let s = settings
    var right: [String: Int] = [:], allRight = 0
    for (i, image) in images.enumerated() {
      let m = ShapeDetector.detect(image).matches(s.prompts[i / s.seedsPerPrompt].labels)
      for (k, ok) in m where ok { right[k, default: 0] += 1 }
      if m.values.allSatisfy({ $0 }) { allRight += 1 }
    }
    let n = Double(images.count)
    let attributes = Dictionary(uniqueKeysWithValues: ["shape", "color", "position", "size", "background"].map { ($0, Double(right[$0, default: 0]) / n) })
    let diffs = zip(images, reference).map { Self.meanAbsDiff($0, $1) }
    let psnrs = zip(images, reference).map { Self.psnr($0, $1) }
    // diversity: the mean difference between the images of one prompt across its seeds
    var pairs = 0.0, spread = 0.0
    for p in 0..<s.prompts.count {
      let group = images[(p * s.seedsPerPrompt)..<((p + 1) * s.seedsPerPrompt)]
      for (a, x) in group.enumerated() { for y in group.dropFirst(a + 1) { spread += Self.meanAbsDiff(x, y); pairs += 1 } }
    }
    return Scores(
      promptAccuracy: Double(allRight) / n, attributeAccuracy: attributes,
      teacherPSNR: psnrs.reduce(0, +) / Double(max(psnrs.count, 1)), teacherMeanAbsDiff: diffs.reduce(0, +) / Double(max(diffs.count, 1)),
      diversity: pairs > 0 ? spread / pairs : 0, secondsPerImage: seconds)
  }

  /// Mean absolute difference of two images, in [0, 1].
  public static func meanAbsDiff(_ a: RGBImage, _ b: RGBImage) -> Double {
    var s = 0
    for (x, y) in zip(a.pixels, b.pixels) { s += abs(Int(x) - Int(y)) }
    return Double(s) / Double(max(a.pixels.count, 1)) / 255
  }

  /// Peak signal-to-noise ratio in dB (8-bit peak), capped at 100 for identical images.
  public static func psnr(_ a: RGBImage, _ b: RGBImage) -> Double {
    var s = 0.0
    for (x, y) in zip(a.pixels, b.pixels) { let d = Double(x) - Double(y); s += d * d }
    let mse = s / Double(max(a.pixels.count, 1))
    return mse == 0 ? 100 : min(100, 10 * log10(255 * 255 / mse))
  }

  func writePromptList(_ dir: String) throws {
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    var lines = ""
    for i in 0..<(settings.prompts.count * settings.seedsPerPrompt) {
      let p = settings.prompts[i / settings.seedsPerPrompt]
      let object: [String: Any] = ["index": i, "prompt": p.text, "seed": seed(i), "labels": p.labels.json]
      lines += String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self) + "\n"
    }
    try lines.write(toFile: "\(dir)/prompts.jsonl", atomically: true, encoding: .utf8)
  }

  /// A comparison grid from saved images: a row per prompt (its first seed), a column per sampler.
  public static func grid(imagesDir dir: String, samplers: [String], prompts: Int, seedsPerPrompt: Int) throws -> RGBImage {
    var images: [RGBImage] = []
    for p in 0..<prompts {
      for sampler in samplers {
        let path = "\(dir)/\(sampler)/\(String(format: "%04d", p * seedsPerPrompt)).png"
        guard let data = FileManager.default.contents(atPath: path) else { throw EvalError("\(path): missing") }
        images.append(try ImageDecoder.decode([UInt8](data)))
      }
    }
    return RGBImage.grid(images, columns: samplers.count)
  }
}

public struct EvalError: Error, CustomStringConvertible {
  public let description: String
  public init(_ d: String) { description = d }
}
