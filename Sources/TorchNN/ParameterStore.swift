import Torch

/// One named tensor of a model: a trainable weight, a frozen weight, or a buffer.
public final class Parameter {
  public let name: String
  public internal(set) var tensor: Tensor
  public let isBuffer: Bool
  public private(set) var trainable: Bool

  init(name: String, tensor: Tensor, isBuffer: Bool, trainable: Bool) {
    self.name = name
    self.tensor = tensor
    self.isBuffer = isBuffer
    self.trainable = trainable
  }

  /// Marks the parameter trainable (requires_grad) or frozen.
  public func setTrainable(_ flag: Bool) throws(TorchError) {
    guard !isBuffer else { return }
    trainable = flag
    try tensor.requiresGrad_(flag)
  }

  /// Replaces the tensor (a load or a move), keeping the trainable flag.
  public func replace(_ t: Tensor) throws(TorchError) {
    let value = t.requiresGrad ? try t.detach() : t
    if trainable { try value.requiresGrad_(true) }
    tensor = value
  }
}

/// The parameters of a model, keyed by their checkpoint names ("down_blocks.0.resnets.1.conv1.weight").
/// Layers create their parameters through a `ModulePath`, so the names are written once, where
/// the layer is built.
public final class ParameterStore {
  public private(set) var device: Device
  public private(set) var dtype: DType
  /// Dropout and other train/eval differences read this.
  public var isTraining = false
  /// LoRA adapters on this store's layers run while true (PEFT's enable/disable_adapters).
  public var adaptersEnabled = true
  private var entries: [Parameter] = []
  private var index: [String: Int] = [:]
  /// Linear and Conv2d layers by module name, for LoRA targeting.
  public private(set) var loraTargets: [String: any LoRATarget] = [:]

  func register(_ layer: any LoRATarget) { loraTargets[layer.path.name] = layer }

  /// Models built with device `.meta` have names and shapes but no memory.
  public init(device: Device = .cpu, dtype: DType = .float32) {
    self.device = device
    self.dtype = dtype
  }

  public var root: ModulePath { ModulePath(store: self, segments: []) }

  public var parameters: [Parameter] { entries }
  public var names: [String] { entries.map(\.name) }
  public var trainableParameters: [Parameter] { entries.filter(\.trainable) }
  public subscript(name: String) -> Parameter? { index[name].map { entries[$0] } }

  /// Number of elements over all parameters (buffers excluded).
  public var parameterCount: Int { entries.filter { !$0.isBuffer }.reduce(0) { $0 + $1.tensor.numel } }

  func add(_ name: String, _ tensor: Tensor, isBuffer: Bool, trainable: Bool) throws(TorchError) -> Parameter {
    if index[name] != nil {
      throw TorchError(op: "ParameterStore", message: "parameter '\(name)' is defined twice")
    }
    let p = Parameter(name: name, tensor: tensor, isBuffer: isBuffer, trainable: trainable && !isBuffer)
    if p.trainable { try tensor.requiresGrad_(true) }
    index[name] = entries.count
    entries.append(p)
    return p
  }

  /// Freezes (or unfreezes) every parameter whose name starts with prefix ("" = all).
  public func setTrainable(_ flag: Bool, prefix: String = "") throws(TorchError) {
    for p in entries where p.name.hasPrefix(prefix) { try p.setTrainable(flag) }
  }

  /// Moves every tensor; floating-point parameters take `dtype` when given, buffers of other
  /// types keep theirs. Meta tensors have no values to move: they stay meta and take the new
  /// device and dtype when a state dict is loaded (build on meta, `to(...)`, load).
  public func to(device: Device? = nil, dtype: DType? = nil) throws(TorchError) {
    let target = device ?? self.device
    try Torch.noGrad { () throws(TorchError) in
      for p in entries {
        let t = p.tensor
        if t.device.kind == .meta { continue }
        let newType = (dtype != nil && t.dtype.isFloatingPoint) ? dtype! : t.dtype
        if t.device == target && t.dtype == newType { continue }
        try p.replace(try t.to(target, newType))
      }
    }
    self.device = target
    if let dtype { self.dtype = dtype }
  }

  /// name → tensor, in creation order (the model's state_dict()).
  public func stateDict() -> [(String, Tensor)] { entries.map { ($0.name, $0.tensor) } }
}

/// A position in a model's name tree: `path / "to_out" / 0` names "to_out.0".
public struct ModulePath {
  public let store: ParameterStore
  public let segments: [String]

  public var name: String { segments.joined(separator: ".") }

  public static func / (path: ModulePath, segment: String) -> ModulePath {
    ModulePath(store: path.store, segments: path.segments + [segment])
  }

  public static func / (path: ModulePath, index: Int) -> ModulePath { path / String(index) }

  func key(_ leaf: String) -> String { (segments + [leaf]).joined(separator: ".") }

  /// Creates a parameter at `path.leaf` with the store's device and dtype; `initialize` fills it
  /// (skipped on the meta device, which has no values).
  public func parameter(
    _ leaf: String, shape: [Int], trainable: Bool = true, initialize: (Tensor) throws(TorchError) -> Void
  ) throws(TorchError) -> Parameter {
    let t = try Tensor.empty(shape, dtype: store.dtype, device: store.device)
    if store.device.kind != .meta { try Torch.noGrad { () throws(TorchError) in try initialize(t) } }
    return try store.add(key(leaf), t, isBuffer: false, trainable: trainable)
  }

  /// Registers a buffer (saved and loaded, never trained).
  public func buffer(_ leaf: String, _ tensor: Tensor) throws(TorchError) -> Parameter {
    let t = store.device.kind == .meta ? try Tensor.empty(tensor.shape, dtype: tensor.dtype, device: .meta)
      : try tensor.to(store.device)
    return try store.add(key(leaf), t, isBuffer: true, trainable: false)
  }
}
