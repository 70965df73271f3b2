import DiffusionModels
import Foundation
import Torch

/// diffusers' LCMScheduler config with its defaults. In practice loaded from the teacher's (or the
/// LCM model's) scheduler_config.json, so β settings and `prediction_type` come from there.
public struct LCMSchedulerConfig: SchedulerConfig {
  public var numTrainTimesteps = 1000
  public var betaStart = 0.00085
  public var betaEnd = 0.012
  public var betaSchedule = BetaSchedule.scaledLinear
  public var trainedBetas: [Double]?
  public var originalInferenceSteps = 50
  public var clipSample = false
  public var clipSampleRange = 1.0
  public var setAlphaToOne = true
  /// Accepted and stored; LCMScheduler.set_timesteps does not use it (nor `timestep_spacing`).
  public var stepsOffset = 0
  public var predictionType = PredictionType.epsilon
  public var thresholding = false
  public var dynamicThresholdingRatio = 0.995
  public var sampleMaxValue = 1.0
  public var timestepSpacing = TimestepSpacing.leading
  public var timestepScaling = 10.0
  public var rescaleBetasZeroSnr = false

  public init() {}

  public init(reader c: ConfigReader) throws {
    try readCommon(c)
    originalInferenceSteps = try c.int("original_inference_steps", originalInferenceSteps)
    guard originalInferenceSteps >= 1 else {
      throw ConfigError(c.file, "original_inference_steps must be at least 1, got \(originalInferenceSteps)")
    }
    setAlphaToOne = try c.bool("set_alpha_to_one", setAlphaToOne)
    timestepScaling = try c.double("timestep_scaling", timestepScaling)
  }

  public init(path: String) throws { try self.init(reader: .schedulerConfig(path: path)) }
}

public struct LCMSchedulerOutput {
  /// The next loop input: `denoised` re-noised to the next timestep (equal to `denoised` on the last step).
  public let prevSample: Tensor
  /// The consistency-function output f(x, t): what the LCM pipelines decode.
  public let denoised: Tensor
}

/// Multi-step latent consistency sampling (diffusers' LCMScheduler).
public final class LCMScheduler {
  public let config: LCMSchedulerConfig
  public let betas: [Float]
  public let alphas: [Float]
  public let alphasCumprod: [Float]
  /// Only reachable through a previous timestep < 0, which `step` never produces.
  public let finalAlphaCumprod: Float
  public let initNoiseSigma = 1.0
  public let alphasCumprodTensor: Tensor
  public private(set) var numInferenceSteps: Int?
  /// Descending; before `setTimesteps`, all training timesteps.
  public private(set) var timesteps: [Int]
  public private(set) var customTimesteps = false
  public private(set) var stepIndex: Int?
  public private(set) var beginIndex: Int?
  /// What diffusers logs as warnings during the last `setTimesteps` (custom schedules off the grid).
  public private(set) var warnings: [String] = []

  public init(config: LCMSchedulerConfig = .init()) throws {
    self.config = config
    let schedule = try config.noiseSchedule()
    betas = schedule.betas
    alphas = schedule.alphas
    alphasCumprod = schedule.alphasCumprod
    finalAlphaCumprod = config.setAlphaToOne ? 1 : alphasCumprod[0]
    alphasCumprodTensor = try Tensor(alphasCumprod)
    timesteps = Array((0..<config.numTrainTimesteps).reversed())
  }

  /// `LCMScheduler.from_pretrained(folder)`: reads `folder/scheduler_config.json`.
  public convenience init(folder: String) throws {
    try self.init(config: LCMSchedulerConfig(path: "\(folder)/scheduler_config.json"))
  }

  public func scaleModelInput(_ sample: Tensor, timestep: Int? = nil) -> Tensor { sample }

  /// Start stepping at this index of `timesteps` (pipelines that trim the schedule themselves).
  public func setBeginIndex(_ index: Int = 0) { beginIndex = index }

