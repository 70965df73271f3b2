import Foundation
import SafeTensors
import Schedulers
import Testing
import Torch
import TorchNN

@testable import DiffusionModels
@testable import LCMTraining

/// One LCD step of the SDXL LoRA scripts, S4 (train_lcm_distill_lora_sdxl_wds.py) and S5
/// (train_lcm_distill_lora_sdxl.py), against their maths run with diffusers + peft by
/// scripts/fixtures/make_lcd_lora_sdxl_step_fixtures.py (live): LoRA r 4, alpha 8 on the default
/// targets, added conditions, zero unconditional embeddings, the teacher the UNet with adapters
/// off; loss, grad norm and adapters after AdamW. (S5 casts x_prev to the weights' dtype, fp32
/// here, where swift-lcm keeps S1–S4's float64: equal at the tolerance.)
@Suite("one SDXL LoRA LCD step matches the scripts", .serialized)
struct LoRASDXLStepTests {
  static let made = LiveFixture.make("scripts/fixtures/make_lcd_lora_sdxl_step_fixtures.py", name: "lora-sdxl-step")

  func maxAbsDiff(_ a: Tensor, _ b: Tensor) throws -> Double { try (a.to(.float64) - b.to(.float64)).abs().amax().item() }

  @Test(arguments: ["s4", "s5"])
  func step(script: String) throws {
    let dir = try Self.made.get()
    let fx = try SafeTensorsFile(path: "\(dir)/lora_sdxl_step.safetensors")
    func t(_ k: String) throws -> Tensor { try Tensor.load("\(script).\(k)", from: fx) }
    let unet = try UNet2DConditionModel.load(folder: "\(dir)/teacher")
    var settings = LoRASettings()
    (settings.rank, settings.alpha) = (4, 8)
    let method = try LoRADistillation(unet: unet, settings: settings, generator: nil)
    #expect(fx.keys.filter { $0.hasPrefix("\(script).init.") }.count == 2 * method.adapters.count)
    for (module, a) in method.adapters {
      _ = try Torch.noGrad {
        try a.down.tensor.copy_(t("init.\(module).lora_A.weight"))
        try a.up.tensor.copy_(t("init.\(module).lora_B.weight"))
      }
    }
    var sc = DDPMSchedulerConfig()
    (sc.betaSchedule, sc.betaStart, sc.betaEnd) = (.scaledLinear, 0.00085, 0.012)
    let lcd = try LatentConsistencyDistillation(method: method, noiseScheduler: DDPMScheduler(config: sc), config: LCDConfig())
    let opt = try AdamW(method.trainableParameters, lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8, weightDecay: 1e-2)

    let prompt = try t("prompt_embeds"), pooled = try t("text_embeds"), timeIds = try t("time_ids")
    let conditioning = Conditioning(promptEmbeds: prompt, addedConditions: .init(textEmbeds: pooled, timeIds: timeIds))
    let unconditional = Conditioning(
      promptEmbeds: try prompt.zerosLike(), addedConditions: .init(textEmbeds: try pooled.zerosLike(), timeIds: timeIds))
    let r = LCDRandomness(index: try t("index"), noise: try t("noise"), w: try t("w"))
    let out = try lcd.loss(latents: t("latents"), conditioning: conditioning, unconditional: unconditional, randomness: r)
    #expect(try maxAbsDiff(out.xPrev, t("x_prev")) < 1e-5)
    let scale = { (k: String) throws -> Double in max(1, try t(k).abs().amax().item()) }
    #expect(try maxAbsDiff(out.target, t("target")) < 1e-5 * scale("target"))
    #expect(try maxAbsDiff(out.modelPred, t("model_pred")) < 1e-5 * scale("model_pred"))
    let expectedLoss = try t("loss").item()
    #expect(try Swift.abs(out.loss.item() - expectedLoss) <= 1e-6 + 1e-5 * Swift.abs(expectedLoss))
    try out.loss.backward()
    let norm = try clipGradNorm_(method.trainableParameters.map(\.tensor), maxNorm: 1.0).item()
    let expectedNorm = try t("grad_norm").item()
    #expect(Swift.abs(norm - expectedNorm) <= 1e-5 * expectedNorm, "grad norm \(norm) vs \(expectedNorm)")
    try checkAdaptersAfterStep(method, optimizer: opt, fixture: t, minimumCompared: 500)
  }
}
