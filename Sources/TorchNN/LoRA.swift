import Torch

/// One LoRA adapter on a layer, as PEFT's: lora_A [r, in(, kh, kw)] then lora_B [out, r(, 1, 1)],
/// output scaled by `scaling` (alpha / r, times a user scale).
public final class LoRAAdapter {
  public let down: Parameter  // lora_A
  public let up: Parameter  // lora_B
  public let rank: Int
  public var scaling: Double
  public let dropout: Double
  public internal(set) var fused = false

  init(down: Parameter, up: Parameter, rank: Int, scaling: Double, dropout: Double) {
    self.down = down
    self.up = up
    self.rank = rank
    self.scaling = scaling
    self.dropout = dropout
  }
}

/// A layer LoRA can adapt (Linear, Conv2d). Adapters' parameters are named
/// `<module>.lora_A.weight` / `<module>.lora_B.weight`, as PEFT files without the adapter name.
public protocol LoRATarget: AnyObject {
  var path: ModulePath { get }
  var weight: Parameter { get }
  var lora: [LoRAAdapter] { get }
}

extension Linear {
  /// Adds an adapter: lora_A Kaiming-uniform as PEFT, lora_B zero (so the layer starts unchanged).
  @discardableResult
  public func addLoRA(rank: Int, alpha: Double, dropout: Double = 0, trainable: Bool = true) throws(TorchError) -> LoRAAdapter {
    let a = try path.parameter("lora_A.weight", shape: [rank, inFeatures], trainable: trainable, initialize: uniformFanIn(inFeatures))
    let b = try path.parameter("lora_B.weight", shape: [outFeatures, rank], trainable: trainable) { (t: Tensor) throws(TorchError) in try t.zero_() }
    let adapter = LoRAAdapter(down: a, up: b, rank: rank, scaling: alpha / Double(rank), dropout: dropout)
    lora.append(adapter)
    return adapter
  }

  func addLoRA(_ out: Tensor, _ x: Tensor) throws(TorchError) -> Tensor {
    var y = out
    for a in lora where !a.fused {
      let input = a.dropout > 0 && path.store.isTraining ? try F.dropout(x, p: a.dropout) : x
      y = try y + F.linear(F.linear(input, a.down.tensor), a.up.tensor) * a.scaling
    }
    return y
  }
}

extension Conv2d {
  @discardableResult
  public func addLoRA(rank: Int, alpha: Double, dropout: Double = 0, trainable: Bool = true) throws(TorchError) -> LoRAAdapter {
    let w = weight.tensor.shape  // [out, in/groups, kh, kw]
    let a = try path.parameter("lora_A.weight", shape: [rank, w[1], w[2], w[3]], trainable: trainable, initialize: uniformFanIn(w[1] * w[2] * w[3]))
    let b = try path.parameter("lora_B.weight", shape: [w[0], rank, 1, 1], trainable: trainable) { (t: Tensor) throws(TorchError) in try t.zero_() }
    let adapter = LoRAAdapter(down: a, up: b, rank: rank, scaling: alpha / Double(rank), dropout: dropout)
    lora.append(adapter)
    return adapter
  }

  func addLoRA(_ out: Tensor, _ x: Tensor) throws(TorchError) -> Tensor {
    var y = out
    for a in lora where !a.fused {
      let input = a.dropout > 0 && path.store.isTraining ? try F.dropout(x, p: a.dropout) : x
      // lora_A has the layer's kernel, stride, padding and dilation; lora_B is 1×1
      let h = try F.conv2d(input, a.down.tensor, stride: stride, padding: padding, dilation: dilation)
      y = try y + F.conv2d(h, a.up.tensor) * a.scaling
    }
    return y
  }
}

extension LoRATarget {
  /// ΔW = scaling · B·A in the weight's shape.
  func delta(_ a: LoRAAdapter) throws(TorchError) -> Tensor {
    let w = weight.tensor.shape
    let b2 = try a.up.tensor.reshape([a.up.tensor.size(0), a.rank]).to(.float32)
    let a2 = try a.down.tensor.reshape([a.rank, -1]).to(.float32)
    return try (b2.matmul(a2) * a.scaling).reshape(w).to(weight.tensor.dtype)
  }

  /// Merges the adapters into the weight (diffusers' fuse_lora); forward then skips them.
  public func fuseLoRA() throws(TorchError) {
    try Torch.noGrad { () throws(TorchError) in
      for a in lora where !a.fused {
        try weight.tensor.add_(delta(a))
        a.fused = true
      }
    }
  }

  /// Takes fused adapters back out of the weight (unfuse_lora).
  public func unfuseLoRA() throws(TorchError) {
    try Torch.noGrad { () throws(TorchError) in
      for a in lora where a.fused {
        try weight.tensor.sub_(delta(a))
        a.fused = false
      }
    }
  }
}

extension ParameterStore {
  /// PEFT's target matching: a module whose name equals a target or ends with "." + target.
  public func loraTargets(matching targets: [String]) -> [(String, any LoRATarget)] {
    loraTargets.filter { name, _ in targets.contains { name == $0 || name.hasSuffix("." + $0) } }
      .sorted { $0.key < $1.key }
  }
}
