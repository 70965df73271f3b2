@_exported import TestSupport
import Foundation
import ImageCodecs
import SafeTensors
import Testing
import Torch
import TorchNN

@testable import LCMPipeline

let pipelines = "\(repoRoot)/Tests/Fixtures/pipeline"

// Expected images: scripts/fixtures/make_pipeline_fixtures.py — diffusers' pipelines on the CPU with
// torch.Generator("cpu").manual_seed(seed), uint8. fp32 images must agree within 2/255.
@Suite("pipelines match diffusers' images", .serialized)
struct PipelineParityTests {
  let expected = try! SafeTensorsFile(path: "\(pipelines)/expected.safetensors")
  let prompts = ["a photo of a cat", "an oil painting of a lighthouse at dusk, highly detailed"]

  func check(_ images: Tensor, _ key: String) throws {
    let got = try PipelineImages.rgbImages(images)
    let want = try Tensor.load(key, from: expected)
    #expect(want.size(0) == got.count)
    let flat = try Tensor(got.flatMap(\.pixels), shape: want.shape)
    let diff = try (flat.to(.int32) - want.to(.int32)).abs().amax().itemInt()
    #expect(diff <= 2, "\(key): max pixel difference \(diff)/255")
    #expect(try want.to(.float32).std().item() > 1, "\(key): the fixture image is flat")
  }

  @Test func lcmTextToImage() throws {
    let pipe = try StableDiffusionPipeline("\(pipelines)/lcm")
    var o = StableDiffusionPipeline.Options(prompts: prompts)
    (o.numInferenceSteps, o.guidanceScale, o.height, o.width, o.seed) = (4, 8.0, 32, 32, 0)
    try check(pipe(o), "lcm_t2i")
  }

  @Test func lcmImagesPerPromptAndOriginalSteps() throws {
    let pipe = try StableDiffusionPipeline("\(pipelines)/lcm")
    var o = StableDiffusionPipeline.Options(prompts: [prompts[0]])
    (o.numInferenceSteps, o.guidanceScale, o.height, o.width, o.seed) = (2, 3.0, 24, 40, 7)
    (o.numImagesPerPrompt, o.originalInferenceSteps) = (2, 20)
    try check(pipe(o), "lcm_t2i_2each")
  }

  @Test func lcmImageToImage() throws {
    let pipe = try StableDiffusionPipeline("\(pipelines)/lcm")
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(pipelines)/init.png")))
    var o = StableDiffusionPipeline.Options(prompts: [prompts[1]])
    (o.numInferenceSteps, o.guidanceScale, o.strength, o.seed) = (4, 8.0, 0.5, 11)
    o.initImage = try PipelineImages.tensor(ImageDecoder.decode(bytes))
    try check(pipe(o), "lcm_i2i")
  }

  @Test func teacherDDIMWithGuidance() throws {
    let pipe = try StableDiffusionPipeline("\(pipelines)/base")
    var o = StableDiffusionPipeline.Options(prompts: prompts)
    (o.numInferenceSteps, o.guidanceScale, o.height, o.width, o.seed, o.scheduler) = (10, 7.5, 32, 32, 1, .ddim)
    o.negativePrompts = ["blurry", ""]
    try check(pipe(o), "ddim_cfg")
  }

  @Test(arguments: [false, true])
  func lcmLoRAOnBase(fused: Bool) throws {
    let pipe = try StableDiffusionPipeline("\(pipelines)/base")
    try pipe.unet.loadLoRA(path: "\(pipelines)/base_lcm_lora", fuse: fused)
    var o = StableDiffusionPipeline.Options(prompts: prompts)
    (o.numInferenceSteps, o.guidanceScale, o.height, o.width, o.seed) = (4, 1.0, 32, 32, 2)
    try check(pipe(o), fused ? "lcm_lora_fused" : "lcm_lora")
  }

  @Test func pngTextChunks() throws {
    let dir = NSTemporaryDirectory() + "png-\(UInt32.random(in: 0...UInt32.max))"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let image = RGBImage(width: 3, height: 2, pixels: Array(0..<18).map { UInt8($0 * 10) })
    try PNGText.write(image, to: "\(dir)/a.png", text: [("prompt", "a cat"), ("seed", "42")])
    let decoded = try ImageDecoder.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(dir)/a.png"))))
    #expect(decoded == image)
    let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/a.png"))
    #expect(data.range(of: Data("tEXtprompt\u{0}a cat".utf8)) != nil)
  }
}
