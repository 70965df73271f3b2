import DiffusionModels
import Foundation
import Torch

/// diffusers' DDPMScheduler config with its defaults. The distillation scripts re-read the teacher's
/// scheduler_config.json as a DDPMScheduler and use only its tables, `prediction_type` and `add_noise`.
public struct DDPMSchedulerConfig: SchedulerConfig {
  public var numTrainTimesteps = 1000
  public var betaStart = 0.0001
  public var betaEnd = 0.02
  public var betaSchedule = BetaSchedule.linear
  public var trainedBetas: [Double]?
  public var varianceType = "fixed_small"
  public var clipSample = true
  public var predictionType = PredictionType.epsilon
  public var thresholding = false
  public var dynamicThresholdingRatio = 0.995
  public var clipSampleRange = 1.0
  public var sampleMaxValue = 1.0
  public var timestepSpacing = TimestepSpacing.leading
  public var stepsOffset = 0
  public var rescaleBetasZeroSnr = false

  public init() {}

  public init(reader c: ConfigReader) throws {
    try readCommon(c)
    varianceType = try c.string("variance_type", varianceType)
    // Only the DDPM sampler's step uses it (not built here); still refuse names diffusers does not know.
    let known = ["fixed_small", "fixed_small_log", "fixed_large", "fixed_large_log", "learned", "learned_range"]
    guard known.contains(varianceType) else {
      throw ConfigError(c.file, "variance_type = \"\(varianceType)\" is not supported (expected one of \(known.joined(separator: ", ")))")
    }
  }

  /// Reads a scheduler_config.json (any diffusers scheduler's; keys of other classes are ignored).
  public init(path: String) throws { try self.init(reader: .schedulerConfig(path: path)) }
}

/// The teacher's noise schedule as the distillation scripts use it: ᾱ table, forward noising and
/// the v-prediction target. (The DDPM ancestral sampler itself is not needed by swift-lcm.)
public final class DDPMScheduler {
  public let config: DDPMSchedulerConfig
  public let betas: [Float]
  public let alphas: [Float]
  public let alphasCumprod: [Float]
  public let initNoiseSigma = 1.0
  /// `alphas_cumprod` as a float32 CPU tensor (moved and cast per call, like diffusers).
  public let alphasCumprodTensor: Tensor

  public init(config: DDPMSchedulerConfig = .init()) throws {
    self.config = config
    let schedule = try config.noiseSchedule()
    betas = schedule.betas
    alphas = schedule.alphas
    alphasCumprod = schedule.alphasCumprod
    alphasCumprodTensor = try Tensor(alphasCumprod)
  }

  /// `DDPMScheduler.from_pretrained(folder, subfolder="scheduler")`: reads `folder/scheduler_config.json`.
  public convenience init(folder: String) throws {
    try self.init(config: DDPMSchedulerConfig(path: "\(folder)/scheduler_config.json"))
  }

  /// sqrt(ᾱ_t)·x0 + sqrt(1−ᾱ_t)·ε, one timestep per sample (`timesteps` int64, shape (B,)).
  public func addNoise(originalSamples: Tensor, noise: Tensor, timesteps: Tensor) throws -> Tensor {
    try Schedulers.addNoise(
      alphasCumprod: alphasCumprodTensor, originalSamples: originalSamples, noise: noise, timesteps: timesteps)
  }

  /// sqrt(ᾱ_t)·ε − sqrt(1−ᾱ_t)·x.
  public func getVelocity(sample: Tensor, noise: Tensor, timesteps: Tensor) throws -> Tensor {
    try Schedulers.getVelocity(alphasCumprod: alphasCumprodTensor, sample: sample, noise: noise, timesteps: timesteps)
  }
}
