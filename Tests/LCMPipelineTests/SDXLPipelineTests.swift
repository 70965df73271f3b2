import Foundation
import ImageCodecs
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

  func initImage() throws -> Tensor {
    let bytes = try #require(FileManager.default.contents(atPath: "\(try Self.made.get())/init.png"))
    return try PipelineImages.tensor(try ImageDecoder.decode([UInt8](bytes)))
  }

  /// StableDiffusionXLImg2ImgPipeline + LCMScheduler: the strength-cut schedule for base and LCM
  /// UNets alike, time_ids from the image's size.
  @Test(arguments: [("sdxl", 1.0, 0.5, UInt64(4), "img2img_base"), ("sdxl_lcm", 8.0, 0.75, UInt64(5), "img2img_lcm")])
  func imageToImage(folder: String, guidance: Double, strength: Double, seed: UInt64, key: String) throws {
    let pipe = try StableDiffusionPipeline("\(try Self.made.get())/\(folder)")
    var o = options(guidance: guidance, seed: seed)
    (o.height, o.width, o.initImage, o.strength) = (nil, nil, try initImage(), strength)
    try check(pipe(o), key)
  }

  /// An LCM-LoRA-style adapter saved by StableDiffusionXLPipeline.save_lora_weights, on the base.
  @Test func loraOnTheBase() throws {
    let pipe = try StableDiffusionPipeline("\(try Self.made.get())/sdxl")
    try pipe.unet.loadLoRA(path: "\(try Self.made.get())/lora/pytorch_lora_weights.safetensors")
    try check(pipe(options(guidance: 1, seed: 6)), "lora_g1")
  }

  /// fp16 with the VAE's force_upcast (SDXL's VAE sets it): the VAE stays fp32, the rest fp16.
  @Test func forceUpcastKeepsTheVAEInFloat32() throws {
    let pipe = try StableDiffusionPipeline("\(try Self.made.get())/sdxl", dtype: .float16)
    #expect(pipe.vae.config.forceUpcast)
    #expect(pipe.vae.store.parameters.allSatisfy { $0.tensor.dtype == .float32 })
    #expect(pipe.unet.store.parameters.allSatisfy { $0.tensor.dtype == .float16 })
  }
}
