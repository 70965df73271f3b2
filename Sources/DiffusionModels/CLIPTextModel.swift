import Foundation
import SafeTensors
import Torch
import TorchNN

/// transformers' CLIPTextConfig (text side).
public struct CLIPTextConfig: Sendable {
  public var vocabSize = 49408
  public var hiddenSize = 512
  public var intermediateSize = 2048
  public var projectionDim = 512
  public var numHiddenLayers = 12
  public var numAttentionHeads = 8
  public var maxPositionEmbeddings = 77
  public var hiddenAct = "quick_gelu"
  public var layerNormEps = 1e-5
  public var eosTokenId = 49407
  /// CLIPTextModelWithProjection (text_projection) or CLIPTextModel.
  public var withProjection = false

  public init() {}

  public init(reader c: ConfigReader) throws {
    // A full CLIPConfig nests the text config under "text_config".
    let r = (c.raw["text_config"] as? [String: Any]).map { ConfigReader(file: c.file, values: $0, keyPrefix: "text_config.") } ?? c
    let sizes = 1...ConfigLimits.width
    let arch = (c.raw["architectures"] as? [String])?.first ?? "CLIPTextModel"
    guard ["CLIPTextModel", "CLIPTextModelWithProjection"].contains(arch) else {
      throw ConfigError(c.file, "architectures = \(arch) is not supported by swift-lcm (CLIPTextModel or CLIPTextModelWithProjection)")
    }
    withProjection = arch == "CLIPTextModelWithProjection"
    vocabSize = try r.int("vocab_size", 49408, in: 1...ConfigLimits.vocabulary)
    hiddenSize = try r.int("hidden_size", 512, in: sizes)
    intermediateSize = try r.int("intermediate_size", 2048, in: sizes)
    // only text_projection uses projection_dim (CLIPTextModel ignores it)
    let projection = withProjection ? sizes : Int.min...Int.max
    projectionDim = r.isNull("projection_dim")
      ? try c.int("projection_dim", 512, in: projection) : try r.int("projection_dim", 512, in: projection)
    numHiddenLayers = try r.int("num_hidden_layers", 12, in: 0...ConfigLimits.layers)
    numAttentionHeads = try r.int("num_attention_heads", 8, in: 1...hiddenSize)
    maxPositionEmbeddings = try r.int("max_position_embeddings", 77, in: 1...ConfigLimits.positions)
    hiddenAct = try r.string("hidden_act", "quick_gelu")
    guard ["quick_gelu", "gelu"].contains(hiddenAct) else {
      throw ConfigError(c.file, "\(r.name("hidden_act")) = \(hiddenAct) is not supported by swift-lcm")
    }
    layerNormEps = try r.double("layer_norm_eps", 1e-5)
    eosTokenId = try r.int("eos_token_id", 2)
    guard hiddenSize % numAttentionHeads == 0 else {
      throw ConfigError(c.file, "\(r.name("hidden_size")) \(hiddenSize) is not divisible by \(r.name("num_attention_heads")) \(numAttentionHeads)")
    }
  }
}

/// `CLIPEncoderLayer`: pre-LN self-attention (causal) and MLP.
public final class CLIPEncoderLayer {
  let layerNorm1: LayerNorm, layerNorm2: LayerNorm
  let qProj: Linear, kProj: Linear, vProj: Linear, outProj: Linear
  let fc1: Linear, fc2: Linear
  let heads: Int
  let quickGELU: Bool

  init(_ path: ModulePath, config c: CLIPTextConfig) throws(TorchError) {
    let d = c.hiddenSize
    heads = c.numAttentionHeads
    quickGELU = c.hiddenAct == "quick_gelu"
    let attn = path / "self_attn"
    kProj = try Linear(attn / "k_proj", inFeatures: d, outFeatures: d)
    vProj = try Linear(attn / "v_proj", inFeatures: d, outFeatures: d)
    qProj = try Linear(attn / "q_proj", inFeatures: d, outFeatures: d)
    outProj = try Linear(attn / "out_proj", inFeatures: d, outFeatures: d)
    layerNorm1 = try LayerNorm(path / "layer_norm1", d, eps: c.layerNormEps)
    fc1 = try Linear(path / "mlp" / "fc1", inFeatures: d, outFeatures: c.intermediateSize)
    fc2 = try Linear(path / "mlp" / "fc2", inFeatures: c.intermediateSize, outFeatures: d)
    layerNorm2 = try LayerNorm(path / "layer_norm2", d, eps: c.layerNormEps)
  }

  func callAsFunction(_ x: Tensor, mask: Tensor?) throws(TorchError) -> Tensor {
    let s = x.shape
    let (b, n, d) = (s[0], s[1], s[2])
    let h = try layerNorm1(x)
    func split(_ t: Tensor) throws(TorchError) -> Tensor { try t.view([b, n, heads, d / heads]).transpose(1, 2) }
    let q = try split(qProj(h)), k = try split(kProj(h)), v = try split(vProj(h))
    let a = mask == nil
      ? try F.scaledDotProductAttention(q, k, v, isCausal: true)
      : try F.scaledDotProductAttention(q, k, v, mask: mask)
    var out = try outProj(a.transpose(1, 2).reshape([b, n, d])) + x
    let m = try fc1(layerNorm2(out))
    out = try fc2(quickGELU ? F.quickGELU(m) : F.gelu(m)) + out
    return out
  }
}

/// transformers' `CLIPTextModel` and `CLIPTextModelWithProjection` (keys under `text_model.`,
/// plus `text_projection`).
public final class CLIPTextModel {
  public let config: CLIPTextConfig
  public let store: ParameterStore
  let tokenEmbedding: Embedding
  let positionEmbedding: Embedding
  let layers: [CLIPEncoderLayer]
  let finalLayerNorm: LayerNorm
  let textProjection: Linear?

