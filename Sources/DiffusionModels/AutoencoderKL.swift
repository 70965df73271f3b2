import Foundation
import SafeTensors
import Torch
import TorchNN

/// diffusers' AutoencoderKL config.
public struct AutoencoderKLConfig: Sendable {
  public var inChannels = 3
  public var outChannels = 3
  public var blockOutChannels = [64]
  public var layersPerBlock = 1
  public var latentChannels = 4
  public var normNumGroups = 32
  public var sampleSize = 32
  public var scalingFactor = 0.18215
  public var shiftFactor: Double?
  public var forceUpcast = true
  public var useQuantConv = true
  public var usePostQuantConv = true
  public var midBlockAddAttention = true

  public init() {}

  public init(reader c: ConfigReader) throws {
    let f = c.file
    let sizes = 1...ConfigLimits.width
    inChannels = try c.int("in_channels", 3, in: sizes)
    outChannels = try c.int("out_channels", 3, in: sizes)
    let down = try c.strings("down_block_types", ["DownEncoderBlock2D"])
    let up = try c.strings("up_block_types", ["UpDecoderBlock2D"])
    if let bad = down.first(where: { $0 != "DownEncoderBlock2D" }) ?? up.first(where: { $0 != "UpDecoderBlock2D" }) {
      throw ConfigError(f, "block type \(bad) is not supported by swift-lcm")
    }
    try c.check(down.count, in: 1...ConfigLimits.blocks, "the length of down_block_types")
    guard up.count == down.count else { throw ConfigError(f, "down_block_types and up_block_types differ in length") }
    blockOutChannels = try c.intOrList("block_out_channels", count: down.count, 64, in: sizes)
    layersPerBlock = try c.int("layers_per_block", 1, in: 0...ConfigLimits.layers)
    latentChannels = try c.int("latent_channels", 4, in: sizes)
    normNumGroups = try c.int("norm_num_groups", 32, in: sizes)
    for (i, ch) in blockOutChannels.enumerated() where ch % normNumGroups != 0 {
      throw ConfigError(f, "block_out_channels[\(i)] = \(ch) is not divisible by norm_num_groups \(normNumGroups)")
    }
    sampleSize = try c.int("sample_size", 32, in: 1...ConfigLimits.sampleSize)
    scalingFactor = try c.divisor("scaling_factor", 0.18215)
    shiftFactor = c.isNull("shift_factor") ? nil : try c.double("shift_factor", 0)
    forceUpcast = try c.bool("force_upcast", true)
    useQuantConv = try c.bool("use_quant_conv", true)
    usePostQuantConv = try c.bool("use_post_quant_conv", true)
    midBlockAddAttention = try c.bool("mid_block_add_attention", true)
    let act = try c.string("act_fn", "silu")
    guard act == "silu" else { throw ConfigError(f, "act_fn = \(act) is not supported by swift-lcm") }
    try c.unsupported("latents_mean")
    try c.unsupported("latents_std")
  }
}

extension UNetMidBlock2D {
  /// diffusers' `Attention` as the VAE configures it: single-head spatial self-attention with
  /// group_norm and a residual connection.
  public final class Attention {
    public let groupNorm: GroupNorm
    public let toQ: Linear, toK: Linear, toV: Linear, toOut: Linear

    init(_ path: ModulePath, channels: Int, groups: Int) throws(TorchError) {
      groupNorm = try GroupNorm(path / "group_norm", numGroups: groups, numChannels: channels, eps: 1e-6)
      toQ = try Linear(path / "to_q", inFeatures: channels, outFeatures: channels)
      toK = try Linear(path / "to_k", inFeatures: channels, outFeatures: channels)
      toV = try Linear(path / "to_v", inFeatures: channels, outFeatures: channels)
      toOut = try Linear(path / "to_out" / 0, inFeatures: channels, outFeatures: channels)
    }

    func callAsFunction(_ x: Tensor) throws(TorchError) -> Tensor {
      let s = x.shape
      let (b, c, h, w) = (s[0], s[1], s[2], s[3])
      let tokens = try groupNorm(x).view([b, c, h * w]).transpose(1, 2)  // [B, HW, C]
      let q = try toQ(tokens).unsqueeze(1), k = try toK(tokens).unsqueeze(1), v = try toV(tokens).unsqueeze(1)
      let a = try F.scaledDotProductAttention(q, k, v).squeeze(1)
      let out = try toOut(a).transpose(1, 2).reshape([b, c, h, w])
      return try out + x
    }
  }
}

/// `UNetMidBlock2D` of the VAE: resnet, attention, resnet (no time embedding).
public final class UNetMidBlock2D {
  public let resnets: [ResnetBlock2D]
  public let attentions: [Attention]

