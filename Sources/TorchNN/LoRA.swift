import Torch

/// One LoRA adapter on a layer, as PEFT's: lora_A [r, in(, kh, kw)] then lora_B [out, r(, 1, 1)],
/// output scaled by `scaling` (alpha / r, times a user scale).
public final class LoRAAdapter {
  public let down: Parameter  // lora_A
  public let up: Parameter  // lora_B
  public let rank: Int
  public let alpha: Double
  public var scaling: Double
  public let dropout: Double
  public internal(set) var fused = false
  /// Weights used instead of `down`/`up` while set (an EMA copy's forward).
  public var substitute: (down: Tensor, up: Tensor)?

  init(down: Parameter, up: Parameter, rank: Int, alpha: Double, dropout: Double) {
    self.down = down
    self.up = up
    self.rank = rank
    self.alpha = alpha
    self.scaling = alpha / Double(rank)
    self.dropout = dropout
  }

  var downWeight: Tensor { substitute?.down ?? down.tensor }
  var upWeight: Tensor { substitute?.up ?? up.tensor }
}

/// A layer LoRA can adapt (Linear, Conv2d). Adapters' parameters are named
/// `<module>.lora_A.weight` / `<module>.lora_B.weight`, as PEFT files without the adapter name.
public protocol LoRATarget: AnyObject {
  var path: ModulePath { get }
  var weight: Parameter { get }
  var lora: [LoRAAdapter] { get }
  /// lora_A's shape for a rank (the layer's kernel for convolutions) and its fan-in.
  func loraDownShape(rank: Int) -> [Int]
  func loraUpShape(rank: Int) -> [Int]
  func append(_ adapter: LoRAAdapter)
}

extension LoRATarget {
  /// Adds an adapter: lora_A Kaiming-uniform (a = √5, PEFT's init) drawn from `generator`,
  /// lora_B zero (so the layer starts unchanged). Its parameters are registered in `store`
  /// (default: the layer's own, as a loaded LoRA), so that a trained adapter lives apart from
  /// the base weights it adapts.
  @discardableResult
  public func addLoRA(
    rank: Int, alpha: Double, dropout: Double = 0, trainable: Bool = true, store: ParameterStore? = nil,
    generator: Generator? = nil
  ) throws(TorchError) -> LoRAAdapter {
    let at = store.map { ModulePath(store: $0, segments: path.segments) } ?? path
    let downShape = loraDownShape(rank: rank)
    let fanIn = downShape.dropFirst().reduce(1, *)
    let bound = fanIn > 0 ? 1.0 / Double(fanIn).squareRoot() : 0
    let a = try at.parameter("lora_A.weight", shape: downShape, trainable: trainable) { (t: Tensor) throws(TorchError) in
      try t.uniform_(-bound, bound, generator: generator)
    }
    let b = try at.parameter("lora_B.weight", shape: loraUpShape(rank: rank), trainable: trainable) { (t: Tensor) throws(TorchError) in
      try t.zero_()
    }
    let adapter = LoRAAdapter(down: a, up: b, rank: rank, alpha: alpha, dropout: dropout)
    append(adapter)
    return adapter
  }

  /// Whether adapters run: PEFT's enable/disable_adapters, one switch per base store.
  var adaptersActive: Bool { path.store.adaptersEnabled }

  func loraInput(_ a: LoRAAdapter, _ x: Tensor) throws(TorchError) -> Tensor {
    a.dropout > 0 && path.store.isTraining ? try F.dropout(x, p: a.dropout) : x
  }
}

extension Linear {
  public func loraDownShape(rank: Int) -> [Int] { [rank, inFeatures] }
  public func loraUpShape(rank: Int) -> [Int] { [outFeatures, rank] }
  public func append(_ adapter: LoRAAdapter) { lora.append(adapter) }

  func addLoRA(_ out: Tensor, _ x: Tensor) throws(TorchError) -> Tensor {
    guard adaptersActive else { return out }
    var y = out
    for a in lora where !a.fused {
      y = try y + F.linear(F.linear(loraInput(a, x), a.downWeight), a.upWeight) * a.scaling
    }
    return y
  }
}

extension Conv2d {
  public func loraDownShape(rank: Int) -> [Int] {
    let w = weight.tensor.shape  // [out, in/groups, kh, kw]
    return [rank, w[1], w[2], w[3]]
  }
  public func loraUpShape(rank: Int) -> [Int] { [weight.tensor.shape[0], rank, 1, 1] }
  public func append(_ adapter: LoRAAdapter) { lora.append(adapter) }

  func addLoRA(_ out: Tensor, _ x: Tensor) throws(TorchError) -> Tensor {
    guard adaptersActive else { return out }
    var y = out
    for a in lora where !a.fused {
      // lora_A has the layer's kernel, stride, padding and dilation; lora_B is 1×1
      let h = try F.conv2d(loraInput(a, x), a.downWeight, stride: stride, padding: padding, dilation: dilation)
      y = try y + F.conv2d(h, a.upWeight) * a.scaling
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
