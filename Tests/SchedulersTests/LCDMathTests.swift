import Foundation
import Schedulers
import Testing
import Torch

/// The distillation scripts' functions, per sample, against the fixture script's copies of them.
@Suite("LCD step maths matches the scripts")
struct LCDMathTests {
  @Test(arguments: fixtureIndices("lcd.json", "guidance_embedding"))
  func guidanceEmbedding(index: Int) throws {
    let c = try loadFixture("lcd.json").list("guidance_embedding")[index]
    let dtype: DType = c.string("dtype") == "float64" ? .float64 : .float32
    let emb = try guidanceScaleEmbedding(w: c.tensor("w"), embeddingDim: c.int("embedding_dim"), dtype: dtype)
    let expected = try c.tensor("out")
    #expect(emb.shape == expected.shape && emb.dtype == dtype)
    let d = try maxAbsDiff(emb, expected)
    #expect(d <= 1e-6, "dim \(c.int("embedding_dim")) \(dtype): \(d)")
  }

  /// Reference §2.13: w = 6.5, d = 256, torch-style float32 values.
  @Test func guidanceEmbeddingReferenceValues() throws {
    let emb = try guidanceScaleEmbedding(w: Tensor([Float(6.5)]), embeddingDim: 256).toArray(Float.self)
    let expected: [(Int, Double)] = [
      (0, -0.044785), (1, 0.762861), (64, -0.146079), (127, 0.605186), (128, -0.998997), (129, 0.646562),
      (192, 0.989273), (255, 0.796084),
    ]
    for (i, v) in expected { #expect(abs(Double(emb[i]) - v) < 1e-6, "entry \(i)") }
    #expect(throws: SchedulerError.self) { try guidanceScaleEmbedding(w: Tensor.zeros([2, 1]), embeddingDim: 8) }
  }

  @Test(arguments: fixtureIndices("lcd.json", "scalings"))
  func scalings(index: Int) throws {
    let c = try loadFixture("lcd.json").list("scalings")[index]
    let t = try c.tensor("timesteps")
    let (cSkip, cOut) = try scalingsForBoundaryConditions(timestep: t, timestepScaling: c.double("timestep_scaling"))
    #expect(cSkip.dtype == .float32 && cSkip.shape == t.shape)
    #expect(try maxAbsDiff(cSkip, c.tensor("c_skip")) == 0)
    #expect(try maxAbsDiff(cOut, c.tensor("c_out")) == 0)
    // the scheduler's scalar version agrees with the per-sample one
    if c.double("timestep_scaling") == 10 {
      let scheduler = try LCMScheduler()
      for (i, step) in try t.toArray(Int64.self).enumerated() {
        let (s, o) = try scheduler.getScalingsForBoundaryConditionDiscrete(timestep: Int(step))
        #expect(try Float(s) == cSkip.toArray(Float.self)[i] && Float(o) == cOut.toArray(Float.self)[i])
      }
    }
    let shaped = try appendDims(cSkip, 4)
    #expect(shaped.shape == [t.numel, 1, 1, 1])
  }

  @Test(arguments: fixtureIndices("lcd.json", "predictions"))
  func predictions(index: Int) throws {
    let c = try loadFixture("lcd.json").list("predictions")[index]
    let ddpm = try DDPMScheduler(folder: configFolder(c.string("config")))
    // the scripts' alpha_schedule / sigma_schedule
    let alphas = try ddpm.alphasCumprodTensor.sqrt()
    let sigmas = try (1.0 - ddpm.alphasCumprodTensor).sqrt()
    let sample = try c.tensor("sample"), out = try c.tensor("model_output"), t = try c.tensor("timesteps")
    for p in PredictionType.allCases {
      let expected = c.obj("by_type").obj(p.rawValue)
      let x0 = try predictedOriginalSample(
        modelOutput: out, timesteps: t, sample: sample, predictionType: p, alphas: alphas, sigmas: sigmas)
      let eps = try predictedNoise(
        modelOutput: out, timesteps: t, sample: sample, predictionType: p, alphas: alphas, sigmas: sigmas)
      let dX0 = try maxScaledDiff(x0, expected.tensor("x0")), dEps = try maxScaledDiff(eps, expected.tensor("eps"))
      #expect(dX0 <= 1e-6, "\(c.string("config")) \(p) x0: \(dX0)")
      #expect(dEps <= 1e-6, "\(c.string("config")) \(p) eps: \(dEps)")
    }
  }

  @Test(arguments: fixtureIndices("lcd.json", "solvers"))
  func solver(index: Int) throws {
    let c = try loadFixture("lcd.json").list("solvers")[index]
    let ddpm = try DDPMScheduler(folder: configFolder(c.string("config")))
    let solver = try DDIMSolver(
      alphaCumprods: ddpm.alphasCumprod, timesteps: ddpm.config.numTrainTimesteps,
      ddimTimesteps: c.int("num_ddim_timesteps"))
    #expect(try solver.ddimTimesteps.equal(c.tensor("ddim_timesteps")))
    let expectedPrev = try c.tensor("ddim_alpha_cumprods_prev")
    #expect(solver.ddimAlphaCumprodsPrev.dtype == expectedPrev.dtype, "float64 from the script's mixed numpy list")
    #expect(try maxAbsDiff(solver.ddimAlphaCumprods, c.tensor("ddim_alpha_cumprods")) <= 1e-6)
    #expect(try maxAbsDiff(solver.ddimAlphaCumprodsPrev, expectedPrev) <= 1e-12)
    let xPrev = try solver.ddimStep(predX0: c.tensor("pred_x0"), predNoise: c.tensor("pred_noise"), timestepIndex: c.tensor("index"))
    let expected = try c.tensor("x_prev")
    #expect(xPrev.dtype == expected.dtype, "float64 under torch promotion, as in the script")
    #expect(try maxAbsDiff(xPrev, expected) <= 1e-12)
  }

  /// Reference §2.3 / §2.13: T = 1000, N = 50.
  @Test func solverGrid() throws {
    let acp = try DDPMScheduler(folder: configFolder("sd15")).alphasCumprod
    let solver = try DDIMSolver(alphaCumprods: acp)
    let grid = solver.ddimTimestepValues
    #expect(Array(grid.prefix(3)) == [19, 39, 59] && Array(grid.suffix(3)) == [959, 979, 999])
    let prev = try solver.ddimAlphaCumprodsPrev.toArray(Double.self)
    #expect(prev[0] == Double(acp[0]) && prev[1] == Double(acp[19]))
  }

  @Test func extractShapes() throws {
    let a = try Tensor([Float](stride(from: 0, to: 10, by: 1)))
    let out = try extractIntoTensor(a, Tensor([Int64(3), 7]), [2, 4, 8, 8])
    #expect(out.shape == [2, 1, 1, 1])
    #expect(try out.toArray(Float.self) == [3, 7])
  }
}