  /// Exactly one of `numInferenceSteps` / `timesteps`. The schedule is taken from the
  /// `originalInferenceSteps`-point training grid [k−1, 2k−1, …] (k = T / S), truncated by `strength`.
  public func setTimesteps(
    numInferenceSteps: Int? = nil, originalInferenceSteps: Int? = nil, timesteps custom: [Int]? = nil,
    strength: Double = 1.0
  ) throws {
    if numInferenceSteps == nil && custom == nil {
      throw SchedulerError("set_timesteps needs exactly one of num_inference_steps or timesteps (neither was given)")
    }
    if numInferenceSteps != nil && custom != nil {
      throw SchedulerError("set_timesteps needs exactly one of num_inference_steps or timesteps (both were given)")
    }
    let T = config.numTrainTimesteps
    let S = originalInferenceSteps ?? config.originalInferenceSteps
    guard S >= 1, S <= T else {
      throw SchedulerError("original_inference_steps = \(S) must be between 1 and num_train_timesteps = \(T)")
    }
    let k = T / S
    let gridCount = Int(Double(S) * strength)  // Python int(): truncation
    let originGrid = gridCount >= 1 ? (1...gridCount).map { $0 * k - 1 } : []
    var notes: [String] = []
    let schedule: [Int]
    if let custom {
      guard let first = custom.first else { throw SchedulerError("custom timesteps must not be empty") }
      for i in custom.indices.dropFirst() where custom[i] >= custom[i - 1] {
        throw SchedulerError("custom timesteps must be strictly descending, got \(custom[i - 1]) then \(custom[i])")
      }
      guard first < T else { throw SchedulerError("custom timesteps must start below num_train_timesteps = \(T), got \(first)") }
      guard let last = custom.last, last >= 0 else { throw SchedulerError("custom timesteps must not be negative") }
      if strength == 1.0 && first != T - 1 {
        notes.append("the custom schedule starts at \(first), not num_train_timesteps - 1 = \(T - 1)")
      }
      let grid = Set(originGrid)
      let off = custom.dropFirst().filter { !grid.contains($0) }
      if !off.isEmpty { notes.append("custom timesteps \(off) are not on the \(S)-step training grid") }
      if custom.count > S { notes.append("the custom schedule has \(custom.count) steps, more than original_inference_steps = \(S)") }
      self.numInferenceSteps = custom.count
      customTimesteps = true
      // As written in diffusers: num_inference_steps keeps the untruncated length.
      let n = custom.count
      let initTimestep = min(Int(Double(n) * strength), n)
      schedule = Array(custom[max(n - initTimestep, 0)...])
    } else {
      let n = numInferenceSteps!
      guard n >= 1, n <= T else {
        throw SchedulerError("num_inference_steps = \(n) must be between 1 and num_train_timesteps = \(T)")
      }
      guard originGrid.count / n >= 1 else {
        throw SchedulerError(
          "original_inference_steps x strength = \(S) x \(strength) leaves \(originGrid.count) training timesteps, "
            + "fewer than num_inference_steps = \(n); use fewer steps or a higher strength")
      }
      guard n <= S else {
        throw SchedulerError("num_inference_steps = \(n) cannot exceed original_inference_steps = \(S)")
      }
      self.numInferenceSteps = n
      customTimesteps = false
      let descending = Array(originGrid.reversed())
      // np.floor(np.linspace(0, len, n, endpoint=False)): evenly spread over the whole grid
      let stride = Double(descending.count) / Double(n)
      schedule = (0..<n).map { descending[Int((Double($0) * stride).rounded(.down))] }
    }
    timesteps = schedule
    warnings = notes
    stepIndex = nil
    beginIndex = nil
  }