  init(_ path: ModulePath, channels: Int, groups: Int, addAttention: Bool) throws(TorchError) {
    resnets = [
      try ResnetBlock2D(path / "resnets" / 0, inChannels: channels, outChannels: channels, tembChannels: nil, groups: groups, eps: 1e-6),
      try ResnetBlock2D(path / "resnets" / 1, inChannels: channels, outChannels: channels, tembChannels: nil, groups: groups, eps: 1e-6),
    ]
    attentions = addAttention ? [try Attention(path / "attentions" / 0, channels: channels, groups: groups)] : []
  }

  func callAsFunction(_ x: Tensor) throws(TorchError) -> Tensor {
    var h = try resnets[0](x, temb: nil)
    if let attn = attentions.first { h = try attn(h) }
    return try resnets[1](h, temb: nil)
  }
}

/// diffusers' `DownEncoderBlock2D` (resnets, then a downsampler); with `down: false` it is
/// `UpDecoderBlock2D` (resnets, then an upsampler): one implementation.
public final class DownEncoderBlock2D {
  public let resnets: [ResnetBlock2D]
  public let downsamplers: [Downsample2D]
  public let upsamplers: [Upsample2D]

  init(_ path: ModulePath, layers: Int, inChannels: Int, outChannels: Int, groups: Int, down: Bool, resample: Bool) throws(TorchError) {
    var r: [ResnetBlock2D] = []
    for i in 0..<layers {
      r.append(try ResnetBlock2D(
        path / "resnets" / i, inChannels: i == 0 ? inChannels : outChannels, outChannels: outChannels, tembChannels: nil,
        groups: groups, eps: 1e-6))
    }
    resnets = r
    downsamplers = down && resample ? [try Downsample2D(path / "downsamplers" / 0, channels: outChannels, padding: 0)] : []
    upsamplers = !down && resample ? [try Upsample2D(path / "upsamplers" / 0, channels: outChannels)] : []
  }

  func callAsFunction(_ x: Tensor) throws(TorchError) -> Tensor {
    var h = x
    for r in resnets { h = try r(h, temb: nil) }
    for d in downsamplers { h = try d(h) }
    for u in upsamplers { h = try u(h) }
    return h
  }
}

/// The posterior q(z|x): mean and clamped log-variance (diffusers' DiagonalGaussianDistribution).
public struct DiagonalGaussianDistribution {
  public let mean: Tensor
  public let logvar: Tensor

  public init(parameters: Tensor) throws(TorchError) {
    let parts = try parameters.chunk(2, dim: 1)
    mean = parts[0]
    logvar = try parts[1].clamp(min: -30, max: 20)
  }

  public var std: Tensor { get throws(TorchError) { try (logvar * 0.5).exp() } }

  /// mean + std · ε with ε drawn from the generator (as diffusers' randn_tensor on that device).
  public func sample(generator: Generator? = nil) throws(TorchError) -> Tensor {
    let eps = try Tensor.randn(mean.shape, dtype: mean.dtype, device: mean.device, generator: generator)
    return try mean + std * eps
  }

  public func mode() -> Tensor { mean }
}

public final class AutoencoderKL {
  public let config: AutoencoderKLConfig
  public let store: ParameterStore
  // encoder
  let encConvIn: Conv2d
  let encDown: [DownEncoderBlock2D]
  let encMid: UNetMidBlock2D
  let encNormOut: GroupNorm
  let encConvOut: Conv2d
  let quantConv: Conv2d?
  // decoder
  let postQuantConv: Conv2d?
  let decConvIn: Conv2d
  let decMid: UNetMidBlock2D
  let decUp: [DownEncoderBlock2D]
  let decNormOut: GroupNorm
  let decConvOut: Conv2d

