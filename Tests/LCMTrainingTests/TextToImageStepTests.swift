import Foundation
import SafeTensors
import Schedulers
import Testing
import Torch
import TorchNN

@testable import DiffusionModels
@testable import LCMTraining

// Expected values: scripts/fixtures/make_text_to_image_step_fixtures.py — two steps of
// train_text_to_image.py's maths (fp32, CPU) on the tiny SD1-like UNet, with diffusers'
// compute_snr and EMAModel, the random draws given as data.
@Suite("one text-to-image step matches train_text_to_image.py", .serialized)
struct TextToImageStepTests {
  let fx = try! SafeTensorsFile(path: "\(repoRoot)/Tests/Fixtures/t2i/step.safetensors")

  func t(_ k: String) throws -> Tensor { try Tensor.load(k, from: fx) }

  func maxAbsDiff(_ a: Tensor, _ b: Tensor) throws -> Double { try (a.to(.float64) - b.to(.float64)).abs().amax().item() }

  @Test(arguments: [("epsilon", nil, 0.0), ("epsilon_snr_offset", 5.0, 0.1), ("v_snr", 5.0, 0.0)] as [(String, Double?, Double)])
  func twoStepsWithEMA(tag: String, snrGamma: Double?, noiseOffset: Double) throws {
    let unet = try UNet2DConditionModel.load(folder: "\(repoRoot)/Tests/Fixtures/unet/sd1")
    var sc = DDPMSchedulerConfig()
    (sc.betaSchedule, sc.betaStart, sc.betaEnd) = (.scaledLinear, 0.00085, 0.012)
    var c = TextToImageConfig()
    (c.predictionType, c.snrGamma, c.noiseOffset, c.useEMA) = (tag.hasPrefix("v") ? .vPrediction : .epsilon, snrGamma, noiseOffset, true)
    let training = try TextToImageTraining(unet: unet, noiseScheduler: DDPMScheduler(config: sc), config: c)
    let params = training.trainableParameters
    let opt = try AdamW(params, lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8, weightDecay: 1e-2)
    for step in 0..<2 {
      let p = "\(tag).\(step)"
      let r = TextToImageRandomness(noise: try t("\(p).noise"), offsetNoise: noiseOffset != 0 ? try t("\(p).offset") : nil, timesteps: try t("\(p).timesteps"))
      let loss = try training.loss(latents: t("\(p).latents"), conditioning: Conditioning(promptEmbeds: t("\(p).embeds")), randomness: r)
      let (got, expected) = (try loss.item(), try t("\(p).loss").item())
      #expect(Swift.abs(got - expected) <= 1e-6 + 1e-5 * Swift.abs(expected), "step \(step) loss \(got) vs \(expected)")
      try loss.backward()
      let norm = try clipGradNorm_(params.map(\.tensor), maxNorm: 1.0).item()
      let expectedNorm = try t("\(p).grad_norm").item()
      #expect(Swift.abs(norm - expectedNorm) <= 1e-5 * expectedNorm, "step \(step) grad norm \(norm) vs \(expectedNorm)")
      try opt.step()
      try opt.zeroGrad()
      try training.afterStep()
      for key in ["conv_in.weight", "down_blocks.0.attentions.0.proj_in.weight", "conv_out.bias"] {
        #expect(try maxAbsDiff(unet.store[key]!.tensor, t("\(p).unet.\(key)")) < 1e-6, "step \(step) unet \(key)")
        #expect(try maxAbsDiff(training.ema!.store[key]!.tensor, t("\(p).ema.\(key)")) < 1e-6, "step \(step) EMA \(key)")
      }
    }
  }

  @Test func emaDecayIsEMAModels() {
    // get_decay(n): 0 at the first update, then (1 + s) / (10 + s) with s = n - 1, capped
    #expect(TextToImageTraining.emaDecay(update: 1, maxDecay: 0.9999) == 0)
    #expect(TextToImageTraining.emaDecay(update: 2, maxDecay: 0.9999) == 2.0 / 11.0)
    #expect(TextToImageTraining.emaDecay(update: 1_000_000, maxDecay: 0.9999) == 0.9999)
  }
}
