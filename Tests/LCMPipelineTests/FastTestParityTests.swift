import Foundation
import ImageCodecs
import SafeTensors
import Testing
import Torch

@testable import LCMPipeline

/// The dummy models of diffusers' own LCM and Stable Diffusion fast tests (UNet (4, 8) with a
/// DownBlock2D first, norm_num_groups 2, default attention_head_dim 8; tokenizer folders as
/// transformers 5 writes them, tokenizer.json only), made and run through diffusers on this
/// machine by scripts/fixtures/make_fasttest_fixtures.py. Images must agree within 2/255.
@Suite("diffusers' fast-test models load and match", .serialized)
struct FastTestParityTests {
  static let made = LiveFixture.make("scripts/fixtures/make_fasttest_fixtures.py", name: "fasttest")
  let prompt = "A painting of a squirrel eating a burger"

  func check(_ images: Tensor, _ key: String) throws {
    let dir = try Self.made.get()
    let want = try Tensor.load(key, from: try SafeTensorsFile(path: "\(dir)/expected.safetensors"))
    let got = try PipelineImages.rgbImages(images)
    #expect(want.size(0) == got.count && want.size(1) == got[0].height && want.size(2) == got[0].width)
    let flat = try Tensor(got.flatMap(\.pixels), shape: want.shape)
    let diff = try (flat.to(.int32) - want.to(.int32)).abs().amax().itemInt()
    #expect(diff <= 2, "\(key): max pixel difference \(diff)/255")
    #expect(try want.to(.float32).std().item() > 1, "\(key): the fixture image is flat")
  }

  func initImage() throws -> Tensor {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(try Self.made.get())/init.png")))
    return try PipelineImages.tensor(ImageDecoder.decode(bytes))
  }

  /// LatentConsistencyModelPipeline at its default size (sample_size 32 × 2 = 64 px).
  @Test func lcmTextToImage() throws {
    let pipe = try StableDiffusionPipeline("\(try Self.made.get())/lcm")
    var o = StableDiffusionPipeline.Options(prompts: [prompt])
    (o.numInferenceSteps, o.guidanceScale, o.seed) = (2, 6.0, 0)
    try check(pipe(o), "lcm_t2i")
  }

  @Test func lcmImageToImage() throws {
    let pipe = try StableDiffusionPipeline("\(try Self.made.get())/lcm")
    var o = StableDiffusionPipeline.Options(prompts: [prompt])
    (o.numInferenceSteps, o.guidanceScale, o.strength, o.seed, o.initImage) = (4, 6.0, 0.5, 0, try initImage())
    try check(pipe(o), "lcm_i2i")
  }

  /// The teacher: StableDiffusionPipeline with DDIMScheduler and classifier-free guidance.
  @Test func ddimTeacher() throws {
    let pipe = try StableDiffusionPipeline("\(try Self.made.get())/sd")
    var o = StableDiffusionPipeline.Options(prompts: [prompt])
    (o.numInferenceSteps, o.guidanceScale, o.height, o.width, o.seed, o.scheduler) = (2, 6.0, 32, 32, 0, .ddim)
    try check(pipe(o), "ddim")
  }

  /// StableDiffusionPipeline with its scheduler swapped for LCMScheduler (how LCM-LoRA runs).
  @Test func baseUNetWithLCMScheduler() throws {
    let pipe = try StableDiffusionPipeline("\(try Self.made.get())/sd")
    var o = StableDiffusionPipeline.Options(prompts: [prompt])
    (o.numInferenceSteps, o.guidanceScale, o.height, o.width, o.seed) = (2, 1.0, 32, 32, 0)
    try check(pipe(o), "sd_lcm")
  }

  /// A base UNet's image-to-image follows StableDiffusionImg2ImgPipeline + LCMScheduler (the
  /// last 2 of 4 steps at strength 0.5: [499, 259]), not the LCM img2img pipeline's rule.
  @Test func baseUNetImageToImageWithLCMScheduler() throws {
    let pipe = try StableDiffusionPipeline("\(try Self.made.get())/sd")
    var o = StableDiffusionPipeline.Options(prompts: [prompt])
    (o.numInferenceSteps, o.guidanceScale, o.strength, o.seed, o.initImage) = (4, 1.0, 0.5, 0, try initImage())
    try check(pipe(o), "sd_lcm_i2i")
  }
}
