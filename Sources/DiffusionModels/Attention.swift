import Torch
import TorchNN

/// `Attention` as diffusers' AttnProcessor2_0 runs it: projections, scaled_dot_product_attention
/// (memory-efficient / flash kernels where libtorch picks them), output projection.
public final class Attention {
  public let toQ: Linear
  public let toK: Linear
  public let toV: Linear
  public let toOut: Linear
  public let heads: Int
  public let dimHead: Int

  public init(
    _ path: ModulePath, queryDim: Int, crossAttentionDim: Int? = nil, heads: Int, dimHead: Int, bias: Bool = false,
    outBias: Bool = true
  ) throws(TorchError) {
    let inner = heads * dimHead
    self.heads = heads
    self.dimHead = dimHead
    toQ = try Linear(path / "to_q", inFeatures: queryDim, outFeatures: inner, bias: bias)
    toK = try Linear(path / "to_k", inFeatures: crossAttentionDim ?? queryDim, outFeatures: inner, bias: bias)
    toV = try Linear(path / "to_v", inFeatures: crossAttentionDim ?? queryDim, outFeatures: inner, bias: bias)
    toOut = try Linear(path / "to_out" / 0, inFeatures: inner, outFeatures: queryDim, bias: outBias)
  }

  /// x: [B, N, C]; context: [B, M, C'] (nil: self-attention).
  public func callAsFunction(_ x: Tensor, context: Tensor? = nil, mask: Tensor? = nil) throws(TorchError) -> Tensor {
    let b = x.size(0)
    let ctx = context ?? x
    func split(_ t: Tensor) throws(TorchError) -> Tensor {
      try t.view([b, -1, heads, dimHead]).transpose(1, 2)
    }
    let q = try split(toQ(x)), k = try split(toK(ctx)), v = try split(toV(ctx))
    let a = try F.scaledDotProductAttention(q, k, v, mask: mask)
    return try toOut(a.transpose(1, 2).reshape([b, -1, heads * dimHead]).to(q.dtype))
  }
}

/// `FeedForward` with GEGLU (`ff.net.0.proj`, `ff.net.2`).
public final class FeedForward {
  public let proj: Linear
  public let out: Linear
  public let dropout: Dropout

  public init(_ path: ModulePath, dim: Int, mult: Int = 4, dropout: Double = 0) throws(TorchError) {
    let inner = dim * mult
    proj = try Linear(path / "net" / 0 / "proj", inFeatures: dim, outFeatures: inner * 2)
    self.dropout = Dropout(path / "net" / 1, p: dropout)
    out = try Linear(path / "net" / 2, inFeatures: inner, outFeatures: dim)
  }

  public func callAsFunction(_ x: Tensor) throws(TorchError) -> Tensor {
    let parts = try proj(x).chunk(2, dim: -1)
    return try out(dropout(parts[0] * F.gelu(parts[1])))
  }
}

/// `BasicTransformerBlock` (layer_norm): self-attention, cross-attention, GEGLU feed-forward.
public final class BasicTransformerBlock {
  public let norm1: LayerNorm
  public let attn1: Attention
  public let norm2: LayerNorm
  public let attn2: Attention
  public let norm3: LayerNorm
  public let ff: FeedForward

  public init(
    _ path: ModulePath, dim: Int, heads: Int, dimHead: Int, crossAttentionDim: Int, dropout: Double = 0
  ) throws(TorchError) {
    norm1 = try LayerNorm(path / "norm1", dim)
    attn1 = try Attention(path / "attn1", queryDim: dim, heads: heads, dimHead: dimHead)
    norm2 = try LayerNorm(path / "norm2", dim)
    attn2 = try Attention(path / "attn2", queryDim: dim, crossAttentionDim: crossAttentionDim, heads: heads, dimHead: dimHead)
    norm3 = try LayerNorm(path / "norm3", dim)
    ff = try FeedForward(path / "ff", dim: dim, dropout: dropout)
  }

  public func callAsFunction(_ x: Tensor, context: Tensor) throws(TorchError) -> Tensor {
    var h = try attn1(norm1(x)) + x
    h = try attn2(norm2(h), context: context) + h
    return try ff(norm3(h)) + h
  }
}

/// `Transformer2DModel` on continuous inputs: GroupNorm, proj_in (1×1 conv or linear), blocks,
/// proj_out, residual.
public final class Transformer2DModel {
  public let norm: GroupNorm
  public let projInConv: Conv2d?
  public let projInLinear: Linear?
  public let transformerBlocks: [BasicTransformerBlock]
  public let projOutConv: Conv2d?
  public let projOutLinear: Linear?

  public init(
    _ path: ModulePath, heads: Int, dimHead: Int, inChannels: Int, numLayers: Int, crossAttentionDim: Int,
    normNumGroups: Int, useLinearProjection: Bool, dropout: Double = 0
  ) throws(TorchError) {
    let inner = heads * dimHead
    norm = try GroupNorm(path / "norm", numGroups: normNumGroups, numChannels: inChannels, eps: 1e-6)
    if useLinearProjection {
      projInLinear = try Linear(path / "proj_in", inFeatures: inChannels, outFeatures: inner)
      projInConv = nil
    } else {
      projInConv = try Conv2d(path / "proj_in", inChannels: inChannels, outChannels: inner, kernelSize: 1)
      projInLinear = nil
    }
    var blocks: [BasicTransformerBlock] = []
    for i in 0..<numLayers {
      blocks.append(try BasicTransformerBlock(
        path / "transformer_blocks" / i, dim: inner, heads: heads, dimHead: dimHead,
        crossAttentionDim: crossAttentionDim, dropout: dropout))
    }
    transformerBlocks = blocks
    if useLinearProjection {
      projOutLinear = try Linear(path / "proj_out", inFeatures: inner, outFeatures: inChannels)
      projOutConv = nil
    } else {
      projOutConv = try Conv2d(path / "proj_out", inChannels: inner, outChannels: inChannels, kernelSize: 1)
      projOutLinear = nil
    }
  }

  public func callAsFunction(_ x: Tensor, context: Tensor) throws(TorchError) -> Tensor {
    let s = x.shape
    let (b, height, width) = (s[0], s[2], s[3])
    var h = try norm(x)
    if let projInConv { h = try projInConv(h) }
    let inner = h.size(1)
    h = try h.permute([0, 2, 3, 1]).reshape([b, height * width, inner])
    if let projInLinear { h = try projInLinear(h) }
    for block in transformerBlocks { h = try block(h, context: context) }
    if let projOutLinear { h = try projOutLinear(h) }
    let channels = h.size(2)
    h = try h.reshape([b, height, width, channels]).permute([0, 3, 1, 2]).contiguous()
    if let projOutConv { h = try projOutConv(h) }
    return try h + x
  }
}
