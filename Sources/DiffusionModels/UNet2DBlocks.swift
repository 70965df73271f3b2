import Torch
import TorchNN

/// The settings every UNet block shares.
struct BlockSettings {
  var tembChannels: Int
  var groups: Int
  var eps: Double
  var dropout: Double
  var outputScaleFactor: Double
  var useLinearProjection: Bool

  func resnet(_ path: ModulePath, _ inChannels: Int, _ outChannels: Int) throws(TorchError) -> ResnetBlock2D {
    try ResnetBlock2D(
      path, inChannels: inChannels, outChannels: outChannels, tembChannels: tembChannels, groups: groups, eps: eps,
      dropout: dropout, outputScaleFactor: outputScaleFactor)
  }

  /// A Transformer2DModel over `channels` with `heads` heads of channels/heads dims.
  func transformer(_ path: ModulePath, channels: Int, heads: Int, layers: Int, crossAttentionDim: Int) throws(TorchError) -> Transformer2DModel {
    try Transformer2DModel(
      path, heads: heads, dimHead: channels / heads, inChannels: channels, numLayers: layers,
      crossAttentionDim: crossAttentionDim, normNumGroups: groups, useLinearProjection: useLinearProjection)
  }
}

/// diffusers' `CrossAttnDownBlock2D`; with no attentions it is `DownBlock2D` (one implementation).
public final class CrossAttnDownBlock2D {
  public let resnets: [ResnetBlock2D]
  public let attentions: [Transformer2DModel]
  public let downsamplers: [Downsample2D]

  init(
    _ path: ModulePath, crossAttention: Bool, numLayers: Int, inChannels: Int, outChannels: Int, addDownsample: Bool,
    downsamplePadding: Int, heads: Int, transformerLayers: [Int], crossAttentionDim: Int, settings s: BlockSettings
  ) throws(TorchError) {
    var resnets: [ResnetBlock2D] = [], attentions: [Transformer2DModel] = []
    for i in 0..<numLayers {
      resnets.append(try s.resnet(path / "resnets" / i, i == 0 ? inChannels : outChannels, outChannels))
      if crossAttention {
        attentions.append(try s.transformer(
          path / "attentions" / i, channels: outChannels, heads: heads, layers: transformerLayers[i], crossAttentionDim: crossAttentionDim))
      }
    }
    self.resnets = resnets
    self.attentions = attentions
    downsamplers = addDownsample
      ? [try Downsample2D(path / "downsamplers" / 0, channels: outChannels, padding: downsamplePadding)] : []
  }

  /// Returns the block output and the states the up blocks take as skip connections.
  public func callAsFunction(_ x: Tensor, temb: Tensor, context: Tensor?) throws -> (Tensor, [Tensor]) {
    var h = x
    var states: [Tensor] = []
    for (i, resnet) in resnets.enumerated() {
      h = try resnet(h, temb: temb)
      if !attentions.isEmpty { h = try attentions[i](h, context: try requireContext(context)) }
      states.append(h)
    }
    for d in downsamplers {
      h = try d(h)
      states.append(h)
    }
    return (h, states)
  }
}

/// `UpBlock2D` and `CrossAttnUpBlock2D`.
public final class CrossAttnUpBlock2D {
  public let resnets: [ResnetBlock2D]
  public let attentions: [Transformer2DModel]
  public let upsamplers: [Upsample2D]

  init(
    _ path: ModulePath, crossAttention: Bool, numLayers: Int, inChannels: Int, prevOutputChannel: Int, outChannels: Int,
    addUpsample: Bool, heads: Int, transformerLayers: [Int], crossAttentionDim: Int, settings s: BlockSettings
  ) throws(TorchError) {
    var resnets: [ResnetBlock2D] = [], attentions: [Transformer2DModel] = []
    for i in 0..<numLayers {
      let skip = i == numLayers - 1 ? inChannels : outChannels
      let resIn = i == 0 ? prevOutputChannel : outChannels
      resnets.append(try s.resnet(path / "resnets" / i, resIn + skip, outChannels))
      if crossAttention {
        attentions.append(try s.transformer(
          path / "attentions" / i, channels: outChannels, heads: heads, layers: transformerLayers[i], crossAttentionDim: crossAttentionDim))
      }
    }
    self.resnets = resnets
    self.attentions = attentions
    upsamplers = addUpsample ? [try Upsample2D(path / "upsamplers" / 0, channels: outChannels)] : []
  }

  /// skips: this block's skip connections, last one used first.
  public func callAsFunction(
    _ x: Tensor, skips: [Tensor], temb: Tensor, context: Tensor?, upsampleSize: (Int, Int)?
  ) throws -> Tensor {
    var h = x
    var remaining = skips
    for (i, resnet) in resnets.enumerated() {
      h = try Tensor.cat([h, remaining.removeLast()], dim: 1)
      h = try resnet(h, temb: temb)
      if !attentions.isEmpty { h = try attentions[i](h, context: try requireContext(context)) }
    }
    for u in upsamplers { h = try u(h, outputSize: upsampleSize) }
    return h
  }
}

/// `UNetMidBlock2DCrossAttn`: resnet, then (attention, resnet) pairs.
public final class UNetMidBlock2DCrossAttn {
  public let resnets: [ResnetBlock2D]
  public let attentions: [Transformer2DModel]

  init(
    _ path: ModulePath, inChannels: Int, heads: Int, transformerLayers: Int, crossAttentionDim: Int,
    settings s: BlockSettings, numLayers: Int = 1
  ) throws(TorchError) {
    var resnets = [try s.resnet(path / "resnets" / 0, inChannels, inChannels)]
    var attentions: [Transformer2DModel] = []
    for i in 0..<numLayers {
      attentions.append(try s.transformer(
        path / "attentions" / i, channels: inChannels, heads: heads, layers: transformerLayers, crossAttentionDim: crossAttentionDim))
      resnets.append(try s.resnet(path / "resnets" / (i + 1), inChannels, inChannels))
    }
    self.resnets = resnets
    self.attentions = attentions
  }

  public func callAsFunction(_ x: Tensor, temb: Tensor, context: Tensor?) throws -> Tensor {
    var h = try resnets[0](x, temb: temb)
    for (attn, resnet) in zip(attentions, resnets.dropFirst()) {
      h = try attn(h, context: try requireContext(context))
      h = try resnet(h, temb: temb)
    }
    return h
  }
}

func requireContext(_ context: Tensor?) throws(TorchError) -> Tensor {
  guard let context else {
    throw TorchError(op: "UNet2DConditionModel", message: "cross-attention blocks need encoder_hidden_states")
  }
  return context
}

/// `DownBlock2D` is `CrossAttnDownBlock2D` without attentions, `UpBlock2D` likewise.
public typealias DownBlock2D = CrossAttnDownBlock2D
public typealias UpBlock2D = CrossAttnUpBlock2D
