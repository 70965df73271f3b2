import Foundation
import ImageCodecs
import LCMEval
import TestSupport
import Testing

/// `lcm eval` on the tiny fixture pipelines (random weights: the scores are low, the mechanics are
/// what is checked): the JSON's fields per sampler, images and prompts.jsonl as documented, each
/// sampler's image the one `lcm generate` gives for that prompt and seed (the same initial noise
/// for every sampler), and the metrics against numpy.
@Suite("lcm eval", .serialized)
struct EvalCommandTests {
  let base = "\(repoRoot)/Tests/Fixtures/pipeline/base"
  let lcmUNet = "\(repoRoot)/Tests/Fixtures/pipeline/lcm/unet"

  @Test func scoresImagesAndPromptListAsDocumented() throws {
    let tmp = try TempDir()
    let r = try runLCM(["eval", "--model", base, "--unet", lcmUNet, "--samplers", "ddim-4,lcm-1,lcm-2", "--num_prompts", "3",
                        "--output_json", tmp.path + "/eval.json", "--save_images", tmp.path + "/img", "--grid", tmp.path + "/grid.png"])
    #expect(r.status == 0, "\(r.output)")
    let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: tmp.path + "/eval.json"))) as? [String: [String: Any]])
    #expect(Set(json.keys) == ["ddim-4", "lcm-1", "lcm-2"], "the listed samplers (the reference only when listed)")
    for (_, scores) in json {
      for key in ["prompt_accuracy", "teacher_psnr", "diversity", "seconds_per_image", "teacher_mean_abs_diff"] { #expect(scores[key] is Double, "\(key)") }
      #expect(Set((scores["attribute_accuracy"] as? [String: Double] ?? [:]).keys) == ["shape", "color", "position", "size", "background"])
    }
    let lines = try String(contentsOfFile: tmp.path + "/img/prompts.jsonl", encoding: .utf8).split(separator: "\n")
    #expect(lines.count == 6, "3 prompts × 2 seeds")
    let first = try #require(try JSONSerialization.jsonObject(with: Data(lines[1].utf8)) as? [String: Any])
    #expect(first["index"] as? Int == 1 && first["seed"] as? Int == 1 && first["labels"] is [String: String])
    for sampler in ["ddim-50", "ddim-4", "lcm-1", "lcm-2"] {
      #expect(FileManager.default.fileExists(atPath: "\(tmp.path)/img/\(sampler)/0005.png"), "\(sampler)")
    }
    let grid = try ImageDecoder.decode(try [UInt8](Data(contentsOf: URL(fileURLWithPath: tmp.path + "/grid.png"))))
    #expect(grid.width == 4 * 32 && grid.height == 3 * 32, "\(grid.width)×\(grid.height)")
    // the same image `lcm generate` makes for prompt 0, seed 1: DDIM teacher and LCM student
    let prompt = try #require(first["prompt"] as? String)
    for (sampler, args) in [("ddim-4", ["--model", base, "--scheduler", "ddim", "--num_inference_steps", "4", "--guidance_scale", "7.5"]),
                            ("lcm-2", ["--model", base, "--unet", lcmUNet, "--num_inference_steps", "2", "--guidance_scale", "8"])] {
      let g = try runLCM(["generate"] + args + ["--prompt", prompt, "--seed", "1", "--output", tmp.path + "/g-\(sampler).png"])
      #expect(g.status == 0, "\(g.output)")
      let a = try ImageDecoder.decode(try [UInt8](Data(contentsOf: URL(fileURLWithPath: tmp.path + "/g-\(sampler).png"))))
      let b = try ImageDecoder.decode(try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(tmp.path)/img/\(sampler)/0001.png"))))
      #expect(a.pixels == b.pixels, "\(sampler): eval's image 1 is lcm generate's for its prompt and seed")
    }
  }

  /// An LCM-LoRA student: fused into the teacher's UNet, at guidance 1 (no CFG), as
  /// `lcm generate --lora --fuse_lora` samples it.
  @Test func loraStudentIsWhatGenerateDraws() throws {
    let tmp = try TempDir()
    let lora = "\(repoRoot)/Tests/Fixtures/pipeline/base_lcm_lora"
    let r = try runLCM(["eval", "--model", base, "--lora", lora, "--samplers", "lcm-2", "--reference", "ddim-4", "--num_prompts", "1",
                        "--seeds_per_prompt", "1", "--save_images", tmp.path + "/img"])
    #expect(r.status == 0, "\(r.output)")
    let prompt = try #require(try JSONSerialization.jsonObject(with: Data(try String(contentsOfFile: tmp.path + "/img/prompts.jsonl", encoding: .utf8).utf8)) as? [String: Any])["prompt"] as? String
    let g = try runLCM(["generate", "--model", base, "--lora", lora, "--fuse_lora", "--num_inference_steps", "2", "--guidance_scale", "1",
                        "--prompt", try #require(prompt), "--seed", "0", "--output", tmp.path + "/g.png"])
    #expect(g.status == 0, "\(g.output)")
    let a = try ImageDecoder.decode(try [UInt8](Data(contentsOf: URL(fileURLWithPath: tmp.path + "/g.png"))))
    let b = try ImageDecoder.decode(try [UInt8](Data(contentsOf: URL(fileURLWithPath: tmp.path + "/img/lcm-2/0000.png"))))
    #expect(a.pixels == b.pixels)
  }

  @Test func psnrAndMeanAbsDiffAgreeWithNumpy() throws {
    var g = SystemRandomNumberGenerator()
    let a = RGBImage(width: 8, height: 8, pixels: (0..<192).map { _ in UInt8.random(in: 0...255, using: &g) })
    var bp = a.pixels
    for i in stride(from: 0, to: 192, by: 3) { bp[i] = UInt8.random(in: 0...255, using: &g) }
    let b = RGBImage(width: 8, height: 8, pixels: bp)
    let r = try runCommand(pythonPath, ["-c", """
      import numpy as np
      a = np.array(\(a.pixels), dtype=np.float64); b = np.array(\(b.pixels), dtype=np.float64)
      print(10 * np.log10(255 ** 2 / np.mean((a - b) ** 2)), np.mean(np.abs(a - b)) / 255)
      """])
    let v = String(decoding: r.stdout, as: UTF8.self).split(separator: " ").compactMap { Double($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    #expect(v.count == 2 && abs(ShapesEvaluation.psnr(a, b) - v[0]) < 1e-9 && abs(ShapesEvaluation.meanAbsDiff(a, b) - v[1]) < 1e-12, "\(r.output)")
    #expect(ShapesEvaluation.psnr(a, a) == 100)
  }

  @Test func badInputIsOneLine() throws {
    let tmp = try TempDir()
    try "a cat on a sofa\n".write(toFile: tmp.path + "/p.txt", atomically: true, encoding: .utf8)
    for (args, message) in [(["--samplers", "ddim-50,euler-4"], "'euler-4' is not ddim-N or lcm-N"),
                            (["--prompt_file", tmp.path + "/p.txt"], "p.txt:1: 'a cat on a sofa' is not a shapes caption"),
                            (["--reference", "lcm-4"], "--reference must be a teacher sampler")] {
      let r = try runLCM(["eval", "--model", base] + args)
      let errors = r.output.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
      #expect(r.status != 0 && errors.count == 1 && errors[0].contains(message), "\(r.output)")
    }
  }
}
