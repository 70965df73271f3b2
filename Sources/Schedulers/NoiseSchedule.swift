import DiffusionModels
import Foundation
import Torch

// The β / ᾱ tables every diffusers scheduler builds in its __init__ (DDPMScheduler, DDIMScheduler,
// LCMScheduler share the code), and the config keys they read. Tables are float32 like diffusers'.

public enum BetaSchedule: String, Sendable, CaseIterable {
  case linear
  case scaledLinear = "scaled_linear"
  case squaredcosCapV2 = "squaredcos_cap_v2"
}

public enum PredictionType: String, Sendable, CaseIterable {
  case epsilon
  case sample
  case vPrediction = "v_prediction"
}

public enum TimestepSpacing: String, Sendable, CaseIterable {
  case leading, trailing, linspace
}

/// A scheduler used wrongly (diffusers' ValueError): one line saying what was expected.
public struct SchedulerError: Error, CustomStringConvertible, Sendable {
  public let message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

public struct NoiseSchedule: Sendable {
  public let betas: [Float]
  public let alphas: [Float]
  public let alphasCumprod: [Float]

  public init(
    numTrainTimesteps: Int, betaStart: Double, betaEnd: Double, betaSchedule: BetaSchedule,
    trainedBetas: [Double]? = nil, rescaleBetasZeroSnr: Bool = false
  ) throws {
    var betas: [Float]
    if let trainedBetas {
      betas = trainedBetas.map { Float($0) }
    } else {
      switch betaSchedule {
      case .linear:
        betas = try Tensor.linspace(betaStart, betaEnd, steps: numTrainTimesteps, dtype: .float32).toArray(Float.self)
      case .scaledLinear:
        // Python's `beta_start**0.5` is libm pow; the square is libtorch's, as diffusers'
        betas = try Tensor.linspace(pow(betaStart, 0.5), pow(betaEnd, 0.5), steps: numTrainTimesteps, dtype: .float32)
          .pow(2).toArray(Float.self)
      case .squaredcosCapV2:
        betas = Self.betasForAlphaBar(numTrainTimesteps)
      }
    }
    if rescaleBetasZeroSnr { betas = try Self.rescaleZeroTerminalSnr(betas) }
    self.betas = betas
    alphas = betas.map { 1 - $0 }
    alphasCumprod = Self.cumprod(alphas)
  }

  /// torch.cumprod on a CPU float32 tensor: the running product is kept in double (CPU acc_type)
  /// and each prefix rounded to float32 — a float32 running product differs in ~90% of entries.
  public static func cumprod(_ x: [Float]) -> [Float] {
    var acc = 1.0
    return x.map { v in
      acc *= Double(v)
      return Float(acc)
    }
  }

  /// Cosine schedule (Nichol & Dhariwal), computed in double and stored as float32, max β 0.999.
  static func betasForAlphaBar(_ n: Int, maxBeta: Double = 0.999) -> [Float] {
    func alphaBar(_ t: Double) -> Double { pow(cos((t + 0.008) / 1.008 * Double.pi / 2), 2) }
    return (0..<n).map { i in
      let t1 = Double(i) / Double(n), t2 = Double(i + 1) / Double(n)
      return Float(min(1 - alphaBar(t2) / alphaBar(t1), maxBeta))
    }
  }

