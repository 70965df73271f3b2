import CTorch

/// One libtorch AdamW (torch::optim::AdamW, or the fused kernel as torch.optim.AdamW(fused=True)),
/// owning its C handle: made once, freed once in deinit. TorchNN.AdamW is the API to use.
public final class AdamWHandle {
  private let pointer: OpaquePointer

  public struct State {
    public let step: Tensor
    public let expAvg: Tensor
    public let expAvgSq: Tensor
    public let maxExpAvgSq: Tensor?
  }

  public init(
    _ params: [Tensor], lr: Double, beta1: Double, beta2: Double, eps: Double, weightDecay: Double,
    amsgrad: Bool, fused: Bool
  ) throws(TorchError) {
    var out: CTOptimizer?
    let status = params.withHandles { h, n in
      ct_adamw_new(h, n, lr, beta1, beta2, eps, weightDecay, amsgrad, fused, &out)
    }
    try check("AdamW", status)
    pointer = out!
  }

  deinit { ct_adamw_free(pointer) }

  /// gradScale / foundInf (fused only): unscale inside the kernel and skip when inf was found.
  public func step(gradScale: Tensor?, foundInf: Tensor?) throws(TorchError) {
    try check("AdamW.step", ct_adamw_step(pointer, gradScale?.handle, foundInf?.handle))
  }

  public func zeroGrad() throws(TorchError) { try check("AdamW.zero_grad", ct_adamw_zero_grad(pointer)) }

  public func setLR(_ lr: Double) throws(TorchError) { try check("AdamW.set_lr", ct_adamw_set_lr(pointer, lr)) }

  public func lr() throws(TorchError) -> Double {
    var lr = 0.0
    try check("AdamW.lr", ct_adamw_get_lr(pointer, &lr))
    return lr
  }

  /// The state of parameter `index`; nil before its first step.
  public func state(_ index: Int) throws(TorchError) -> State? {
    var has = false
    var s: CTTensor?, a: CTTensor?, b: CTTensor?, m: CTTensor?
    try check("AdamW.state", ct_adamw_get_state(pointer, Int64(index), &has, &s, &a, &b, &m))
    guard has, let s, let a, let b else { return nil }
    return State(
      step: Tensor(handle: s), expAvg: Tensor(handle: a), expAvgSq: Tensor(handle: b),
      maxExpAvgSq: m.map { Tensor(handle: $0) })
  }

  public func setState(_ index: Int, step: Tensor, expAvg: Tensor, expAvgSq: Tensor, maxExpAvgSq: Tensor?) throws(TorchError) {
    try check(
      "AdamW.set_state",
      ct_adamw_set_state(pointer, Int64(index), step.handle, expAvg.handle, expAvgSq.handle, maxExpAvgSq?.handle))
  }
}

/// Stateless optimizer kernels; the state lives in the caller's tensors.
public enum TorchOptim {
  /// One AdamW8bit step of one parameter (bitsandbytes' algorithm, ct_adamw8bit_update_):
  /// uint8 moments with their absmax and maps, or float32 moments (absmax and maps nil).
  public static func adamw8bitUpdate(
    param: Tensor, grad: Tensor, state1: Tensor, state2: Tensor, absmax1: Tensor?, absmax2: Tensor?,
    qmap1: Tensor?, qmap2: Tensor?, step: Int, lr: Double, beta1: Double, beta2: Double, eps: Double,
    weightDecay: Double
  ) throws(TorchError) {
    try check(
      "AdamW8bit.step",
      ct_adamw8bit_update_(
        param.handle, grad.handle, state1.handle, state2.handle, absmax1?.handle, absmax2?.handle, qmap1?.handle,
        qmap2?.handle, Int64(step), lr, beta1, beta2, eps, weightDecay))
  }
}
