import Foundation

/// diffusers' UNet2DConditionModel config, with its defaults. Values the project does not
/// implement are refused at load, naming the key.
public struct UNet2DConditionConfig: Sendable {
  public var sampleSize: Int?
  public var inChannels = 4
  public var outChannels = 4
  public var centerInputSample = false
  public var flipSinToCos = true
  public var freqShift = 0
  public var downBlockTypes = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
  public var midBlockType: String? = "UNetMidBlock2DCrossAttn"
  public var upBlockTypes = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]
  public var blockOutChannels = [320, 640, 1280, 1280]
  public var layersPerBlock = [2, 2, 2, 2]
  public var downsamplePadding = 1
  public var midBlockScaleFactor = 1.0
  public var dropout = 0.0
  public var actFn = "silu"
  public var normNumGroups = 32
  public var normEps = 1e-5
  public var crossAttentionDim = [1280, 1280, 1280, 1280]
  /// Transformer blocks per attention layer: down block i's layers (`transformer_layers_per_block`,
  /// an int per block or, as SSD-1B / Vega-style configs, a list per layer), the mid block's, and
  /// up block i's (`reverse_transformer_layers_per_block`, else the down blocks' reversed).
  public var downTransformerLayers: [[Int]] = Array(repeating: [1, 1], count: 4)
  public var midTransformerLayers = 1
  public var upTransformerLayers: [[Int]] = Array(repeating: [1, 1, 1], count: 4)
  /// The config gave per-layer lists (saved back as lists, with the reverse key).
  public var perLayerTransformerDepths = false
  /// Heads per block: diffusers' `num_attention_heads or attention_head_dim` quirk already applied.
  public var numAttentionHeads = [8, 8, 8, 8]
  public var useLinearProjection = false
  public var upcastAttention = false
  public var additionEmbedType: String?
  public var additionTimeEmbedDim: Int?
  public var projectionClassEmbeddingsInputDim: Int?
  public var resnetOutScaleFactor = 1.0
  public var timeCondProjDim: Int?
  public var convInKernel = 3
  public var convOutKernel = 3

  public init() {}

  public var timeEmbedDim: Int { blockOutChannels[0] * 4 }

  public init(reader c: ConfigReader) throws {
    let f = c.file
    let sizes = 1...ConfigLimits.width, counts = 0...ConfigLimits.layers
    sampleSize = try c.optionalInt("sample_size", in: 1...ConfigLimits.sampleSize)
    inChannels = try c.int("in_channels", 4, in: sizes)
    outChannels = try c.int("out_channels", 4, in: sizes)
    centerInputSample = try c.bool("center_input_sample", false)
    flipSinToCos = try c.bool("flip_sin_to_cos", true)
    freqShift = try c.int("freq_shift", 0, in: -ConfigLimits.width...ConfigLimits.width)
    downBlockTypes = try c.strings("down_block_types", downBlockTypes)
    midBlockType = c.isNull("mid_block_type") && c.values["mid_block_type"] != nil ? nil : try c.string("mid_block_type", "UNetMidBlock2DCrossAttn")
    upBlockTypes = try c.strings("up_block_types", upBlockTypes)
    let n = downBlockTypes.count
    try c.check(n, in: 1...ConfigLimits.blocks, "the length of down_block_types")
    blockOutChannels = try c.ints("block_out_channels", blockOutChannels, lengths: 1...ConfigLimits.blocks, in: sizes)
    guard blockOutChannels.count == n, upBlockTypes.count == n else {
      throw ConfigError(f, "down_block_types, up_block_types and block_out_channels must have the same length (\(n), \(upBlockTypes.count), \(blockOutChannels.count))")
    }
    for t in downBlockTypes where !["DownBlock2D", "CrossAttnDownBlock2D"].contains(t) {
      throw ConfigError(f, "down_block_types: \(t) is not supported by swift-lcm")
    }
    for t in upBlockTypes where !["UpBlock2D", "CrossAttnUpBlock2D"].contains(t) {
      throw ConfigError(f, "up_block_types: \(t) is not supported by swift-lcm")
    }
    if let m = midBlockType, m != "UNetMidBlock2DCrossAttn" {
      throw ConfigError(f, "mid_block_type: \(m) is not supported by swift-lcm")
    }
    // The per-block attention settings of block i (in block_out_channels order) are used by its
    // down block, by the mirrored up block n-1-i and, for the last, by the mid block; blocks
    // without attention ignore them (any value loads, as in diffusers).
    let (down, up, hasMid) = (downBlockTypes, upBlockTypes, midBlockType != nil)
    let attends = { (i: Int) in
      down[i] == "CrossAttnDownBlock2D" || up[n - 1 - i] == "CrossAttnUpBlock2D" || (hasMid && i == n - 1)
    }
    layersPerBlock = try c.intOrList("layers_per_block", count: n, 2, in: counts)
    downsamplePadding = try c.int("downsample_padding", 1, in: 0...ConfigLimits.padding)
    midBlockScaleFactor = hasMid ? try c.divisor("mid_block_scale_factor", 1) : try c.double("mid_block_scale_factor", 1)
    dropout = try c.double("dropout", 0)
    try c.require((0...1).contains(dropout), "dropout = \(dropout) is out of range (expected 0...1)")
    actFn = try c.string("act_fn", "silu")
    guard ["silu", "swish"].contains(actFn) else { throw ConfigError(f, "act_fn = \(actFn) is not supported by swift-lcm") }
    guard let groups = try c.optionalInt("norm_num_groups", in: sizes) ?? (c.values["norm_num_groups"] == nil ? 32 : nil) else {
      throw ConfigError(f, "norm_num_groups = null is not supported by swift-lcm")
    }
    normNumGroups = groups
    normEps = try c.double("norm_eps", 1e-5)
    crossAttentionDim = try c.intOrList("cross_attention_dim", count: n, 1280, in: sizes, where: attends)
    try readTransformerLayers(c, n: n, attends: attends)
    // diffusers: num_attention_heads = num_attention_heads or attention_head_dim (a naming quirk);
    // setting num_attention_heads itself raises in diffusers, and so here.
    if !c.isNull("num_attention_heads") {
      throw ConfigError(f, "num_attention_heads cannot be set for UNet2DConditionModel (diffusers raises too); use attention_head_dim")
    }
    numAttentionHeads = try c.intOrList("attention_head_dim", count: n, 8, in: sizes, where: attends)
    useLinearProjection = try c.bool("use_linear_projection", false)
    // read and saved, and like diffusers' default processor (AttnProcessor2_0, torch SDPA) not
    // applied: only its classic AttnProcessor computes fp32 scores with it (SD 2.x sets it)
    upcastAttention = try c.bool("upcast_attention", false)
    additionEmbedType = try c.string("addition_embed_type")
    if let t = additionEmbedType, t != "text_time" {
      throw ConfigError(f, "addition_embed_type = \(t) is not supported by swift-lcm")
    }
    // only text_time reads these two (diffusers ignores them otherwise)
    let textTime = additionEmbedType == "text_time"
    additionTimeEmbedDim = textTime ? try c.optionalInt("addition_time_embed_dim", in: sizes) : try c.optionalInt("addition_time_embed_dim")
    projectionClassEmbeddingsInputDim = textTime
      ? try c.optionalInt("projection_class_embeddings_input_dim", in: sizes) : try c.optionalInt("projection_class_embeddings_input_dim")
    if textTime, additionTimeEmbedDim == nil || projectionClassEmbeddingsInputDim == nil {
      throw ConfigError(f, "addition_embed_type text_time needs addition_time_embed_dim and projection_class_embeddings_input_dim")
    }
    resnetOutScaleFactor = try c.divisor("resnet_out_scale_factor", 1)
    timeCondProjDim = try c.optionalInt("time_cond_proj_dim", in: sizes)
    convInKernel = try c.int("conv_in_kernel", 3, in: 1...ConfigLimits.kernel)
    convOutKernel = try c.int("conv_out_kernel", 3, in: 1...ConfigLimits.kernel)
    for (key, k) in [("conv_in_kernel", convInKernel), ("conv_out_kernel", convOutKernel)] where k % 2 == 0 {
      throw ConfigError(f, "\(key) = \(k) must be odd (the padding (k-1)/2 keeps the size)")
    }
    // Known diffusers options this project does not implement: only their defaults load.
    for key in ["class_embed_type", "encoder_hid_dim", "encoder_hid_dim_type", "num_class_embeds", "time_embedding_dim",
                "time_embedding_act_fn", "timestep_post_act", "cross_attention_norm",
                "mid_block_only_cross_attention"] {
      try c.unsupported(key)
    }
    try c.unsupported("only_cross_attention", allowed: [false, nil])
    try c.unsupported("dual_cross_attention", allowed: [false, nil])
    try c.unsupported("resnet_time_scale_shift", allowed: ["default", nil])
    try c.unsupported("resnet_skip_time_act", allowed: [false, nil])
    try c.unsupported("time_embedding_type", allowed: ["positional", nil])
    try c.unsupported("attention_type", allowed: ["default", nil])
    try c.unsupported("class_embeddings_concat", allowed: [false, nil])
    for (i, ch) in blockOutChannels.enumerated() {
      guard ch % normNumGroups == 0 else { throw ConfigError(f, "block_out_channels[\(i)] = \(ch) is not divisible by norm_num_groups \(normNumGroups)") }
      // heads of channels / heads dims each (diffusers floors; no divisibility needed), at least one dim per head
      guard !attends(i) || numAttentionHeads[i] <= ch else {
        throw ConfigError(f, "attention_head_dim (heads) of block \(i) = \(numAttentionHeads[i]) is more than its block_out_channels[\(i)] = \(ch)")
      }
    }
  }

  public init(path: String) throws { try self.init(reader: ConfigReader(path: path)) }

  /// diffusers' reading: an int (every block), a list with an int or a per-layer list per block;
  /// a per-layer list needs `reverse_transformer_layers_per_block` (one int or list per up block).
  mutating func readTransformerLayers(_ c: ConfigReader, n: Int, attends: (Int) -> Bool) throws {
    let f = c.file, key = "transformer_layers_per_block", rKey = "reverse_transformer_layers_per_block"
    let counts = 0...ConfigLimits.layers
    func entry(_ v: Any, _ field: String, layers: Int, check: Bool) throws -> [Int] {
      if let num = v as? NSNumber {
        guard let i = ConfigReader.exactInt(num) else { throw ConfigError(f, "\(field) must be an integer, got \(num.stringValue)") }
        if check { try c.check(i, in: counts, field) }
        return Array(repeating: i, count: layers)
      }
      guard let list = v as? [Any] else { throw ConfigError(f, "\(field) must be an integer or a list of integers") }
      // diffusers indexes the list per layer: fewer entries than layers raise there
      guard list.count >= layers else { throw ConfigError(f, "\(field) has \(list.count) entries for \(layers) layers") }
      return try list.prefix(layers).enumerated().map { j, x in
        guard let num = x as? NSNumber, let i = ConfigReader.exactInt(num) else {
          throw ConfigError(f, "\(field)[\(j)] must be an integer, got \(ConfigReader.show(x))")
        }
        if check { try c.check(i, in: counts, "\(field)[\(j)]") }
        return i
      }
    }
    let raw: [Any]
    if c.isNull(key) {
      raw = Array(repeating: NSNumber(value: 1), count: n)
    } else if let num = c.values[key] as? NSNumber {
      raw = Array(repeating: num, count: n)
    } else if let list = c.values[key] as? [Any] {
      guard list.count == n else { throw ConfigError(f, "\(key) has \(list.count) entries, expected \(n) (one per block)") }
      raw = list
    } else {
      throw ConfigError(f, "\(key) must be an integer or a list of \(n) entries")
    }
    let single = c.values[key] is NSNumber || c.isNull(key)
    func field(_ i: Int) -> String { single ? key : "\(key)[\(i)]" }
    downTransformerLayers = try raw.enumerated().map { i, v in try entry(v, field(i), layers: layersPerBlock[i], check: attends(i)) }
    // the mid block (one layer) takes the last block's entry: its int, or its list's first
    midTransformerLayers = try entry(raw[n - 1], field(n - 1), layers: 1, check: attends(n - 1))[0]
    perLayerTransformerDepths = raw.contains { $0 is [Any] }
    let upLayers = layersPerBlock.reversed().map { $0 + 1 }
    if c.isNull(rKey) {
      if perLayerTransformerDepths { throw ConfigError(f, "per-layer \(key) needs \(rKey) (diffusers raises too)") }
      upTransformerLayers = try raw.reversed().enumerated().map { i, v in try entry(v, field(n - 1 - i), layers: upLayers[i], check: attends(n - 1 - i)) }
    } else {
      guard let list = c.values[rKey] as? [Any], list.count == n else { throw ConfigError(f, "\(rKey) must be a list of \(n) entries (one per up block)") }
      let up = upBlockTypes
      upTransformerLayers = try list.enumerated().map { i, v in try entry(v, "\(rKey)[\(i)]", layers: upLayers[i], check: up[i] == "CrossAttnUpBlock2D") }
      perLayerTransformerDepths = true
    }
  }
}
