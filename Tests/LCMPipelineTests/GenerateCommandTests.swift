import Foundation
import ImageCodecs
import SafeTensors
import Testing
import Torch
import TorchNN

/// `lcm generate` end to end (the debug binary that `swift build --build-tests` builds).
@Suite("lcm generate")
struct GenerateCommandTests {
  func lcm(_ args: [String]) throws -> (status: Int32, output: String) {
    let r = try runLCM(args)
    return (r.status, r.output)
  }

  @Test func writesDiffusersImagesWithMetadata() throws {
    let dir = NSTemporaryDirectory() + "gen-\(UInt32.random(in: 0...UInt32.max))"
    let r = try lcm(["generate", "--model", "\(pipelines)/lcm", "--prompt", "a photo of a cat", "--prompt",
                     "an oil painting of a lighthouse at dusk, highly detailed", "--num_inference_steps", "4",
                     "--guidance_scale", "8", "--height", "32", "--width", "32", "--seed", "0", "--output", dir])
    #expect(r.status == 0, "\(r.output)")
    let expected = try Tensor.load("lcm_t2i", from: SafeTensorsFile(path: "\(pipelines)/expected.safetensors")).to(.int32)
    for i in 0..<2 {
      let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/00\(i).png"))
      let image = try ImageDecoder.decode([UInt8](data))
      let got = try Tensor(image.pixels, shape: [32, 32, 3]).to(.int32)
      #expect(try (got - expected.select(dim: 0, index: i)).abs().amax().itemInt() <= 2)
      #expect(data.range(of: Data("tEXtseed\u{0}0".utf8)) != nil)
    }
    let first = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/000.png"))
    #expect(first.range(of: Data("tEXtprompt\u{0}a photo of a cat".utf8)) != nil)
  }

  @Test(arguments: [
    (["--model", "/nonexistent/model", "--prompt", "x"], "no such model folder"),
    (["--model", "\(pipelines)/lcm", "--prompt", "x", "--height", "30"], "--height must be a positive multiple of 8"),
    (["--model", "\(pipelines)/lcm", "--prompt", "x", "--lora", "\(repoRoot)/Tests/Fixtures/lora/kohya.safetensors"], "match no UNet module"),
    (["--model", "\(pipelines)/lcm"], "give --prompt"),
  ])
  func badInputIsOneLine(args: [String], message: String) throws {
    let r = try lcm(["generate"] + args)
    #expect(r.status != 0)
    let first = r.output.split(separator: "\n").first.map(String.init) ?? ""
    #expect(first.contains(message), "\(r.output)")
  }
}
