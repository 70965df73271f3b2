import Foundation
import SafeTensors
import Torch
import TorchNN

/// Writes a component folder as diffusers/transformers save_pretrained does: config.json and
/// safetensors weights (metadata format "pt").
func saveComponent(folder: String, config: some DiffusersConfig, store: ParameterStore, weights: String) throws {
  try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
  try config.jsonData().write(to: URL(fileURLWithPath: "\(folder)/config.json"), options: .atomic)
  try store.save(safetensors: "\(folder)/\(weights)")
}

let savedBy = "swift-lcm"

extension UNet2DConditionConfig {
  /// `transformer_layers_per_block` as an int per block, or per-layer lists with the reverse key.
  var transformerLayersJSON: (down: [Any], up: [[Int]]?) {
    guard perLayerTransformerDepths else { return (downTransformerLayers.enumerated().map { i, l in l.first ?? (i == downTransformerLayers.count - 1 ? midTransformerLayers : 1) }, nil) }
    return (downTransformerLayers.enumerated().map { i, l in i == downTransformerLayers.count - 1 && l.isEmpty ? [midTransformerLayers] : l }, upTransformerLayers)
  }

  /// The diffusers config.json of this UNet.
  public var jsonObject: [String: Any] {
    var d: [String: Any] = [
      "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.42.1", "_saved_by": savedBy,
      "in_channels": inChannels, "out_channels": outChannels, "center_input_sample": centerInputSample,
      "flip_sin_to_cos": flipSinToCos, "freq_shift": freqShift, "down_block_types": downBlockTypes,
      "mid_block_type": midBlockType as Any? ?? NSNull(), "up_block_types": upBlockTypes,
      "block_out_channels": blockOutChannels, "layers_per_block": layersPerBlock, "downsample_padding": downsamplePadding,
      "mid_block_scale_factor": midBlockScaleFactor, "dropout": dropout, "act_fn": actFn, "norm_num_groups": normNumGroups,
      "norm_eps": normEps, "cross_attention_dim": crossAttentionDim, "transformer_layers_per_block": transformerLayersJSON.down,
      "attention_head_dim": numAttentionHeads, "num_attention_heads": NSNull(), "use_linear_projection": useLinearProjection,
      "upcast_attention": upcastAttention, "resnet_out_scale_factor": resnetOutScaleFactor,
      "conv_in_kernel": convInKernel, "conv_out_kernel": convOutKernel,
    ]
    if let up = transformerLayersJSON.up { d["reverse_transformer_layers_per_block"] = up }
    d["sample_size"] = sampleSize ?? NSNull()
    d["addition_embed_type"] = additionEmbedType ?? NSNull()
    d["addition_time_embed_dim"] = additionTimeEmbedDim ?? NSNull()
    d["projection_class_embeddings_input_dim"] = projectionClassEmbeddingsInputDim ?? NSNull()
    d["time_cond_proj_dim"] = timeCondProjDim ?? NSNull()
    return d
  }
}

extension UNet2DConditionModel {
  /// `unet/` in diffusers layout: config.json + diffusion_pytorch_model.safetensors.
  public func save(folder: String) throws {
    try saveComponent(folder: folder, config: config, store: store, weights: "diffusion_pytorch_model.safetensors")
  }
}

extension AutoencoderKLConfig {
  public var jsonObject: [String: Any] {
    let n = blockOutChannels.count
    return [
      "_class_name": "AutoencoderKL", "_diffusers_version": "0.42.1", "_saved_by": savedBy,
      "in_channels": inChannels, "out_channels": outChannels,
      "down_block_types": Array(repeating: "DownEncoderBlock2D", count: n),
      "up_block_types": Array(repeating: "UpDecoderBlock2D", count: n), "block_out_channels": blockOutChannels,
      "layers_per_block": layersPerBlock, "act_fn": "silu", "latent_channels": latentChannels,
      "norm_num_groups": normNumGroups, "sample_size": sampleSize, "scaling_factor": scalingFactor,
      "shift_factor": shiftFactor as Any? ?? NSNull(), "force_upcast": forceUpcast, "use_quant_conv": useQuantConv,
      "use_post_quant_conv": usePostQuantConv, "mid_block_add_attention": midBlockAddAttention,
    ]
  }
}

extension AutoencoderKL {
  public func save(folder: String) throws {
    try saveComponent(folder: folder, config: config, store: store, weights: "diffusion_pytorch_model.safetensors")
  }
}

extension CLIPTextConfig {
  public var jsonObject: [String: Any] {
    [
      "architectures": [withProjection ? "CLIPTextModelWithProjection" : "CLIPTextModel"], "model_type": "clip_text_model",
      "vocab_size": vocabSize, "hidden_size": hiddenSize, "intermediate_size": intermediateSize,
      "projection_dim": projectionDim, "num_hidden_layers": numHiddenLayers, "num_attention_heads": numAttentionHeads,
      "max_position_embeddings": maxPositionEmbeddings, "hidden_act": hiddenAct, "layer_norm_eps": layerNormEps,
      "eos_token_id": eosTokenId, "dtype": "float32",
    ]
  }
}

extension CLIPTextModel {
  /// `text_encoder/`: config.json + model.safetensors (keys under `text_model.`, as the hub's).
  public func save(folder: String) throws {
    try saveComponent(folder: folder, config: config, store: store, weights: "model.safetensors")
  }
}
