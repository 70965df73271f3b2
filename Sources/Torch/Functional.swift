import CTorch

/// torch.nn.functional.
public enum F {
  public enum Reduction: Int32, Sendable { case none = 0, mean, sum }
  public enum InterpolationMode: Int32, Sendable { case nearest = 0, bilinear, bicubic, nearestExact }
  public enum PadMode: Int32, Sendable { case constant = 0, reflect, replicate, circular }
  public enum GELUApproximation: Sendable { case none, tanh }

  public static func linear(_ x: Tensor, _ w: Tensor, _ b: Tensor? = nil) throws(TorchError) -> Tensor {
    try make("linear") { ct_linear(x.handle, w.handle, b?.handle, $0) }
  }

  public static func conv2d(
    _ x: Tensor, _ w: Tensor, _ b: Tensor? = nil, stride: (Int, Int) = (1, 1),
    padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1
  ) throws(TorchError) -> Tensor {
    let s = [Int64(stride.0), Int64(stride.1)], p = [Int64(padding.0), Int64(padding.1)]
    let d = [Int64(dilation.0), Int64(dilation.1)]
    return try make("conv2d") { ct_conv2d(x.handle, w.handle, b?.handle, s, p, d, Int64(groups), $0) }
  }

  public static func convTranspose2d(
    _ x: Tensor, _ w: Tensor, _ b: Tensor? = nil, stride: (Int, Int) = (1, 1),
    padding: (Int, Int) = (0, 0), outputPadding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1),
    groups: Int = 1
  ) throws(TorchError) -> Tensor {
    let s = [Int64(stride.0), Int64(stride.1)], p = [Int64(padding.0), Int64(padding.1)]
    let o = [Int64(outputPadding.0), Int64(outputPadding.1)], d = [Int64(dilation.0), Int64(dilation.1)]
    return try make("conv_transpose2d") {
      ct_conv_transpose2d(x.handle, w.handle, b?.handle, s, p, o, d, Int64(groups), $0)
    }
  }

  public static func groupNorm(
    _ x: Tensor, numGroups: Int, weight: Tensor?, bias: Tensor?, eps: Double = 1e-5
  ) throws(TorchError) -> Tensor {
    try make("group_norm") { ct_group_norm(x.handle, Int64(numGroups), weight?.handle, bias?.handle, eps, $0) }
  }

  public static func layerNorm(
    _ x: Tensor, normalizedShape: [Int], weight: Tensor?, bias: Tensor?, eps: Double = 1e-5
  ) throws(TorchError) -> Tensor {
    try make("layer_norm") { out in
      normalizedShape.withInt64s { ct_layer_norm(x.handle, $0, $1, weight?.handle, bias?.handle, eps, out) }
    }
  }

  public static func embedding(_ indices: Tensor, _ weight: Tensor) throws(TorchError) -> Tensor {
    try make("embedding") { ct_embedding(weight.handle, indices.handle, $0) }
  }

  public static func dropout(_ x: Tensor, p: Double = 0.5, training: Bool = true) throws(TorchError) -> Tensor {
    try make("dropout") { ct_dropout(x.handle, p, training, $0) }
  }

  public static func silu(_ x: Tensor) throws(TorchError) -> Tensor { try unary(CT_SILU, "silu", x) }
  public static func relu(_ x: Tensor) throws(TorchError) -> Tensor { try unary(CT_RELU, "relu", x) }
  public static func sigmoid(_ x: Tensor) throws(TorchError) -> Tensor { try unary(CT_SIGMOID, "sigmoid", x) }
  public static func mish(_ x: Tensor) throws(TorchError) -> Tensor { try unary(CT_MISH, "mish", x) }
  public static func softplus(_ x: Tensor) throws(TorchError) -> Tensor { try unary(CT_SOFTPLUS, "softplus", x) }
  /// transformers' quick_gelu: x * sigmoid(1.702 x).
  public static func quickGELU(_ x: Tensor) throws(TorchError) -> Tensor { try unary(CT_QUICK_GELU, "quick_gelu", x) }

  public static func gelu(_ x: Tensor, approximate: GELUApproximation = .none) throws(TorchError) -> Tensor {
    switch approximate {
    case .none: try unary(CT_GELU, "gelu", x)
    case .tanh: try unary(CT_GELU_TANH, "gelu", x)
    }
  }

  /// dtype: compute in that dtype (as torch's `dtype=` argument).
  public static func softmax(_ x: Tensor, dim: Int, dtype: DType? = nil) throws(TorchError) -> Tensor {
    try make("softmax") { ct_softmax(x.handle, Int64(dim), dtype?.rawValue ?? -1, $0) }
  }

  public static func logSoftmax(_ x: Tensor, dim: Int, dtype: DType? = nil) throws(TorchError) -> Tensor {
    try make("log_softmax") { ct_log_softmax(x.handle, Int64(dim), dtype?.rawValue ?? -1, $0) }
  }

  /// q, k, v: [batch, heads, seq, dim]. Flash / memory-efficient kernels where libtorch picks them.
  public static func scaledDotProductAttention(
    _ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil, dropoutP: Double = 0,
    isCausal: Bool = false, scale: Double? = nil
  ) throws(TorchError) -> Tensor {
    try make("scaled_dot_product_attention") {
      ct_scaled_dot_product_attention(
        q.handle, k.handle, v.handle, mask?.handle, dropoutP, isCausal, scale != nil, scale ?? 0, $0)
    }
  }

  /// 4-D input to (height, width).
  public static func interpolate(
    _ x: Tensor, size: (Int, Int), mode: InterpolationMode = .nearest, alignCorners: Bool = false,
    antialias: Bool = false
  ) throws(TorchError) -> Tensor {
    try make("interpolate") {
      ct_interpolate(x.handle, mode.rawValue, Int64(size.0), Int64(size.1), alignCorners, antialias, $0)
    }
  }

  /// 4-D input scaled by an integer factor (diffusers' Upsample2D uses 2).
  public static func interpolate(
    _ x: Tensor, scaleFactor: Int, mode: InterpolationMode = .nearest
  ) throws(TorchError) -> Tensor {
    let s = x.shape
    guard s.count == 4 else {
      throw TorchError(op: "interpolate", message: "expected a 4-D input, got shape \(s)")
    }
    return try interpolate(x, size: (s[2] * scaleFactor, s[3] * scaleFactor), mode: mode)
  }

  /// pads: (left, right, top, bottom, ...) from the last dimension backwards, as torch.
  public static func pad(_ x: Tensor, _ pads: [Int], mode: PadMode = .constant, value: Double = 0) throws(TorchError) -> Tensor {
    try make("pad") { out in pads.withInt64s { ct_pad(x.handle, $0, $1, mode.rawValue, value, out) } }
  }

  public static func mseLoss(_ a: Tensor, _ b: Tensor, reduction: Reduction = .mean) throws(TorchError) -> Tensor {
    try make("mse_loss") { ct_mse_loss(a.handle, b.handle, reduction.rawValue, $0) }
  }

  public static func huberLoss(_ a: Tensor, _ b: Tensor, reduction: Reduction = .mean, delta: Double = 1) throws(TorchError) -> Tensor {
    try make("huber_loss") { ct_huber_loss(a.handle, b.handle, reduction.rawValue, delta, $0) }
  }

  public static func crossEntropy(_ logits: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws(TorchError) -> Tensor {
    try make("cross_entropy") { ct_cross_entropy(logits.handle, target.handle, reduction.rawValue, $0) }
  }
}
