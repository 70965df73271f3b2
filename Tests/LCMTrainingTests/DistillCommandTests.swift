import Foundation
import ImageCodecs
import Testing
import Torch

/// `lcm distill` end to end on the tiny fixture pipeline and an image folder made here.
@Suite("lcm distill", .serialized)
struct DistillCommandTests {
  func lcm(_ args: [String]) throws -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "\(repoRoot)/.build/debug/lcm")
    p.arguments = args
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    return (p.terminationStatus, out)
  }

  func imageFolder() throws -> String {
    let dir = NSTemporaryDirectory() + "imgs-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    var rng = SystemRandomNumberGenerator()
    for i in 0..<6 {
      let (w, h) = (40 + 4 * i, 48)
      let image = RGBImage(width: w, height: h, pixels: (0..<(w * h * 3)).map { _ in UInt8.random(in: 0...255, using: &rng) })
      try image.writePNG(to: "\(dir)/\(i).png")
      try "a photo number \(i)".write(toFile: "\(dir)/\(i).txt", atomically: true, encoding: .utf8)
    }
    return dir
  }

  func losses(_ output: String) -> [String] {
    output.split(separator: "\n").filter { $0.hasPrefix("step ") }.map { String($0.split(separator: " ")[3]) }
  }

  @Test func stopAndResumeGivesTheSameLossCurve() throws {
    let images = try imageFolder()
    let out = NSTemporaryDirectory() + "distill-\(UInt32.random(in: 0...UInt32.max))"
    let common = ["distill", "--pretrained_teacher_model", "\(repoRoot)/Tests/Fixtures/pipeline/base", "--train_data_dir", images,
                  "--resolution", "16", "--train_batch_size", "2", "--unet_time_cond_proj_dim", "8", "--lr_warmup_steps", "0",
                  "--checkpointing_steps", "2", "--seed", "3"]
    let straight = try lcm(common + ["--max_train_steps", "4", "--output_dir", out + "/a"])
    #expect(straight.status == 0, "\(straight.output)")
    let part = try lcm(common + ["--max_train_steps", "2", "--output_dir", out + "/b"])
    let rest = try lcm(common + ["--max_train_steps", "4", "--output_dir", out + "/b", "--resume_from_checkpoint", "latest"])
    #expect(rest.output.contains("resumed from \(out)/b/checkpoint-2 at step 2"), "\(rest.output)")
    #expect(losses(straight.output).count == 4)
    #expect(losses(straight.output) == losses(part.output) + losses(rest.output))
    // TensorBoard (read by the tensorboard package) has the same losses; the run config is saved
    let python = ProcessInfo.processInfo.environment["SWIFT_LCM_PYTHON"] ?? "\(NSHomeDirectory())/.cache/swift-lcm/py/bin/python"
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = ["\(repoRoot)/scripts/fixtures/read_tensorboard.py", out + "/a/logs"]
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    let scalars = try JSONSerialization.jsonObject(with: data) as! [String: [[Double]]]
    #expect(scalars["loss"]?.map { Float($0[1]) } == losses(straight.output).map { Float($0)! })
    #expect(Set(scalars.keys).isSuperset(of: ["loss", "lr", "grad_norm", "samples_per_second", "skipped_samples"]))
    #expect(FileManager.default.fileExists(atPath: out + "/a/run_config.json"))
    for name in ["unet", "unet_target"] {
      #expect(FileManager.default.fileExists(atPath: "\(out)/b/\(name)/diffusion_pytorch_model.safetensors"))
    }
  }

  @Test(arguments: [
    (["--train_data_dir", "/x", "--train_shards_path_or_url", "/y"], "exactly one of"),
    (["--train_data_dir", "/x", "--resolution", "100"], "multiple of 8"),
    (["--train_data_dir", "/x", "--loss_type", "l1"], "--loss_type must be l2 or huber"),
  ])
  func badFlags(args: [String], message: String) throws {
    let r = try lcm(["distill", "--pretrained_teacher_model", "x"] + args)
    #expect(r.status != 0)
    #expect(r.output.split(separator: "\n").first?.contains(message) == true, "\(r.output)")
  }
}
