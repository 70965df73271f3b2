import Torch
import TorchNN

/// diffusers' `UNet2DConditionModel` for SD 1.x / 2.x / SDXL / LCM configs. Parameter names are
/// the checkpoint keys.
public final class UNet2DConditionModel {
  public let config: UNet2DConditionConfig
  public let store: ParameterStore
  public let convIn: Conv2d
  public let timeProj: Timesteps
  public let timeEmbedding: TimestepEmbedding
  public let addTimeProj: Timesteps?
  public let addEmbedding: TimestepEmbedding?
  public let downBlocks: [CrossAttnDownBlock2D]
  public let midBlock: UNetMidBlock2DCrossAttn?
  public let upBlocks: [CrossAttnUpBlock2D]
  public let convNormOut: GroupNorm
  public let convOut: Conv2d
  /// Recompute each block's activations in backward (diffusers' enable_gradient_checkpointing).
  public var gradientCheckpointing = false

  public init(config c: UNet2DConditionConfig, store: ParameterStore) throws(TorchError) {
    config = c
    self.store = store
    let root = store.root
    let ch0 = c.blockOutChannels[0]
    convIn = try Conv2d(root / "conv_in", inChannels: c.inChannels, outChannels: ch0, kernelSize: c.convInKernel, padding: (c.convInKernel - 1) / 2)
    timeProj = Timesteps(numChannels: ch0, flipSinToCos: c.flipSinToCos, downscaleFreqShift: Double(c.freqShift))
    timeEmbedding = try TimestepEmbedding(root / "time_embedding", inChannels: ch0, timeEmbedDim: c.timeEmbedDim, condProjDim: c.timeCondProjDim)
    if c.additionEmbedType == "text_time" {
      addTimeProj = Timesteps(numChannels: c.additionTimeEmbedDim!, flipSinToCos: c.flipSinToCos, downscaleFreqShift: Double(c.freqShift))
      addEmbedding = try TimestepEmbedding(root / "add_embedding", inChannels: c.projectionClassEmbeddingsInputDim!, timeEmbedDim: c.timeEmbedDim)
    } else {
      addTimeProj = nil
      addEmbedding = nil
    }
    let s = BlockSettings(
      tembChannels: c.timeEmbedDim, groups: c.normNumGroups, eps: c.normEps, dropout: c.dropout,
      outputScaleFactor: c.resnetOutScaleFactor, useLinearProjection: c.useLinearProjection)
    let n = c.blockOutChannels.count
    var down: [CrossAttnDownBlock2D] = []
    var output = ch0
    for (i, type) in c.downBlockTypes.enumerated() {
      let input = output
      output = c.blockOutChannels[i]
      down.append(try CrossAttnDownBlock2D(
        root / "down_blocks" / i, crossAttention: type == "CrossAttnDownBlock2D", numLayers: c.layersPerBlock[i],
        inChannels: input, outChannels: output, addDownsample: i < n - 1, downsamplePadding: c.downsamplePadding,
        heads: c.numAttentionHeads[i], transformerLayers: c.downTransformerLayers[i],
        crossAttentionDim: c.crossAttentionDim[i], settings: s))
    }
    downBlocks = down
    if c.midBlockType != nil {
      var ms = s
      ms.outputScaleFactor = c.midBlockScaleFactor
      midBlock = try UNetMidBlock2DCrossAttn(
        root / "mid_block", inChannels: c.blockOutChannels[n - 1], heads: c.numAttentionHeads[n - 1],
        transformerLayers: c.midTransformerLayers, crossAttentionDim: c.crossAttentionDim[n - 1], settings: ms)
    } else {
      midBlock = nil
    }
    let rChannels = Array(c.blockOutChannels.reversed())
    let rHeads = Array(c.numAttentionHeads.reversed()), rLayers = Array(c.layersPerBlock.reversed())
    let rCross = Array(c.crossAttentionDim.reversed())
    var up: [CrossAttnUpBlock2D] = []
    output = rChannels[0]
    for (i, type) in c.upBlockTypes.enumerated() {
      let prev = output
      output = rChannels[i]
      let input = rChannels[min(i + 1, n - 1)]
      up.append(try CrossAttnUpBlock2D(
        root / "up_blocks" / i, crossAttention: type == "CrossAttnUpBlock2D", numLayers: rLayers[i] + 1,
        inChannels: input, prevOutputChannel: prev, outChannels: output, addUpsample: i < n - 1, heads: rHeads[i],
        transformerLayers: c.upTransformerLayers[i], crossAttentionDim: rCross[i], settings: s))
    }
    upBlocks = up
    convNormOut = try GroupNorm(root / "conv_norm_out", numGroups: c.normNumGroups, numChannels: ch0, eps: c.normEps)
    convOut = try Conv2d(root / "conv_out", inChannels: ch0, outChannels: c.outChannels, kernelSize: c.convOutKernel, padding: (c.convOutKernel - 1) / 2)
  }

