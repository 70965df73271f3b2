import Torch

// torch.nn layers with PyTorch's default initialisations (kaiming_uniform_(a=√5) for weights,
// U(±1/√fan_in) for biases, ones/zeros for norms, N(0, 1) for embeddings). Each takes the path
// of its checkpoint keys.

/// kaiming_uniform_(a=√5) reduces to U(-1/√fan_in, 1/√fan_in), as does the default bias init.
func uniformFanIn(_ fanIn: Int) -> (Tensor) throws(TorchError) -> Void {
  let bound = fanIn > 0 ? 1.0 / Double(fanIn).squareRoot() : 0
  return { (t: Tensor) throws(TorchError) in try t.uniform_(-bound, bound) }
}

public final class Linear: LoRATarget {
  public let weight: Parameter
  public let bias: Parameter?
  public let inFeatures: Int
  public let outFeatures: Int
  public let path: ModulePath
  public internal(set) var lora: [LoRAAdapter] = []

  public init(_ path: ModulePath, inFeatures: Int, outFeatures: Int, bias: Bool = true) throws(TorchError) {
    self.inFeatures = inFeatures
    self.outFeatures = outFeatures
    self.path = path
    weight = try path.parameter("weight", shape: [outFeatures, inFeatures], initialize: uniformFanIn(inFeatures))
    self.bias = bias ? try path.parameter("bias", shape: [outFeatures], initialize: uniformFanIn(inFeatures)) : nil
    path.store.register(self)
  }

  public func callAsFunction(_ x: Tensor) throws(TorchError) -> Tensor {
    let out = try F.linear(x, weight.tensor, bias?.tensor)
    return lora.isEmpty ? out : try addLoRA(out, x)
  }
}

public final class Conv2d: LoRATarget {
  public let weight: Parameter
  public let bias: Parameter?
  public let path: ModulePath
  public internal(set) var lora: [LoRAAdapter] = []
  public let stride: (Int, Int)
  public let padding: (Int, Int)
  public let dilation: (Int, Int)
  public let groups: Int

  public init(
    _ path: ModulePath, inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1,
    padding: Int = 0, dilation: Int = 1, groups: Int = 1, bias: Bool = true
  ) throws(TorchError) {
    guard groups > 0, inChannels % groups == 0, outChannels % groups == 0 else {
      throw TorchError(op: "Conv2d", message: "\(path.name): channels \(inChannels)→\(outChannels) not divisible by groups \(groups)")
    }
    self.path = path
    self.stride = (stride, stride)
    self.padding = (padding, padding)
    self.dilation = (dilation, dilation)
    self.groups = groups
    let fanIn = inChannels / groups * kernelSize * kernelSize
    weight = try path.parameter(
      "weight", shape: [outChannels, inChannels / groups, kernelSize, kernelSize], initialize: uniformFanIn(fanIn))
    self.bias = bias ? try path.parameter("bias", shape: [outChannels], initialize: uniformFanIn(fanIn)) : nil
    path.store.register(self)
  }

  public func callAsFunction(_ x: Tensor) throws(TorchError) -> Tensor {
    let out = try F.conv2d(x, weight.tensor, bias?.tensor, stride: stride, padding: padding, dilation: dilation, groups: groups)
    return lora.isEmpty ? out : try addLoRA(out, x)
  }
}

public final class GroupNorm {
  public let weight: Parameter?
  public let bias: Parameter?
  public let numGroups: Int
  public let eps: Double

  public init(_ path: ModulePath, numGroups: Int, numChannels: Int, eps: Double = 1e-5, affine: Bool = true) throws(TorchError) {
    guard numGroups > 0, numChannels % numGroups == 0 else {
      throw TorchError(op: "GroupNorm", message: "\(path.name): \(numChannels) channels not divisible by \(numGroups) groups")
    }
    self.numGroups = numGroups
    self.eps = eps
    weight = affine ? try path.parameter("weight", shape: [numChannels]) { (t: Tensor) throws(TorchError) in try t.fill_(1) } : nil
    bias = affine ? try path.parameter("bias", shape: [numChannels]) { (t: Tensor) throws(TorchError) in try t.zero_() } : nil
  }

  public func callAsFunction(_ x: Tensor) throws(TorchError) -> Tensor {
    try F.groupNorm(x, numGroups: numGroups, weight: weight?.tensor, bias: bias?.tensor, eps: eps)
  }
}

public final class LayerNorm {
  public let weight: Parameter?
  public let bias: Parameter?
  public let normalizedShape: [Int]
  public let eps: Double

  public init(
    _ path: ModulePath, normalizedShape: [Int], eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true
  ) throws(TorchError) {
    self.normalizedShape = normalizedShape
    self.eps = eps
    weight = elementwiseAffine
      ? try path.parameter("weight", shape: normalizedShape) { (t: Tensor) throws(TorchError) in try t.fill_(1) } : nil
    self.bias = elementwiseAffine && bias
      ? try path.parameter("bias", shape: normalizedShape) { (t: Tensor) throws(TorchError) in try t.zero_() } : nil
  }

  public convenience init(_ path: ModulePath, _ dim: Int, eps: Double = 1e-5) throws(TorchError) {
    try self.init(path, normalizedShape: [dim], eps: eps)
  }

  public func callAsFunction(_ x: Tensor) throws(TorchError) -> Tensor {
    try F.layerNorm(x, normalizedShape: normalizedShape, weight: weight?.tensor, bias: bias?.tensor, eps: eps)
  }
}

public final class Embedding {
  public let weight: Parameter
  public let numEmbeddings: Int
  public let embeddingDim: Int

  public init(_ path: ModulePath, numEmbeddings: Int, embeddingDim: Int) throws(TorchError) {
    self.numEmbeddings = numEmbeddings
    self.embeddingDim = embeddingDim
    weight = try path.parameter("weight", shape: [numEmbeddings, embeddingDim]) { (t: Tensor) throws(TorchError) in
      try t.normal_()
    }
  }

  public func callAsFunction(_ indices: Tensor) throws(TorchError) -> Tensor {
    try F.embedding(indices, weight.tensor)
  }
}

/// Active only while the store is in training mode.
public final class Dropout {
  public let p: Double
  let store: ParameterStore

  public init(_ path: ModulePath, p: Double = 0.5) {
    self.p = p
    store = path.store
  }

  public func callAsFunction(_ x: Tensor) throws(TorchError) -> Tensor {
    guard store.isTraining, p > 0 else { return x }
    return try F.dropout(x, p: p, training: true)
  }
}
