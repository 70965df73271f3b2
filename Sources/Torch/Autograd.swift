import CTorch

extension Tensor {
  public var requiresGrad: Bool {
    var b = false
    _ = ct_requires_grad(handle, &b)
    return b
  }

  @discardableResult
  public func requiresGrad_(_ flag: Bool = true) throws(TorchError) -> Tensor {
    try check("requires_grad_", ct_set_requires_grad(handle, flag))
    return self
  }

  public var isLeaf: Bool {
    var b = false
    _ = ct_is_leaf(handle, &b)
    return b
  }

  /// The accumulated gradient, nil when none.
  public var grad: Tensor? {
    var out: CTTensor?
    guard ct_grad(handle, &out) == 0, let out else { return nil }
    return Tensor(handle: out)
  }

  /// Replaces the gradient; nil clears it (set_to_none).
  public func setGrad(_ g: Tensor?) throws(TorchError) {
    try check("set_grad", ct_set_grad(handle, g?.handle))
  }

  public func backward(_ gradient: Tensor? = nil, retainGraph: Bool = false, createGraph: Bool = false) throws(TorchError) {
    try check("backward", ct_backward(handle, gradient?.handle, retainGraph, createGraph))
  }

  public func detach() throws(TorchError) -> Tensor { try make("detach") { ct_detach(handle, $0) } }

  @discardableResult
  public func detach_() throws(TorchError) -> Tensor {
    try check("detach_", ct_detach_(handle))
    return self
  }
}

extension Torch {
  public static var isGradEnabled: Bool {
    var b = false
    _ = ct_is_grad_enabled(&b)
    return b
  }

  public static func setGradEnabled(_ enabled: Bool) { _ = ct_set_grad_enabled(enabled) }

  /// Runs body with gradient recording off (torch.no_grad()); thread-local, restored after.
  public static func noGrad<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
    try withGradMode(false, body)
  }

  /// Runs body with gradient recording on (torch.enable_grad()).
  public static func enableGrad<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
    try withGradMode(true, body)
  }

  static func withGradMode<R, E: Error>(_ enabled: Bool, _ body: () throws(E) -> R) throws(E) -> R {
    let previous = isGradEnabled
    _ = ct_set_grad_enabled(enabled)
    defer { _ = ct_set_grad_enabled(previous) }
    return try body()
  }

  /// torch.autocast(device_type, dtype): ops inside run in the lower precision where torch's
  /// autocast lists say so. Thread-local; nests; restores the previous state.
  public static func autocast<R>(
    _ device: Device.Kind, dtype: DType, enabled: Bool = true, _ body: () throws -> R
  ) throws -> R {
    var prevEnabled = false
    var prevDType: Int32 = 0
    try check("autocast", ct_autocast_enter(device.rawValue, enabled, dtype.rawValue, &prevEnabled, &prevDType))
    defer { _ = ct_autocast_exit(device.rawValue, prevEnabled, prevDType) }
    return try body()
  }

  public static func isAutocastEnabled(_ device: Device.Kind) -> Bool {
    var b = false
    _ = ct_autocast_is_enabled(device.rawValue, &b)
    return b
  }

  /// torch.autograd.grad: gradients of outputs with respect to inputs (nil where unused).
  public static func grad(
    outputs: [Tensor], inputs: [Tensor], gradOutputs: [Tensor?]? = nil, retainGraph: Bool = false,
    createGraph: Bool = false, allowUnused: Bool = false
  ) throws(TorchError) -> [Tensor?] {
    let gos: [CTTensor?] = gradOutputs?.map { $0?.handle } ?? Array(repeating: nil, count: outputs.count)
    guard gos.count == outputs.count else {
      throw TorchError(op: "autograd.grad", message: "\(outputs.count) outputs but \(gos.count) grad_outputs")
    }
    var grads = [CTTensor?](repeating: nil, count: inputs.count)
    let status = withExtendedLifetime(gradOutputs) {
      outputs.withHandles { o, no in
        inputs.withHandles { i, ni in
          ct_autograd_grad(o, gos, no, i, ni, retainGraph, createGraph, allowUnused, &grads)
        }
      }
    }
    try check("autograd.grad", status)
    return grads.map { $0.map { Tensor(handle: $0) } }
  }

  /// Activation checkpointing (torch.utils.checkpoint, reentrant): body runs without storing
  /// activations and is run again during backward. Without grad recording it just runs body.
  public static func checkpoint(
    _ inputs: [Tensor], _ body: @escaping ([Tensor]) throws -> [Tensor]
  ) throws -> [Tensor] {
    guard isGradEnabled else { return try body(inputs) }
    let box = Unmanaged.passRetained(CheckpointBox(body)).toOpaque()
    var outs = [CTTensor?](repeating: nil, count: 64)
    var count: Int64 = 0
    let status = inputs.withHandles { h, n in
      ct_checkpoint(checkpointCallback, checkpointRelease, box, h, n, &outs, 64, &count)
    }
    try check("checkpoint", status)
    return outs.prefix(Int(count)).map { Tensor(handle: $0!) }
  }
}

final class CheckpointBox {
  let body: ([Tensor]) throws -> [Tensor]
  init(_ body: @escaping ([Tensor]) throws -> [Tensor]) { self.body = body }
}

private func newHandle(_ h: CTTensor) -> CTTensor {
  var out: CTTensor?
  _ = ct_tensor_clone_handle(h, &out)
  return out!
}

private let checkpointCallback: CTCheckpointFn = { ctx, inputs, n, outputs, cap in
  let box = Unmanaged<CheckpointBox>.fromOpaque(ctx!).takeUnretainedValue()
  // The shim frees its input handles after the call: take our own.
  let ts = (0..<Int(n)).map { Tensor(handle: newHandle(inputs![$0]!)) }
  do {
    let result = try box.body(ts)
    guard result.count <= Int(cap) else {
      ct_set_error("checkpointed block returned \(result.count) tensors (at most \(cap))")
      return -1
    }
    for (i, t) in result.enumerated() { outputs![i] = newHandle(t.handle) }
    return Int64(result.count)
  } catch {
    ct_set_error("\(error)")
    return -1
  }
}

private let checkpointRelease: CTReleaseFn = { ctx in
  Unmanaged<CheckpointBox>.fromOpaque(ctx!).release()
}