  /// c_skip, c_out of the consistency parameterisation at an integer timestep, in float32 through
  /// libtorch, as torch computes them for the pipelines' tensor timestep (σ_data = 0.5).
  public func getScalingsForBoundaryConditionDiscrete(timestep: Int) throws -> (cSkip: Double, cOut: Double) {
    let t = try Tensor(scalar: Double(timestep), dtype: .int64)
    let (cSkip, cOut) = try scalingsForBoundaryConditions(timestep: t, timestepScaling: config.timestepScaling)
    return (try cSkip.item(), try cOut.item())
  }

  func indexForTimestep(_ timestep: Int) throws -> Int {
    let matches = timesteps.indices.filter { timesteps[$0] == timestep }
    guard let first = matches.first else {
      throw SchedulerError("timestep \(timestep) is not in the schedule \(timesteps)")
    }
    // a duplicated first timestep (img2img trimming) starts at the second match, as diffusers
    return matches.count > 1 ? matches[1] : first
  }

  /// One LCM step. `generator` (a CPU generator) draws the re-noising noise on the CPU and moves
  /// it to the sample's device, as diffusers' randn_tensor does with a CPU generator; without one,
  /// the noise comes from the default generator of the sample's device.
  public func step(modelOutput: Tensor, timestep: Int, sample: Tensor, generator: Generator? = nil) throws
    -> LCMSchedulerOutput
  {
    guard let n = numInferenceSteps else {
      throw SchedulerError("LCMScheduler.step called before setTimesteps")
    }
    let T = config.numTrainTimesteps
    guard (0..<T).contains(timestep) else { throw SchedulerError("timestep \(timestep) is outside [0, \(T - 1)]") }
    if stepIndex == nil { stepIndex = try beginIndex ?? indexForTimestep(timestep) }
    let index = stepIndex!
    // the next timestep of the schedule; on the last step, the current one
    let prevTimestep = index + 1 < timesteps.count ? timesteps[index + 1] : timestep
    let alphaProdT = alphasCumprod[timestep]
    let alphaProdTPrev = prevTimestep >= 0 ? alphasCumprod[prevTimestep] : finalAlphaCumprod
    let betaProdT = 1 - alphaProdT, betaProdTPrev = 1 - alphaProdTPrev
    let (cSkip, cOut) = try getScalingsForBoundaryConditionDiscrete(timestep: timestep)
    let sqrtA = try torchSqrt(alphaProdT), sqrtB = try torchSqrt(betaProdT)
    var x0: Tensor
    switch config.predictionType {
    case .epsilon: x0 = try (sample - modelOutput * sqrtB) / sqrtA
    case .sample: x0 = modelOutput
    case .vPrediction: x0 = try sample * sqrtA - modelOutput * sqrtB
    }
    x0 = try config.clipPredictedSample(x0)
    let denoised = try x0 * cOut + sample * cSkip
    let prevSample: Tensor
    if index != n - 1 {
      let noise: Tensor
      if let generator {
        noise = try Tensor.randn(modelOutput.shape, dtype: denoised.dtype, device: .cpu, generator: generator)
          .to(modelOutput.device)
      } else {
        noise = try Tensor.randn(modelOutput.shape, dtype: denoised.dtype, device: modelOutput.device)
      }
      prevSample = try denoised * torchSqrt(alphaProdTPrev) + noise * torchSqrt(betaProdTPrev)
    } else {
      prevSample = denoised  // no noise after the last step
    }
    stepIndex = index + 1
    return LCMSchedulerOutput(prevSample: prevSample, denoised: denoised)
  }

  /// Forward noising for img2img (`timesteps` int64, one per sample).
  public func addNoise(originalSamples: Tensor, noise: Tensor, timesteps: Tensor) throws -> Tensor {
    try Schedulers.addNoise(
      alphasCumprod: alphasCumprodTensor, originalSamples: originalSamples, noise: noise, timesteps: timesteps)
  }

  public func getVelocity(sample: Tensor, noise: Tensor, timesteps: Tensor) throws -> Tensor {
    try Schedulers.getVelocity(alphasCumprod: alphasCumprodTensor, sample: sample, noise: noise, timesteps: timesteps)
  }
}
