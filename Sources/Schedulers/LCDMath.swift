import Foundation
import Torch

// The Latent Consistency Distillation scripts' helper functions
// (examples/consistency_distillation/train_lcm_distill_*.py), one Swift function each, named as the
// Python in camelCase so the trainer reads side by side with the script. Everything is per sample:
// timesteps and indices are int64 tensors of shape (B,).

/// `guidance_scale_embedding(w, embedding_dim, dtype)`: sinusoidal embedding of w·1000, [sin, cos],
/// denominator half−1 (unlike the UNet's timestep sinusoid), zero-padded when the dim is odd.
/// `w` must be 1-D (B,); returns (B, embeddingDim) in `dtype`.
public func guidanceScaleEmbedding(w: Tensor, embeddingDim: Int = 512, dtype: DType = .float32) throws -> Tensor {
  guard w.rank == 1 else { throw SchedulerError("guidanceScaleEmbedding: w must be 1-D, got shape \(w.shape)") }
  guard embeddingDim >= 4 else { throw SchedulerError("guidanceScaleEmbedding: embeddingDim must be at least 4") }
  let scaled = try w * 1000.0
  let half = embeddingDim / 2
  // torch.log(torch.tensor(10000.0)) / (half - 1): float32 0-dim maths
  let exponent = try Tensor(scalar: 10000.0).log() / Double(half - 1)
  let freqs = try (Tensor.arange(0, Double(half), dtype: dtype) * exponent.neg().to(dtype)).exp()
  let args = try scaled.to(dtype).unsqueeze(1) * freqs.unsqueeze(0)
  var emb = try Tensor.cat([args.sin(), args.cos()], dim: 1)
  if embeddingDim % 2 == 1 { emb = try F.pad(emb, [0, 1]) }
  return emb
}

/// `scalings_for_boundary_conditions(timestep, sigma_data, timestep_scaling)`: the consistency
/// parameterisation on the integer timestep t (scaled by s): c_skip = σ²/((s·t)² + σ²),
/// c_out = s·t / sqrt((s·t)² + σ²). Same shape as `timestep`, float32 for int64 timesteps.
public func scalingsForBoundaryConditions(timestep: Tensor, sigmaData: Double = 0.5, timestepScaling: Double = 10.0)
  throws -> (cSkip: Tensor, cOut: Tensor)
{
  let scaled = try timestep * timestepScaling
  let denominator = try scaled.pow(2) + sigmaData * sigmaData
  // python `sigma_data**2 / tensor` is tensor.reciprocal() * sigma_data**2
  let cSkip = try denominator.reciprocal() * (sigmaData * sigmaData)
  let cOut = try scaled / denominator.pow(0.5)
  return (cSkip, cOut)
}

/// `append_dims(x, target_dims)`: trailing singleton dimensions up to `targetDims`.
public func appendDims(_ x: Tensor, _ targetDims: Int) throws -> Tensor {
  guard targetDims >= x.rank else {
    throw SchedulerError("appendDims: input has \(x.rank) dims but targetDims is \(targetDims), which is less")
  }
  return try x.reshape(x.shape + Array(repeating: 1, count: targetDims - x.rank))
}

/// `extract_into_tensor(a, t, x_shape)`: a[t] per sample, shaped (B, 1, …, 1) to broadcast over x.
public func extractIntoTensor(_ a: Tensor, _ t: Tensor, _ xShape: [Int]) throws -> Tensor {
  let b = t.shape.first ?? 1
  return try a.gather(dim: -1, index: t).reshape([b] + Array(repeating: 1, count: max(xShape.count - 1, 0)))
}