  /// Zero terminal SNR (Lin et al. 2023, Algorithm 1), with libtorch's float32 ops as diffusers
  /// (its vectorised sqrt is not always correctly rounded, so Swift's sqrt would differ).
  static func rescaleZeroTerminalSnr(_ betas: [Float]) throws -> [Float] {
    let sqrtBar = try Tensor(cumprod(betas.map { 1 - $0 })).sqrt()
    let n = betas.count
    let first = try sqrtBar.slice(dim: 0, start: 0, end: 1), last = try sqrtBar.slice(dim: 0, start: n - 1, end: n)
    let scaled = try (sqrtBar - last) * (first / (first - last))
    let bar = try scaled.pow(2)
    let ratios = try bar.slice(dim: 0, start: 1) / bar.slice(dim: 0, start: 0, end: n - 1)
    let alphas = try Tensor.cat([bar.slice(dim: 0, start: 0, end: 1), ratios])
    return try (1.0 - alphas).toArray(Float.self)
  }
}

// MARK: config keys shared by DDPMScheduler, DDIMScheduler and LCMScheduler

/// The keys the three schedulers share; each config struct holds its class's defaults.
public protocol SchedulerConfig: Sendable {
  var numTrainTimesteps: Int { get set }
  var betaStart: Double { get set }
  var betaEnd: Double { get set }
  var betaSchedule: BetaSchedule { get set }
  var trainedBetas: [Double]? { get set }
  var predictionType: PredictionType { get set }
  var rescaleBetasZeroSnr: Bool { get set }
  var clipSample: Bool { get set }
  var clipSampleRange: Double { get set }
  var thresholding: Bool { get set }
  var dynamicThresholdingRatio: Double { get set }
  var sampleMaxValue: Double { get set }
  var timestepSpacing: TimestepSpacing { get set }
  var stepsOffset: Int { get set }
}

extension SchedulerConfig {
  public func noiseSchedule() throws -> NoiseSchedule {
    try NoiseSchedule(
      numTrainTimesteps: numTrainTimesteps, betaStart: betaStart, betaEnd: betaEnd, betaSchedule: betaSchedule,
      trainedBetas: trainedBetas, rescaleBetasZeroSnr: rescaleBetasZeroSnr)
  }

  /// Reads the shared keys; absent or null keys keep the current (default) values.
  mutating func readCommon(_ c: ConfigReader) throws {
    numTrainTimesteps = try c.int("num_train_timesteps", numTrainTimesteps)
    // tables of this length are built at once: a bound before allocating (SD uses 1000)
    guard (1...1_000_000).contains(numTrainTimesteps) else {
      throw ConfigError(c.file, "num_train_timesteps = \(numTrainTimesteps) must be between 1 and 1000000")
    }
    betaStart = try c.double("beta_start", betaStart)
    betaEnd = try c.double("beta_end", betaEnd)
    betaSchedule = try c.choice("beta_schedule", betaSchedule)
    if let raw = c.raw["trained_betas"], !(raw is NSNull) {
      guard let list = raw as? [NSNumber] else { throw ConfigError(c.file, "trained_betas must be a list of numbers") }
      guard list.count == numTrainTimesteps else {
        throw ConfigError(c.file, "trained_betas has \(list.count) entries, expected num_train_timesteps = \(numTrainTimesteps)")
      }
      trainedBetas = list.map(\.doubleValue)
    }
    predictionType = try c.choice("prediction_type", predictionType)
    rescaleBetasZeroSnr = try c.bool("rescale_betas_zero_snr", rescaleBetasZeroSnr)
    clipSample = try c.bool("clip_sample", clipSample)
    clipSampleRange = try c.double("clip_sample_range", clipSampleRange)
    thresholding = try c.bool("thresholding", thresholding)
    dynamicThresholdingRatio = try c.double("dynamic_thresholding_ratio", dynamicThresholdingRatio)
    guard (0...1).contains(dynamicThresholdingRatio) else {
      throw ConfigError(c.file, "dynamic_thresholding_ratio must be in [0, 1], got \(dynamicThresholdingRatio)")
    }
    sampleMaxValue = try c.double("sample_max_value", sampleMaxValue)
    timestepSpacing = try c.choice("timestep_spacing", timestepSpacing)
    stepsOffset = try c.int("steps_offset", stepsOffset)
  }

  /// x0 clipping as diffusers' schedulers apply it: dynamic thresholding wins over clip_sample.
  func clipPredictedSample(_ x0: Tensor) throws -> Tensor {
    if thresholding {
      return try thresholdSample(x0, ratio: dynamicThresholdingRatio, maxValue: sampleMaxValue)
    }
    if clipSample { return try x0.clamp(min: -clipSampleRange, max: clipSampleRange) }
    return x0
  }
}

extension ConfigReader {
  /// A scheduler_config.json as diffusers' from_config sees it: keys named in
  /// `_use_default_values` take the loading class's defaults.
  public static func schedulerConfig(path: String) throws -> ConfigReader {
    let reader = try ConfigReader(path: path)
    var values = reader.raw
    if let defaults = values["_use_default_values"] as? [String] {
      for key in defaults { values.removeValue(forKey: key) }
    }
    return ConfigReader(file: path, values: values)
  }

