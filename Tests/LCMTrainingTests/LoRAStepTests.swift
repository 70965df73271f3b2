import Foundation
import SafeTensors
import Schedulers
import Testing
import Torch
import TorchNN

@testable import DiffusionModels
@testable import LCMTraining

/// One LCD step of train_lcm_distill_lora_sd_wds.py (S2) against its maths run with diffusers +
/// peft by scripts/fixtures/make_lcd_lora_step_fixtures.py (live): PEFT LoRA r 4, alpha 8 on the
/// script's default targets, the teacher a frozen copy (here the same UNet with adapters off),
/// the target the online LoRA model, no w-embedding; loss, grad norm, adapters after AdamW.
@Suite("one LoRA LCD step matches the script", .serialized)
struct LoRAStepTests {
  static let made = LiveFixture.make("scripts/fixtures/make_lcd_lora_step_fixtures.py", name: "lora-step")

  func maxAbsDiff(_ a: Tensor, _ b: Tensor) throws -> Double { try (a.to(.float64) - b.to(.float64)).abs().amax().item() }

  @Test(arguments: [("epsilon", "l2"), ("epsilon", "huber"), ("v_prediction", "huber")])
  func step(prediction: String, loss lossType: String) throws {
    let fx = try SafeTensorsFile(path: "\(try Self.made.get())/lora_step.safetensors")
    func t(_ k: String) throws -> Tensor { try Tensor.load(k, from: fx) }
    let tag = "\(prediction)_\(lossType)"
    let unet = try UNet2DConditionModel.load(folder: "\(repoRoot)/Tests/Fixtures/unet/sd1")
    var settings = LoRASettings()
    (settings.rank, settings.alpha) = (4, 8)
    let method = try LoRADistillation(unet: unet, settings: settings, generator: nil)
    // the fixture's starting adapters, by module
    let initKeys = fx.keys.filter { $0.hasPrefix("\(tag).init.") }
    #expect(initKeys.count == 2 * method.adapters.count, "\(initKeys.count) fixture tensors for \(method.adapters.count) adapters")
    for (module, a) in method.adapters {
      _ = try Torch.noGrad {
        try a.down.tensor.copy_(t("\(tag).init.\(module).lora_A.weight"))
        try a.up.tensor.copy_(t("\(tag).init.\(module).lora_B.weight"))
      }
    }
    var sc = DDPMSchedulerConfig()
    (sc.betaSchedule, sc.betaStart, sc.betaEnd) = (.scaledLinear, 0.00085, 0.012)
    sc.predictionType = prediction == "epsilon" ? .epsilon : .vPrediction
    var lc = LCDConfig()
    lc.lossType = lossType == "l2" ? .l2 : .huber
    let lcd = try LatentConsistencyDistillation(method: method, noiseScheduler: DDPMScheduler(config: sc), config: lc)
    let opt = try AdamW(method.trainableParameters, lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8, weightDecay: 1e-2)

    let r = LCDRandomness(index: try t("\(tag).index"), noise: try t("\(tag).noise"), w: try t("\(tag).w"))
    let out = try lcd.loss(
      latents: t("\(tag).latents"), promptEmbeds: t("\(tag).prompt_embeds"),
      uncondPromptEmbeds: t("\(tag).uncond_prompt_embeds"), randomness: r)
    #expect(try maxAbsDiff(out.xPrev, t("\(tag).x_prev")) < 1e-5)
    let scale = { (k: String) throws -> Double in max(1, try t(k).abs().amax().item()) }
    #expect(try maxAbsDiff(out.target, t("\(tag).target")) < 1e-5 * scale("\(tag).target"))
    #expect(try maxAbsDiff(out.modelPred, t("\(tag).model_pred")) < 1e-5 * scale("\(tag).model_pred"))
    let expectedLoss = try t("\(tag).loss").item()
    #expect(try Swift.abs(out.loss.item() - expectedLoss) <= 1e-6 + 1e-5 * Swift.abs(expectedLoss))
    try out.loss.backward()
    #expect(unet.store.parameters.allSatisfy { $0.tensor.grad == nil }, "the base UNet gets no gradients")
    let norm = try clipGradNorm_(method.trainableParameters.map(\.tensor), maxNorm: 1.0).item()
    let expectedNorm = try t("\(tag).grad_norm").item()
    #expect(Swift.abs(norm - expectedNorm) <= 1e-5 * expectedNorm, "grad norm \(norm) vs \(expectedNorm)")
    try checkAdaptersAfterStep(method, optimizer: opt, fixture: { try t("\(tag).\($0)") }, minimumCompared: 1000)
  }

  /// Adapters off is the base UNet exactly; B = 0 at the start leaves the output unchanged.
  @Test func teacherIsTheBaseAndFreshAdaptersChangeNothing() throws {
    let base = try UNet2DConditionModel.load(folder: "\(repoRoot)/Tests/Fixtures/unet/sd1")
    let unet = try UNet2DConditionModel.load(folder: "\(repoRoot)/Tests/Fixtures/unet/sd1")
    let method = try LoRADistillation(unet: unet, settings: LoRASettings(), generator: try Generator(seed: 1))
    let x = try Tensor.randn([1, 4, 8, 8]), t = try Tensor([Int64(500)]), e = try Tensor.randn([1, 5, 12])
    let reference = try Torch.noGrad { try base(x, timestep: t, encoderHiddenStates: e) }
    let c = Conditioning(promptEmbeds: e)
    #expect(try maxAbsDiff(Torch.noGrad { try method.student(x, timestep: t, conditioning: c, timestepCond: nil) }, reference) == 0)
    for (_, a) in method.adapters { _ = try Torch.noGrad { try a.up.tensor.fill_(0.05) } }
    let adapted = try Torch.noGrad { try method.student(x, timestep: t, conditioning: c, timestepCond: nil) }
    #expect(try maxAbsDiff(adapted, reference) > 1e-3)
    #expect(try maxAbsDiff(Torch.noGrad { try method.teacher(x, timestep: t, conditioning: c) }, reference) == 0)
    #expect(unet.store.adaptersEnabled)
    #expect(!unet.store.names.contains { $0.contains("lora") }, "adapters live in their own store, so saving the UNet writes none")
  }
}