  public struct Output {
    /// After the final layer norm.
    public let lastHiddenState: Tensor
    /// The EOS position's state (CLIPTextModel) or its projection (WithProjection: text_embeds).
    public let pooled: Tensor
    /// The embeddings and every layer's output, before the final layer norm (SDXL takes [-2]).
    public let hiddenStates: [Tensor]
  }

  public init(config c: CLIPTextConfig, store: ParameterStore) throws(TorchError) {
    config = c
    self.store = store
    let tm = store.root / "text_model"
    tokenEmbedding = try Embedding(tm / "embeddings" / "token_embedding", numEmbeddings: c.vocabSize, embeddingDim: c.hiddenSize)
    positionEmbedding = try Embedding(tm / "embeddings" / "position_embedding", numEmbeddings: c.maxPositionEmbeddings, embeddingDim: c.hiddenSize)
    layers = try (0..<c.numHiddenLayers).map { (i: Int) throws(TorchError) in
      try CLIPEncoderLayer(tm / "encoder" / "layers" / i, config: c)
    }
    finalLayerNorm = try LayerNorm(tm / "final_layer_norm", c.hiddenSize, eps: c.layerNormEps)
    textProjection = c.withProjection
      ? try Linear(store.root / "text_projection", inFeatures: c.hiddenSize, outFeatures: c.projectionDim, bias: false) : nil
  }

  /// The penultimate hidden state only (SDXL's prompt embeddings from an encoder whose pooled
  /// output is not used): the last layer is not run, the result equals `hiddenStates[count - 2]`.
  public func penultimate(_ inputIds: Tensor) throws(TorchError) -> Tensor {
    try run(inputIds, attentionMask: nil, layers: max(layers.count - 1, 0)).last!
  }

  /// inputIds: int64 [B, L]. attentionMask (1 keep, 0 pad) is optional; SD pipelines pass none.
  public func callAsFunction(_ inputIds: Tensor, attentionMask: Tensor? = nil) throws(TorchError) -> Output {
    let states = try run(inputIds, attentionMask: attentionMask, layers: layers.count)
    let last = try finalLayerNorm(states.last!)
    // pooled at the EOS position: argmax of the ids for the legacy eos_token_id 2, else the
    // first position holding eos_token_id
    let positionsOfEOS = config.eosTokenId == 2
      ? try inputIds.to(.int32).argmax(dim: -1)
      : try inputIds.eq(Double(config.eosTokenId)).to(.int32).argmax(dim: -1)
    let b = inputIds.size(0)
    let index = try positionsOfEOS.view([b, 1, 1]).expand([b, 1, config.hiddenSize])
    var pooled = try last.gather(dim: 1, index: index).squeeze(1)
    if let textProjection { pooled = try textProjection(pooled) }
    return Output(lastHiddenState: last, pooled: pooled, hiddenStates: states)
  }

  /// The embeddings and the outputs of the first `count` layers.
  func run(_ inputIds: Tensor, attentionMask: Tensor?, layers count: Int) throws(TorchError) -> [Tensor] {
    let n = inputIds.size(1)
    guard n <= config.maxPositionEmbeddings else {
      throw TorchError(op: "CLIPTextModel", message: "sequence length \(n) exceeds max_position_embeddings \(config.maxPositionEmbeddings)")
    }
    let positions = try Tensor.arange(0, Double(n), device: inputIds.device).unsqueeze(0)
    var h = try tokenEmbedding(inputIds) + positionEmbedding(positions)
    var mask: Tensor?
    if let attentionMask {
      // causal AND key-padding, as a boolean mask [B, 1, L, L]
      let causal = try Tensor.ones([n, n], dtype: .bool, device: inputIds.device).tril()
      let keep = try attentionMask.to(.bool).unsqueeze(1).unsqueeze(1)
      mask = try causal.unsqueeze(0).unsqueeze(0).logicalAnd(keep)
    }
    var states = [h]
    for layer in layers.prefix(count) {
      h = try layer(h, mask: mask)
      states.append(h)
    }
    return states
  }

  /// Loads a transformers `text_encoder/` folder (config.json + model.safetensors). Files saved by
  /// transformers 5 name CLIPTextModel keys without the `text_model.` prefix; both load.
  public static func load(folder: String, device: Device = .cpu, dtype: TensorDType = .float32, variant: String? = nil) throws -> CLIPTextModel {
    let configPath = "\(folder)/config.json"
    let config = try CLIPTextConfig(reader: ConfigReader(path: configPath))
    let store = ParameterStore(device: .meta)
    let model = try ModelFiles.step(configPath, "building the text encoder") {
      let model = try CLIPTextModel(config: config, store: store)
      try store.to(device: device, dtype: dtype)
      return model
    }
    let path = try ModelFiles.weights(in: folder, base: "model", variant: variant)
    try ModelFiles.step(path, "loading the text encoder weights") {
      let source = try openSafeTensors(path: path)
      // transformers ignores the old persistent position_ids buffer (its _keys_to_ignore_on_load_unexpected)
      let ignored: Set<String> = ["text_model.embeddings.position_ids", "embeddings.position_ids"]
      let addPrefix = !config.withProjection && !source.keys.contains(where: { $0.hasPrefix("text_model.") })
      if addPrefix || source.keys.contains(where: ignored.contains) {
        var tensors: [String: Tensor] = [:]
        for key in source.keys where !ignored.contains(key) {
          tensors[addPrefix ? "text_model." + key : key] = try Tensor.load(key, from: source)
        }
        try store.load(tensors, source: path)
      } else {
        try store.load(from: source, name: path)
      }
    }
    return model
  }
}
