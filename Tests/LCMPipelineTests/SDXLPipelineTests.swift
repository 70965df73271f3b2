import Foundation
import SafeTensors
import Testing
import Torch

@testable import LCMPipeline

/// Tiny SDXL-like pipelines (two text encoders, the second with projection; `text_time` added
/// conditions; a transformer_layers_per_block list) made and run through diffusers'
/// StableDiffusionXLPipeline + LCMScheduler by scripts/fixtures/make_sdxl_pipeline_fixtures.py
/// (live). Images must agree within 2/255.
@Suite("SDXL pipelines match diffusers", .serialized)
struct SDXLPipelineTests {
  static let made = LiveFixture.make("scripts/fixtures/make_sdxl_pipeline_fixtures.py", name: "sdxl")
  let prompts = ["a photo of a cat", "an oil painting of a lighthouse at dusk"]

  func check(_ images: Tensor, _ key: String) throws {
    let want = try Tensor.load(key, from: try SafeTensorsFile(path: "\(try Self.made.get())/expected.safetensors"))
    let got = try PipelineImages.rgbImages(images)
    #expect(want.size(0) == got.count)
    let flat = try Tensor(got.flatMap(\.pixels), shape: want.shape)
    let diff = try (flat.to(.int32) - want.to(.int32)).abs().amax().itemInt()
    #expect(diff <= 2, "\(key): max pixel difference \(diff)/255")
    #expect(try want.to(.float32).std().item() > 1, "\(key): the fixture image is flat")
  }

  func options(guidance: Double, seed: UInt64) -> StableDiffusionPipeline.Options {
    var o = StableDiffusionPipeline.Options(prompts: prompts)
    (o.numInferenceSteps, o.guidanceScale, o.height, o.width, o.seed) = (4, guidance, 32, 32, seed)
    return o
  }

  /// A base SDXL UNet with LCMScheduler at guidance 1 (how an LCM-LoRA runs): no CFG.
  @Test func baseWithoutGuidance() throws {
    let pipe = try StableDiffusionPipeline("\(try Self.made.get())/sdxl")
    #expect(pipe.textEncoder2 != nil)
    try check(pipe(options(guidance: 1, seed: 0)), "base_g1")
  }

  /// CFG with force_zeros_for_empty_prompt: the negatives are zeros, not the encoded "".
  @Test func baseCFGWithZeroNegatives() throws {
    let pipe = try StableDiffusionPipeline("\(try Self.made.get())/sdxl")
    try check(pipe(options(guidance: 2, seed: 1)), "base_cfg_zeros")
  }

  @Test func baseCFGWithNegativePrompts() throws {
    let pipe = try StableDiffusionPipeline("\(try Self.made.get())/sdxl")
    var o = options(guidance: 2, seed: 2)
    o.negativePrompts = ["blurry", ""]
    try check(pipe(o), "base_cfg_negative")
  }

  /// An LCM SDXL UNet (guidance embedding) in StableDiffusionXLPipeline: w embedded, no CFG.
  @Test func lcmUNet() throws {
    let pipe = try StableDiffusionPipeline("\(try Self.made.get())/sdxl_lcm")
    try check(pipe(options(guidance: 8, seed: 3)), "lcm_unet")
  }
}
