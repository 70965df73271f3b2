import Foundation
import Schedulers
import Testing
import Torch

/// Whole sampling loops as the pipelines run them: stored model outputs, a seeded CPU generator
/// that also drew the initial latents, each step's prev_sample and denoised compared.
@Suite("step loops match diffusers")
struct StepTests {
  static let tolerance = 1e-6  // |Δ| / max(1, |expected|); bit-exact on x86 CPU today

  @Test func fixturesPresent() {
    #expect(fixtureIndices("steps.json", "lcm").count >= 10)
    #expect(fixtureIndices("steps.json", "ddim").count >= 5)
  }

  @Test(arguments: fixtureIndices("steps.json", "lcm"))
  func lcmLoop(index: Int) throws {
    let fixture = try loadFixture("steps.json")
    let c = fixture.list("lcm")[index]
    let shape = fixture.ints("shape")
    let args = c.obj("args")
    let label = "\(c.string("config")) \(args)"
    let scheduler = try LCMScheduler(folder: configFolder(c.string("config")))
    let strength = (args["strength"] as! NSNumber).doubleValue
    try scheduler.setTimesteps(
      numInferenceSteps: (args["num_inference_steps"] as? NSNumber)?.intValue,
      originalInferenceSteps: (args["original_inference_steps"] as? NSNumber)?.intValue,
      timesteps: (args["timesteps"] as? [NSNumber])?.map(\.intValue), strength: strength)
    #expect(scheduler.timesteps == c.ints("timesteps"), "\(label)")
    let generator = try Generator(seed: UInt64(c.int("seed")))

    var latents: Tensor
    if c["init_latents"] != nil {
      let noise = try Tensor.randn(shape, generator: generator)
      #expect(try maxAbsDiff(noise, c.tensor("noise")) == 0, "\(label): generator stream")
      let t = try Tensor([Int64(scheduler.timesteps[0])]).repeat([shape[0]])
      latents = try scheduler.addNoise(originalSamples: c.tensor("init_latents"), noise: noise, timesteps: t)
      #expect(try maxAbsDiff(latents, c.tensor("latents")) <= 1e-6, "\(label): img2img latents")
    } else {
      latents = try Tensor.randn(shape, generator: generator) * scheduler.initNoiseSigma
      #expect(try maxAbsDiff(latents, c.tensor("latents")) == 0, "\(label): generator stream")
    }
    let steps = c.list("steps")
    #expect(steps.count == scheduler.timesteps.count)
    for (i, (t, s)) in zip(scheduler.timesteps, steps).enumerated() {
      #expect(t == s.int("t"))
      let out = try scheduler.step(modelOutput: s.tensor("model_output"), timestep: t, sample: latents, generator: generator)
      let dPrev = try maxScaledDiff(out.prevSample, s.tensor("prev_sample"))
      let dDenoised = try maxScaledDiff(out.denoised, s.tensor("denoised"))
      #expect(dPrev <= Self.tolerance, "\(label) step \(i) (t=\(t)) prev_sample: \(dPrev)")
      #expect(dDenoised <= Self.tolerance, "\(label) step \(i) (t=\(t)) denoised: \(dDenoised)")
      latents = out.prevSample
    }
    #expect(scheduler.stepIndex == steps.count)
  }

  @Test(arguments: fixtureIndices("steps.json", "ddim"))
  func ddimLoop(index: Int) throws {
    let c = try loadFixture("steps.json").list("ddim")[index]
    let label = c.string("config")
    let scheduler = try DDIMScheduler(folder: configFolder(label))
    try scheduler.setTimesteps(c.int("num_inference_steps"))
    #expect(scheduler.timesteps == c.ints("timesteps"))
    var latents = try c.tensor("latents")
    for (t, s) in zip(scheduler.timesteps, c.list("steps")) {
      // the teacher's classifier-free guidance, as the fixture applied it before step
      let uncond = try s.tensor("uncond"), cond = try s.tensor("cond")
      let guided = try uncond + 7.5 * (cond - uncond)
      let out = try scheduler.step(modelOutput: guided, timestep: t, sample: latents)
      let dPrev = try maxScaledDiff(out.prevSample, s.tensor("prev_sample"))
      let dX0 = try maxScaledDiff(out.predOriginalSample, s.tensor("pred_original_sample"))
      #expect(dPrev <= Self.tolerance, "\(label) t=\(t) prev_sample: \(dPrev)")
      #expect(dX0 <= Self.tolerance, "\(label) t=\(t) pred_original_sample: \(dX0)")
      latents = out.prevSample
    }
  }

  @Test func oneStepReturnsDenoisedWithoutNoise() throws {
    let scheduler = try LCMScheduler()
    try scheduler.setTimesteps(numInferenceSteps: 1)
    let x = try Tensor.randn([1, 4, 2, 2], generator: Generator(seed: 1))
    let out = try scheduler.step(modelOutput: x, timestep: 999, sample: x, generator: Generator(seed: 2))
    #expect(try out.prevSample.equal(out.denoised))
  }

  @Test func stepBeforeSetTimestepsIsRefused() throws {
    let scheduler = try LCMScheduler()
    let x = try Tensor.zeros([1, 4, 2, 2])
    #expect(throws: SchedulerError.self) { try scheduler.step(modelOutput: x, timestep: 999, sample: x) }
    try scheduler.setTimesteps(numInferenceSteps: 4)
    #expect(throws: SchedulerError.self) { try scheduler.step(modelOutput: x, timestep: 500, sample: x) }
  }

  /// Reference §2.13 boundary scalings at s = 10.
  @Test(arguments: [(0, 1.0, 0.0), (1, 2.493766e-3, 0.998752339), (19, 6.925160e-6, 0.999996537), (999, 2.505008e-9, 1.0)])
  func boundaryScalings(t: Int, cSkip: Double, cOut: Double) throws {
    let (s, o) = try LCMScheduler().getScalingsForBoundaryConditionDiscrete(timestep: t)
    #expect(abs(s - cSkip) <= 1e-6 * max(cSkip, 1e-3) && abs(o - cOut) <= 1e-7)
  }
}
