import DiffusionModels
import Foundation
import Torch

/// diffusers' DDIMScheduler config with its defaults.
public struct DDIMSchedulerConfig: SchedulerConfig {
  public var numTrainTimesteps = 1000
  public var betaStart = 0.0001
  public var betaEnd = 0.02
  public var betaSchedule = BetaSchedule.linear
  public var trainedBetas: [Double]?
  public var clipSample = true
  public var setAlphaToOne = true
  public var stepsOffset = 0
  public var predictionType = PredictionType.epsilon
  public var thresholding = false
  public var dynamicThresholdingRatio = 0.995
  public var clipSampleRange = 1.0
  public var sampleMaxValue = 1.0
  public var timestepSpacing = TimestepSpacing.leading
  public var rescaleBetasZeroSnr = false

  public init() {}

  public init(reader c: ConfigReader) throws {
    try readCommon(c)
    setAlphaToOne = try c.bool("set_alpha_to_one", setAlphaToOne)
  }

  public init(path: String) throws { try self.init(reader: .schedulerConfig(path: path)) }
}

public struct DDIMSchedulerOutput {
  public let prevSample: Tensor
  public let predOriginalSample: Tensor
}

/// The teacher's multi-step sampler: deterministic DDIM (η = 0), as `DDIMScheduler.step` with the
/// default `eta=0.0`. Classifier-free guidance is combined by the caller before `step`.
public final class DDIMScheduler {
  public let config: DDIMSchedulerConfig
  public let betas: [Float]
  public let alphas: [Float]
  public let alphasCumprod: [Float]
  public let finalAlphaCumprod: Float
  public let initNoiseSigma = 1.0
  public let alphasCumprodTensor: Tensor
  public private(set) var numInferenceSteps: Int?
  /// Descending; before `setTimesteps`, all training timesteps.
  public private(set) var timesteps: [Int]

  public init(config: DDIMSchedulerConfig = .init()) throws {
    self.config = config
    let schedule = try config.noiseSchedule()
    betas = schedule.betas
    alphas = schedule.alphas
    alphasCumprod = schedule.alphasCumprod
    finalAlphaCumprod = config.setAlphaToOne ? 1 : alphasCumprod[0]
    alphasCumprodTensor = try Tensor(alphasCumprod)
    timesteps = Array((0..<config.numTrainTimesteps).reversed())
  }

  public convenience init(folder: String) throws {
    try self.init(config: DDIMSchedulerConfig(path: "\(folder)/scheduler_config.json"))
  }

  public func scaleModelInput(_ sample: Tensor, timestep: Int? = nil) -> Tensor { sample }

  public func setTimesteps(_ numInferenceSteps: Int) throws {
    let T = config.numTrainTimesteps
    guard numInferenceSteps >= 1, numInferenceSteps <= T else {
      throw SchedulerError("num_inference_steps = \(numInferenceSteps) must be between 1 and num_train_timesteps = \(T)")
    }
    self.numInferenceSteps = numInferenceSteps
    timesteps = Self.spacedTimesteps(
      numInferenceSteps, numTrainTimesteps: T, spacing: config.timestepSpacing, stepsOffset: config.stepsOffset)
  }

  /// diffusers' numpy recipes for the three spacings (round half to even, as np.round).
  static func spacedTimesteps(_ n: Int, numTrainTimesteps T: Int, spacing: TimestepSpacing, stepsOffset: Int) -> [Int] {
    switch spacing {
    case .linspace:
      // np.linspace(0, T-1, n): i * step, last entry exactly T-1
      let step = n > 1 ? Double(T - 1) / Double(n - 1) : 0
      let values = (0..<n).map { i in i == n - 1 && n > 1 ? Double(T - 1) : Double(i) * step }
      return values.map { Int($0.rounded(.toNearestOrEven)) }.reversed()
    case .leading:
      let ratio = T / n
      return (0..<n).reversed().map { $0 * ratio + stepsOffset }
    case .trailing:
      // np.arange(T, 0, -ratio) fills start + i * (second - first)
      let ratio = Double(T) / Double(n)
      let count = Int((Double(-T) / -ratio).rounded(.up))
      let delta = (Double(T) - ratio) - Double(T)
      return (0..<count).map { Int((Double(T) + Double($0) * delta).rounded(.toNearestOrEven)) - 1 }
    }
  }

  /// One DDIM step (η = 0) from `timestep` to `timestep − T / numInferenceSteps`.
  public func step(modelOutput: Tensor, timestep: Int, sample: Tensor) throws -> DDIMSchedulerOutput {
    guard let n = numInferenceSteps else {
      throw SchedulerError("DDIMScheduler.step called before setTimesteps")
    }
    let T = config.numTrainTimesteps
    guard (0..<T).contains(timestep) else {
      throw SchedulerError("timestep \(timestep) is outside [0, \(T - 1)]")
    }
    let prev = timestep - T / n
    let alphaProdT = alphasCumprod[timestep]
    let alphaProdTPrev = prev >= 0 ? alphasCumprod[prev] : finalAlphaCumprod
    let betaProdT = 1 - alphaProdT
    // float32 scalars as diffusers' 0-dim tensors; Double(Float) is exact
    let sqrtA = try torchSqrt(alphaProdT), sqrtB = try torchSqrt(betaProdT)
    var x0: Tensor
    let eps: Tensor
    switch config.predictionType {
    case .epsilon:
      x0 = try (sample - modelOutput * sqrtB) / sqrtA
      eps = modelOutput
    case .sample:
      x0 = modelOutput
      eps = try (sample - x0 * sqrtA) / sqrtB
    case .vPrediction:
      x0 = try sample * sqrtA - modelOutput * sqrtB
      eps = try modelOutput * sqrtA + sample * sqrtB
    }
    x0 = try config.clipPredictedSample(x0)
    // η = 0: σ_t = 0, so the direction coefficient is sqrt(1 − ᾱ_prev)
    let direction = try eps * torchSqrt(1 - alphaProdTPrev)
    let prevSample = try x0 * torchSqrt(alphaProdTPrev) + direction
    return DDIMSchedulerOutput(prevSample: prevSample, predOriginalSample: x0)
  }

  public func addNoise(originalSamples: Tensor, noise: Tensor, timesteps: Tensor) throws -> Tensor {
    try Schedulers.addNoise(
      alphasCumprod: alphasCumprodTensor, originalSamples: originalSamples, noise: noise, timesteps: timesteps)
  }

  public func getVelocity(sample: Tensor, noise: Tensor, timesteps: Tensor) throws -> Tensor {
    try Schedulers.getVelocity(alphasCumprod: alphasCumprodTensor, sample: sample, noise: noise, timesteps: timesteps)
  }
}
