import Torch
import TorchNN

/// `ResnetBlock2D` (time_embedding_norm "default", silu, pre-norm).
public final class ResnetBlock2D {
  public let norm1: GroupNorm
  public let conv1: Conv2d
  public let timeEmbProj: Linear?
  public let norm2: GroupNorm
  public let dropout: Dropout
  public let conv2: Conv2d
  public let convShortcut: Conv2d?
  public let outputScaleFactor: Double

  public init(
    _ path: ModulePath, inChannels: Int, outChannels: Int, tembChannels: Int?, groups: Int, eps: Double,
    dropout: Double = 0, outputScaleFactor: Double = 1
  ) throws(TorchError) {
    norm1 = try GroupNorm(path / "norm1", numGroups: groups, numChannels: inChannels, eps: eps)
    conv1 = try Conv2d(path / "conv1", inChannels: inChannels, outChannels: outChannels, kernelSize: 3, padding: 1)
    timeEmbProj = try tembChannels.map { (t: Int) throws(TorchError) in
      try Linear(path / "time_emb_proj", inFeatures: t, outFeatures: outChannels)
    }
    norm2 = try GroupNorm(path / "norm2", numGroups: groups, numChannels: outChannels, eps: eps)
    self.dropout = Dropout(path / "dropout", p: dropout)
    conv2 = try Conv2d(path / "conv2", inChannels: outChannels, outChannels: outChannels, kernelSize: 3, padding: 1)
    convShortcut = inChannels != outChannels
      ? try Conv2d(path / "conv_shortcut", inChannels: inChannels, outChannels: outChannels, kernelSize: 1) : nil
    self.outputScaleFactor = outputScaleFactor
  }

  public func callAsFunction(_ input: Tensor, temb: Tensor?) throws(TorchError) -> Tensor {
    var h = try conv1(F.silu(norm1(input)))
    if let temb, let timeEmbProj {
      h = try h + timeEmbProj(F.silu(temb)).unsqueeze(-1).unsqueeze(-1)
    }
    h = try conv2(dropout(F.silu(norm2(h))))
    var shortcut = input
    if let convShortcut { shortcut = try convShortcut(input) }
    let out = try shortcut + h
    return outputScaleFactor == 1 ? out : try out / outputScaleFactor
  }
}

/// `Downsample2D` with a strided 3×3 conv (`downsamplers.0.conv`).
public final class Downsample2D {
  public let conv: Conv2d

  public init(_ path: ModulePath, channels: Int, outChannels: Int? = nil, padding: Int = 1) throws(TorchError) {
    conv = try Conv2d(path / "conv", inChannels: channels, outChannels: outChannels ?? channels, kernelSize: 3, stride: 2, padding: padding)
  }

  public func callAsFunction(_ x: Tensor) throws(TorchError) -> Tensor {
    // padding 0 in diffusers pads (0, 1, 0, 1) first
    if conv.padding.0 == 0 { return try conv(F.pad(x, [0, 1, 0, 1])) }
    return try conv(x)
  }
}

/// `Upsample2D`: nearest ×2 (or to the skip connection's size), then a 3×3 conv.
public final class Upsample2D {
  public let conv: Conv2d

  public init(_ path: ModulePath, channels: Int, outChannels: Int? = nil) throws(TorchError) {
    conv = try Conv2d(path / "conv", inChannels: channels, outChannels: outChannels ?? channels, kernelSize: 3, padding: 1)
  }

  public func callAsFunction(_ x: Tensor, outputSize: (Int, Int)? = nil) throws(TorchError) -> Tensor {
    if let outputSize { return try conv(F.interpolate(x, size: outputSize)) }
    return try conv(F.interpolate(x, scaleFactor: 2))
  }
}