  /// SDXL's micro-conditioning: pooled text embeddings [B, D] and time ids [B, 6].
  public struct AddedConditions {
    public var textEmbeds: Tensor
    public var timeIds: Tensor
    public init(textEmbeds: Tensor, timeIds: Tensor) {
      self.textEmbeds = textEmbeds
      self.timeIds = timeIds
    }
  }

  /// sample [B, C, H, W]; timestep [B] (or a 0-dim tensor for all); encoderHiddenStates [B, L, D];
  /// timestepCond [B, time_cond_proj_dim] (LCM's guidance embedding).
  public func callAsFunction(
    _ sample: Tensor, timestep: Tensor, encoderHiddenStates: Tensor?, timestepCond: Tensor? = nil,
    addedConditions: AddedConditions? = nil
  ) throws -> Tensor {
    let batch = sample.size(0)
    let upFactor = 1 << upBlocks.reduce(0) { $0 + ($1.upsamplers.isEmpty ? 0 : 1) }
    let forwardUpsampleSize = sample.shape.suffix(2).contains { $0 % upFactor != 0 }
    var x = config.centerInputSample ? try sample * 2.0 - 1.0 : sample

    let timesteps = timestep.rank == 0 ? try timestep.reshape([1]).expand([batch]) : timestep
    let tEmb = try timeProj(timesteps).to(x.dtype)
    var emb = try timeEmbedding(tEmb, condition: timestepCond)
    if let addEmbedding, let addTimeProj {
      guard let added = addedConditions else {
        throw TorchError(op: "UNet2DConditionModel", message: "addition_embed_type text_time needs text_embeds and time_ids")
      }
      let timeEmbeds = try addTimeProj(added.timeIds.flatten()).reshape([added.textEmbeds.size(0), -1])
      let addEmbeds = try Tensor.cat([added.textEmbeds, timeEmbeds.to(added.textEmbeds.dtype)], dim: -1).to(emb.dtype)
      emb = try emb + addEmbedding(addEmbeds)
    }

    x = try convIn(x)
    var skips: [Tensor] = [x]
    for block in downBlocks {
      let outs = try run([x, emb] + (encoderHiddenStates.map { [$0] } ?? [])) { ins in
        let (h, states) = try block(ins[0], temb: ins[1], context: ins.count > 2 ? ins[2] : nil)
        return [h] + states
      }
      x = outs[0]
      skips += outs.dropFirst()
    }
    if let midBlock {
      x = try run([x, emb] + (encoderHiddenStates.map { [$0] } ?? [])) { ins in
        [try midBlock(ins[0], temb: ins[1], context: ins.count > 2 ? ins[2] : nil)]
      }[0]
    }
    for (i, block) in upBlocks.enumerated() {
      let count = block.resnets.count
      let blockSkips = Array(skips.suffix(count))
      skips.removeLast(count)
      var size: (Int, Int)?
      if i < upBlocks.count - 1, forwardUpsampleSize, let last = skips.last {
        size = (last.size(2), last.size(3))
      }
      let context = encoderHiddenStates.map { [$0] } ?? []
      x = try run([x, emb] + context + blockSkips) { ins in
        let ctx = context.isEmpty ? nil : ins[2]
        return [try block(ins[0], skips: Array(ins.suffix(count)), temb: ins[1], context: ctx, upsampleSize: size)]
      }[0]
    }
    return try convOut(F.silu(convNormOut(x)))
  }

  /// Runs a block, through activation checkpointing when enabled and gradients are recorded.
  private func run(_ inputs: [Tensor], _ body: @escaping ([Tensor]) throws -> [Tensor]) throws -> [Tensor] {
    if gradientCheckpointing && Torch.isGradEnabled && store.isTraining {
      return try Torch.checkpoint(inputs, body)
    }
    return try body(inputs)
  }
}
