@_exported import TestSupport
import Foundation
import SafeTensors
import Schedulers
import Testing
import Torch
import TorchNN

@testable import DiffusionModels
@testable import LCMTraining


// Expected values: scripts/fixtures/make_lcd_step_fixtures.py — one step of
// train_lcm_distill_sd_wds.py's maths (fp32, CPU) on the tiny SD1-like teacher, with the random
// draws given as data: loss, grad norm, student weights after AdamW and the EMA target.
@Suite("one LCD step matches the script", .serialized)
struct LCDStepTests {
  let fx = try! SafeTensorsFile(path: "\(repoRoot)/Tests/Fixtures/lcd/step.safetensors")

  func t(_ k: String) throws -> Tensor { try Tensor.load(k, from: fx) }

  func maxAbsDiff(_ a: Tensor, _ b: Tensor) throws -> Double { try (a.to(.float64) - b.to(.float64)).abs().amax().item() }

  @Test(arguments: [("epsilon", "l2"), ("epsilon", "huber"), ("v_prediction", "huber")])
  func step(prediction: String, loss lossType: String) throws {
    let tag = "\(prediction)_\(lossType)"
    let folder = "\(repoRoot)/Tests/Fixtures/unet/sd1"
    let teacher = try UNet2DConditionModel.load(folder: folder)
    try teacher.store.setTrainable(false)
    // student: the teacher's config with time_cond_proj_dim, the teacher's weights, cond_proj as initialised
    var cfg = teacher.config
    cfg.timeCondProjDim = 8
    let studentStore = ParameterStore()
    let student = try UNet2DConditionModel(config: cfg, store: studentStore)
    let cp = "time_embedding.cond_proj.weight"
    try studentStore.load(Dictionary(uniqueKeysWithValues: teacher.store.stateDict()), source: folder, keepMissing: [cp])
    _ = try Torch.noGrad { try studentStore[cp]!.tensor.copy_(t("cond_proj_init")) }
    studentStore.isTraining = true
    let targetStore = ParameterStore()
    let target = try UNet2DConditionModel(config: cfg, store: targetStore)
    try targetStore.load(Dictionary(uniqueKeysWithValues: studentStore.stateDict()), source: "student")
    try targetStore.setTrainable(false)

    var sc = DDPMSchedulerConfig()
    (sc.betaSchedule, sc.betaStart, sc.betaEnd) = (.scaledLinear, 0.00085, 0.012)
    sc.predictionType = prediction == "epsilon" ? .epsilon : .vPrediction
    var lc = LCDConfig()
    lc.lossType = lossType == "l2" ? .l2 : .huber
    let lcd = try LatentConsistencyDistillation(
      teacher: teacher, student: student, target: target, noiseScheduler: DDPMScheduler(config: sc), config: lc)
    let opt = try AdamW(studentStore.trainableParameters, lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8, weightDecay: 1e-2)

    let r = LCDRandomness(index: try t("\(tag).index"), noise: try t("\(tag).noise"), w: try t("\(tag).w"))
    let out = try lcd.loss(
      latents: t("\(tag).latents"), promptEmbeds: t("\(tag).prompt_embeds"),
      uncondPromptEmbeds: t("\(tag).uncond_prompt_embeds"), randomness: r)
    #expect(out.xPrev.dtype == .float64)
    #expect(try maxAbsDiff(out.xPrev, t("\(tag).x_prev")) < 1e-5)
    let targetScale = try t("\(tag).target").abs().amax().item()
    let targetDiff = try maxAbsDiff(out.target, t("\(tag).target"))
    #expect(targetDiff < 1e-5 * max(1, targetScale), "target: max abs diff \(targetDiff) (|target| max \(targetScale))")
    #expect(try maxAbsDiff(out.modelPred, t("\(tag).model_pred")) < 1e-5 * max(1, try t("\(tag).model_pred").abs().amax().item()))
    let expectedLoss = try t("\(tag).loss").item()
    #expect(try Swift.abs(out.loss.item() - expectedLoss) <= 1e-6 + 1e-5 * Swift.abs(expectedLoss))
    try out.loss.backward()
    let norm = try clipGradNorm_(studentStore.trainableParameters.map(\.tensor), maxNorm: 1.0).item()
    let expectedNorm = try t("\(tag).grad_norm").item()
    #expect(Swift.abs(norm - expectedNorm) <= 1e-5 * expectedNorm, "grad norm \(norm) vs \(expectedNorm)")
    try opt.step()
    try opt.zeroGrad()
    try updateEMA(target: targetStore, source: studentStore, rate: 0.95)
    for key in ["conv_in.weight", cp, "down_blocks.0.attentions.0.proj_in.weight", "conv_out.bias"] {
      #expect(try maxAbsDiff(studentStore[key]!.tensor, t("\(tag).student.\(key)")) < 1e-6, "student \(key)")
      #expect(try maxAbsDiff(targetStore[key]!.tensor, t("\(tag).target.\(key)")) < 1e-6, "target \(key)")
    }
  }