  public init(config c: AutoencoderKLConfig, store: ParameterStore) throws(TorchError) {
    config = c
    self.store = store
    let enc = store.root / "encoder", dec = store.root / "decoder"
    let ch = c.blockOutChannels, g = c.normNumGroups, n = ch.count
    encConvIn = try Conv2d(enc / "conv_in", inChannels: c.inChannels, outChannels: ch[0], kernelSize: 3, padding: 1)
    var down: [DownEncoderBlock2D] = []
    for i in 0..<n {
      down.append(try DownEncoderBlock2D(
        enc / "down_blocks" / i, layers: c.layersPerBlock, inChannels: i == 0 ? ch[0] : ch[i - 1], outChannels: ch[i],
        groups: g, down: true, resample: i < n - 1))
    }
    encDown = down
    encMid = try UNetMidBlock2D(enc / "mid_block", channels: ch[n - 1], groups: g, addAttention: c.midBlockAddAttention)
    encNormOut = try GroupNorm(enc / "conv_norm_out", numGroups: g, numChannels: ch[n - 1], eps: 1e-6)
    encConvOut = try Conv2d(enc / "conv_out", inChannels: ch[n - 1], outChannels: 2 * c.latentChannels, kernelSize: 3, padding: 1)
    quantConv = c.useQuantConv
      ? try Conv2d(store.root / "quant_conv", inChannels: 2 * c.latentChannels, outChannels: 2 * c.latentChannels, kernelSize: 1) : nil
    postQuantConv = c.usePostQuantConv
      ? try Conv2d(store.root / "post_quant_conv", inChannels: c.latentChannels, outChannels: c.latentChannels, kernelSize: 1) : nil
    decConvIn = try Conv2d(dec / "conv_in", inChannels: c.latentChannels, outChannels: ch[n - 1], kernelSize: 3, padding: 1)
    decMid = try UNetMidBlock2D(dec / "mid_block", channels: ch[n - 1], groups: g, addAttention: c.midBlockAddAttention)
    let rev = Array(ch.reversed())
    var up: [DownEncoderBlock2D] = []
    for i in 0..<n {
      up.append(try DownEncoderBlock2D(
        dec / "up_blocks" / i, layers: c.layersPerBlock + 1, inChannels: i == 0 ? rev[0] : rev[i - 1], outChannels: rev[i],
        groups: g, down: false, resample: i < n - 1))
    }
    decUp = up
    decNormOut = try GroupNorm(dec / "conv_norm_out", numGroups: g, numChannels: ch[0], eps: 1e-6)
    decConvOut = try Conv2d(dec / "conv_out", inChannels: ch[0], outChannels: c.outChannels, kernelSize: 3, padding: 1)
  }

  /// Images in [-1, 1], [B, 3, H, W] → posterior. sliceSize encodes that many images at a time.
  public func encode(_ x: Tensor, sliceSize: Int? = nil) throws(TorchError) -> DiagonalGaussianDistribution {
    if let sliceSize, sliceSize > 0, x.size(0) > sliceSize {
      var parts: [Tensor] = []
      var start = 0
      while start < x.size(0) {
        parts.append(try encodeParameters(x.slice(dim: 0, start: start, end: start + sliceSize)))
        start += sliceSize
      }
      return try DiagonalGaussianDistribution(parameters: Tensor.cat(parts, dim: 0))
    }
    return try DiagonalGaussianDistribution(parameters: encodeParameters(x))
  }

  func encodeParameters(_ x: Tensor) throws(TorchError) -> Tensor {
    var h = try encConvIn(x)
    for b in encDown { h = try b(h) }
    h = try encConvOut(F.silu(encNormOut(encMid(h))))
    if let quantConv { h = try quantConv(h) }
    return h
  }

  /// Latents (already divided by scaling_factor) → images in about [-1, 1].
  public func decode(_ z: Tensor) throws(TorchError) -> Tensor {
    var h = z
    if let postQuantConv { h = try postQuantConv(h) }
    h = try decMid(decConvIn(h))
    for b in decUp { h = try b(h) }
    return try decConvOut(F.silu(decNormOut(h)))
  }

  /// The old attention names (query/key/value/proj_attn) as diffusers rewrites them on load.
  public static func convertLegacyKeys(_ key: String) -> String {
    guard key.contains(".attentions.") else { return key }
    for (old, new) in [(".query.", ".to_q."), (".key.", ".to_k."), (".value.", ".to_v."), (".proj_attn.", ".to_out.0.")]
    where key.contains(old) {
      return key.replacingOccurrences(of: old, with: new)
    }
    return key
  }

  public static func load(folder: String, device: Device = .cpu, dtype: TensorDType = .float32, variant: String? = nil) throws -> AutoencoderKL {
    let configPath = "\(folder)/config.json"
    let config = try AutoencoderKLConfig(reader: ConfigReader(path: configPath))
    let store = ParameterStore(device: .meta)
    let vae = try ModelFiles.step(configPath, "building the VAE") {
      let vae = try AutoencoderKL(config: config, store: store)
      try store.to(device: device, dtype: dtype)
      return vae
    }
    let path = try ModelFiles.weights(in: folder, base: "diffusion_pytorch_model", variant: variant)
    try ModelFiles.step(path, "loading the VAE weights") {
      let source = try openSafeTensors(path: path)
      if source.keys.contains(where: { convertLegacyKeys($0) != $0 }) {
        var tensors: [String: Tensor] = [:]
        for key in source.keys { tensors[convertLegacyKeys(key)] = try Tensor.load(key, from: source) }
        try store.load(tensors, source: path)
      } else {
        try store.load(from: source, name: path)
      }
    }
    return vae
  }
}

public typealias UpDecoderBlock2D = DownEncoderBlock2D