  func choice<E: RawRepresentable & CaseIterable>(_ key: String, _ fallback: E) throws -> E where E.RawValue == String {
    guard let s = try string(key) else { return fallback }
    if let v = E(rawValue: s) { return v }
    let allowed = E.allCases.map(\.rawValue).joined(separator: ", ")
    throw ConfigError(file, "\(key) = \"\(s)\" is not supported (expected one of \(allowed))")
  }
}

// MARK: shared tensor maths

/// sqrt of a float32 scalar as diffusers takes it (`alpha_prod_t.sqrt()` on a 0-dim tensor):
/// through libtorch, whose float32 sqrt is not always the correctly rounded one.
func torchSqrt(_ x: Float) throws -> Double {
  try Tensor(scalar: Double(x), dtype: .float32).sqrt().item()
}

/// `scheduler.add_noise`: sqrt(ᾱ_t)·x0 + sqrt(1−ᾱ_t)·ε with ᾱ cast to the samples' dtype first
/// (so fp16 latents get fp16 coefficients, as in diffusers). One timestep per sample.
func addNoise(alphasCumprod table: Tensor, originalSamples: Tensor, noise: Tensor, timesteps: Tensor) throws -> Tensor {
  let (sqrtAlpha, sqrtOneMinus) = try noiseCoefficients(table, like: originalSamples, timesteps)
  return try sqrtAlpha * originalSamples + sqrtOneMinus * noise
}

/// `scheduler.get_velocity`: sqrt(ᾱ_t)·ε − sqrt(1−ᾱ_t)·x (the v-prediction target).
func getVelocity(alphasCumprod table: Tensor, sample: Tensor, noise: Tensor, timesteps: Tensor) throws -> Tensor {
  let (sqrtAlpha, sqrtOneMinus) = try noiseCoefficients(table, like: sample, timesteps)
  return try sqrtAlpha * noise - sqrtOneMinus * sample
}

func noiseCoefficients(_ table: Tensor, like x: Tensor, _ timesteps: Tensor) throws -> (Tensor, Tensor) {
  let acp = try table.to(x.device, x.dtype)
  let t = try timesteps.to(x.device).reshape([-1])
  let a = try acp.indexSelect(dim: 0, index: t)
  let shape = [t.numel] + Array(repeating: 1, count: max(x.rank - 1, 0))
  return (try a.sqrt().reshape(shape), try (1.0 - a).sqrt().reshape(shape))
}

/// Dynamic thresholding (Imagen): per sample, s = clamp(quantile(|x0|, ratio), 1, max); x0 is
/// clamped to [−s, s] and divided by s. The quantile runs on the host (no sort op in the shim),
/// in the tensor's float type with torch.quantile's linear interpolation.
func thresholdSample(_ sample: Tensor, ratio: Double, maxValue: Double) throws -> Tensor {
  let dtype = sample.dtype
  let shape = sample.shape
  let work = dtype == .float32 || dtype == .float64 ? sample : try sample.to(.float32)
  let batch = shape[0]
  let flat = try work.reshape([batch, -1])
  let s: Tensor
  if work.dtype == .float64 {
    let v = try flat.abs().toArray(Double.self)
    s = try Tensor(rowQuantiles(v, batch: batch, q: ratio, maxValue: maxValue), shape: [batch, 1])
  } else {
    let v = try flat.abs().toArray(Float.self)
    s = try Tensor(rowQuantiles(v, batch: batch, q: Float(ratio), maxValue: Float(maxValue)), shape: [batch, 1])
  }
  let sd = try s.to(work.device)
  let clamped = try flat.maximum(-sd).minimum(sd) / sd
  return try clamped.reshape(shape).to(dtype)
}

func rowQuantiles<T: BinaryFloatingPoint>(_ values: [T], batch: Int, q: T, maxValue: T) -> [T] {
  let n = values.count / batch
  return (0..<batch).map { b in
    let row = values[(b * n)..<((b + 1) * n)]
    if row.contains(where: \.isNaN) { return .nan }
    let sorted = row.sorted()
    let rank = q * T(n - 1)
    let below = Int(rank), above = Int(rank.rounded(.up))
    let weight = rank - T(below)
    let lo = sorted[below], hi = sorted[above]
    // at::lerp's two-sided formula
    let quantile = abs(weight) < 0.5 ? lo + weight * (hi - lo) : hi - (hi - lo) * (1 - weight)
    return min(max(quantile, 1), maxValue)
  }
}