  @Test func drawsAreInRange() throws {
    let teacher = try UNet2DConditionModel.load(folder: "\(repoRoot)/Tests/Fixtures/unet/lcm")
    let lcd = try LatentConsistencyDistillation(
      teacher: teacher, student: teacher, target: teacher, noiseScheduler: DDPMScheduler(), config: LCDConfig())
    let r = try lcd.draw(latents: Tensor.zeros([64, 4, 2, 2]), generator: Generator(seed: 3))
    let idx = try r.index.toArray(Int64.self), w = try r.w.floats()
    #expect(idx.allSatisfy { (0..<50).contains($0) } && Set(idx).count > 10)
    #expect(w.allSatisfy { $0 >= 5 && $0 < 15 })
    #expect(r.noise.shape == [64, 4, 2, 2])
  }

  /// --teacher_no_autocast: under bf16 autocast the teacher then computes in fp32, so the solver
  /// step x_prev (which only the teacher shapes) equals the all-fp32 step's, and differs from the
  /// autocast teacher's.
  @Test func teacherOutsideAutocast() throws {
    let tag = "epsilon_l2"
    let teacher = try UNet2DConditionModel.load(folder: "\(repoRoot)/Tests/Fixtures/unet/sd1")
    try teacher.store.setTrainable(false)
    var cfg = teacher.config
    cfg.timeCondProjDim = 8
    let studentStore = ParameterStore()
    let student = try UNet2DConditionModel(config: cfg, store: studentStore)
    try studentStore.load(Dictionary(uniqueKeysWithValues: teacher.store.stateDict()), source: "teacher", keepMissing: ["time_embedding.cond_proj.weight"])
    func xPrev(bf16: Bool, teacherAutocast: Bool) throws -> Tensor {
      var lc = LCDConfig()
      lc.autocast = bf16 ? .bfloat16 : nil
      lc.teacherAutocast = teacherAutocast
      let lcd = try LatentConsistencyDistillation(
        teacher: teacher, student: student, target: student, noiseScheduler: DDPMScheduler(), config: lc)
      let r = LCDRandomness(index: try t("\(tag).index"), noise: try t("\(tag).noise"), w: try t("\(tag).w"))
      return try Torch.noGrad {
        try lcd.loss(latents: t("\(tag).latents"), promptEmbeds: t("\(tag).prompt_embeds"),
                     uncondPromptEmbeds: t("\(tag).uncond_prompt_embeds"), randomness: r).xPrev
      }
    }
    let fp32 = try xPrev(bf16: false, teacherAutocast: true)
    #expect(try maxAbsDiff(xPrev(bf16: true, teacherAutocast: false), fp32) == 0)
    #expect(try maxAbsDiff(xPrev(bf16: true, teacherAutocast: true), fp32) > 1e-4)
  }
}
