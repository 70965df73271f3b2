import Foundation
import Torch
import TorchNN

/// diffusers' get_timestep_embedding: sinusoidal features of per-sample timesteps [B] → [B, dim].
public func getTimestepEmbedding(
  _ timesteps: Tensor, embeddingDim: Int, flipSinToCos: Bool, downscaleFreqShift: Double,
  scale: Double = 1, maxPeriod: Double = 10_000
) throws(TorchError) -> Tensor {
  let half = embeddingDim / 2
  let device = timesteps.device
  let exponent = try Tensor.arange(0, Double(half), dtype: .float32, device: device)
    * (-Foundation.log(maxPeriod) / (Double(half) - downscaleFreqShift))
  let freqs = try exponent.exp()
  var emb = try timesteps.unsqueeze(1).to(.float32) * freqs.unsqueeze(0)
  emb = try emb * scale
  emb = flipSinToCos
    ? try Tensor.cat([emb.cos(), emb.sin()], dim: -1)
    : try Tensor.cat([emb.sin(), emb.cos()], dim: -1)
  if embeddingDim % 2 == 1 { emb = try F.pad(emb, [0, 1]) }
  return emb
}

/// `Timesteps`: no parameters.
public final class Timesteps {
  public let numChannels: Int
  public let flipSinToCos: Bool
  public let downscaleFreqShift: Double

  public init(numChannels: Int, flipSinToCos: Bool, downscaleFreqShift: Double) {
    self.numChannels = numChannels
    self.flipSinToCos = flipSinToCos
    self.downscaleFreqShift = downscaleFreqShift
  }

  public func callAsFunction(_ timesteps: Tensor) throws(TorchError) -> Tensor {
    try getTimestepEmbedding(
      timesteps, embeddingDim: numChannels, flipSinToCos: flipSinToCos, downscaleFreqShift: downscaleFreqShift)
  }
}

/// `TimestepEmbedding`: linear_1 → silu → linear_2, with the LCM guidance input through cond_proj.
public final class TimestepEmbedding {
  public let linear1: Linear
  public let linear2: Linear
  public let condProj: Linear?

  public init(_ path: ModulePath, inChannels: Int, timeEmbedDim: Int, condProjDim: Int? = nil) throws(TorchError) {
    linear1 = try Linear(path / "linear_1", inFeatures: inChannels, outFeatures: timeEmbedDim)
    condProj = try condProjDim.map { (d: Int) throws(TorchError) in
      try Linear(path / "cond_proj", inFeatures: d, outFeatures: inChannels, bias: false)
    }
    linear2 = try Linear(path / "linear_2", inFeatures: timeEmbedDim, outFeatures: timeEmbedDim)
  }

  public func callAsFunction(_ sample: Tensor, condition: Tensor? = nil) throws(TorchError) -> Tensor {
    var x = sample
    if let condition, let condProj { x = try x + condProj(condition) }
    return try linear2(F.silu(linear1(x)))
  }
}
