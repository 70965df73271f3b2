import CTorch

/// Thin wrappers of the shim's AdamW; TorchNN.AdamW is the API to use.
public enum TorchOptim {
  public struct AdamWState {
    public let step: Tensor
    public let expAvg: Tensor
    public let expAvgSq: Tensor
    public let maxExpAvgSq: Tensor?
  }

  public static func adamwNew(
    _ params: [Tensor], lr: Double, beta1: Double, beta2: Double, eps: Double, weightDecay: Double,
    amsgrad: Bool, fused: Bool
  ) throws(TorchError) -> OpaquePointer {
    var out: CTOptimizer?
    let status = params.withHandles { h, n in
      ct_adamw_new(h, n, lr, beta1, beta2, eps, weightDecay, amsgrad, fused, &out)
    }
    try check("AdamW", status)
    return out!
  }

  public static func adamwFree(_ o: OpaquePointer) { ct_adamw_free(o) }

  public static func adamwStep(_ o: OpaquePointer, gradScale: Tensor?, foundInf: Tensor?) throws(TorchError) {
    try check("AdamW.step", ct_adamw_step(o, gradScale?.handle, foundInf?.handle))
  }

  public static func adamwZeroGrad(_ o: OpaquePointer) throws(TorchError) {
    try check("AdamW.zero_grad", ct_adamw_zero_grad(o))
  }

  public static func adamwSetLR(_ o: OpaquePointer, _ lr: Double) throws(TorchError) {
    try check("AdamW.set_lr", ct_adamw_set_lr(o, lr))
  }

  public static func adamwGetLR(_ o: OpaquePointer) throws(TorchError) -> Double {
    var lr = 0.0
    try check("AdamW.lr", ct_adamw_get_lr(o, &lr))
    return lr
  }

  public static func adamwGetState(_ o: OpaquePointer, _ index: Int) throws(TorchError) -> AdamWState? {
    var has = false
    var s: CTTensor?, a: CTTensor?, b: CTTensor?, m: CTTensor?
    try check("AdamW.state", ct_adamw_get_state(o, Int64(index), &has, &s, &a, &b, &m))
    guard has, let s, let a, let b else { return nil }
    return AdamWState(
      step: Tensor(handle: s), expAvg: Tensor(handle: a), expAvgSq: Tensor(handle: b),
      maxExpAvgSq: m.map { Tensor(handle: $0) })
  }

  public static func adamwSetState(
    _ o: OpaquePointer, _ index: Int, step: Tensor, expAvg: Tensor, expAvgSq: Tensor, maxExpAvgSq: Tensor?
  ) throws(TorchError) {
    try check(
      "AdamW.set_state",
      ct_adamw_set_state(o, Int64(index), step.handle, expAvg.handle, expAvgSq.handle, maxExpAvgSq?.handle))
  }
}