/// `get_predicted_original_sample`: x0̂ from a UNet output, with α = sqrt(ᾱ), σ = sqrt(1−ᾱ) tables.
public func predictedOriginalSample(
  modelOutput: Tensor, timesteps: Tensor, sample: Tensor, predictionType: PredictionType, alphas: Tensor,
  sigmas: Tensor
) throws -> Tensor {
  let a = try extractIntoTensor(alphas, timesteps, sample.shape)
  let s = try extractIntoTensor(sigmas, timesteps, sample.shape)
  switch predictionType {
  case .epsilon: return try (sample - s * modelOutput) / a
  case .sample: return modelOutput
  case .vPrediction: return try a * sample - s * modelOutput
  }
}

/// `get_predicted_noise`: ε̂ from a UNet output.
public func predictedNoise(
  modelOutput: Tensor, timesteps: Tensor, sample: Tensor, predictionType: PredictionType, alphas: Tensor,
  sigmas: Tensor
) throws -> Tensor {
  let a = try extractIntoTensor(alphas, timesteps, sample.shape)
  let s = try extractIntoTensor(sigmas, timesteps, sample.shape)
  switch predictionType {
  case .epsilon: return modelOutput
  case .sample: return try (sample - a * modelOutput) / s
  case .vPrediction: return try a * modelOutput + s * sample
  }
}

/// The scripts' `DDIMSolver`: the N-point DDIM grid the student is distilled on and the η = 0 step
/// from each grid point to the previous one.
public final class DDIMSolver {
  /// [k−1, 2k−1, …, N·k−1] with k = T / N (int64).
  public private(set) var ddimTimesteps: Tensor
  /// ᾱ at the grid points (float32; unused by training, kept as the script has it).
  public private(set) var ddimAlphaCumprods: Tensor
  /// [ᾱ_0, ᾱ at the grid points but the last] — float64 (float32 when N = 1), because the script
  /// builds it with np.asarray of a mixed list; `ddimStep` therefore returns float64, as the script.
  public private(set) var ddimAlphaCumprodsPrev: Tensor
  public let ddimTimestepValues: [Int]

  public init(alphaCumprods: [Float], timesteps: Int = 1000, ddimTimesteps: Int = 50) throws {
    guard ddimTimesteps >= 1, ddimTimesteps <= timesteps, alphaCumprods.count >= timesteps else {
      throw SchedulerError(
        "DDIMSolver: num_ddim_timesteps = \(ddimTimesteps) must be between 1 and num_train_timesteps = \(timesteps)")
    }
    let ratio = timesteps / ddimTimesteps
    let grid = (1...ddimTimesteps).map { $0 * ratio - 1 }
    ddimTimestepValues = grid
    self.ddimTimesteps = try Tensor(grid.map { Int64($0) })
    self.ddimAlphaCumprods = try Tensor(grid.map { alphaCumprods[$0] })
    let prev = [Double(alphaCumprods[0])] + grid.dropLast().map { Double(alphaCumprods[$0]) }
    // with N = 1 the numpy list holds only the float32 ᾱ_0, so the table stays float32
    ddimAlphaCumprodsPrev = ddimTimesteps == 1 ? try Tensor(prev.map { Float($0) }) : try Tensor(prev)
  }

  @discardableResult
  public func to(_ device: Device) throws -> DDIMSolver {
    ddimTimesteps = try ddimTimesteps.to(device)
    ddimAlphaCumprods = try ddimAlphaCumprods.to(device)
    ddimAlphaCumprodsPrev = try ddimAlphaCumprodsPrev.to(device)
    return self
  }

  /// x_prev = sqrt(ᾱ_prev)·x0 + sqrt(1−ᾱ_prev)·ε at each sample's solver index.
  public func ddimStep(predX0: Tensor, predNoise: Tensor, timestepIndex: Tensor) throws -> Tensor {
    let alphaCumprodPrev = try extractIntoTensor(ddimAlphaCumprodsPrev, timestepIndex, predX0.shape)
    let dirXt = try (1.0 - alphaCumprodPrev).sqrt() * predNoise
    return try alphaCumprodPrev.sqrt() * predX0 + dirXt
  }
}
