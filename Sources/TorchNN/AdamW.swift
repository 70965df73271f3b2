import Torch

/// torch.optim.AdamW over parameters: libtorch's own implementation (torch::optim::AdamW) or its
/// fused kernel (`fused: true`, as torch.optim.AdamW(fused=True)).
public final class AdamW: Optimizer {
  let handle: AdamWHandle
  public let parameters: [Parameter]
  public let fused: Bool
  public var kind: String { "adamw" }

  public init(
    _ parameters: [Parameter], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
    eps: Double = 1e-8, weightDecay: Double = 1e-2, amsgrad: Bool = false, fused: Bool = false
  ) throws(TorchError) {
    self.parameters = parameters
    self.fused = fused
    handle = try AdamWHandle(
      parameters.map(\.tensor), lr: lr, beta1: betas.0, beta2: betas.1, eps: eps,
      weightDecay: weightDecay, amsgrad: amsgrad, fused: fused)
  }

  public var lr: Double { (try? handle.lr()) ?? 0 }

  public func setLR(_ lr: Double) throws(TorchError) { try handle.setLR(lr) }

  public func step() throws(TorchError) { try handle.step(gradScale: nil, foundInf: nil) }

  /// gradScale / foundInf (fused only): unscale inside the kernel and skip when inf was found.
  public func step(gradScale: Tensor?, foundInf: Tensor?) throws(TorchError) {
    try handle.step(gradScale: gradScale, foundInf: foundInf)
  }

  public func zeroGrad() throws(TorchError) { try handle.zeroGrad() }

  /// "<param>.step", "<param>.exp_avg", "<param>.exp_avg_sq" (and "<param>.max_exp_avg_sq" with
  /// amsgrad), for parameters that have state.
  public func stateDict() throws(TorchError) -> [(String, Tensor)] {
    var out: [(String, Tensor)] = []
    for (i, p) in parameters.enumerated() {
      guard let s = try handle.state(i) else { continue }
      out.append(("\(p.name).step", s.step))
      out.append(("\(p.name).exp_avg", s.expAvg))
      out.append(("\(p.name).exp_avg_sq", s.expAvgSq))
      if let m = s.maxExpAvgSq { out.append(("\(p.name).max_exp_avg_sq", m)) }
    }
    return out
  }

  public func loadStateDict(_ state: [String: Tensor]) throws(TorchError) {
    for (i, p) in parameters.enumerated() {
      guard let step = state["\(p.name).step"] else { continue }
      guard let ea = state["\(p.name).exp_avg"], let eas = state["\(p.name).exp_avg_sq"] else {
        throw TorchError(op: "AdamW.load_state_dict", message: "state of '\(p.name)' lacks exp_avg or exp_avg_sq (is it an 8-bit AdamW state?)")
      }
      try handle.setState(i, step: step, expAvg: ea, expAvgSq: eas, maxExpAvgSq: state["\(p.name).max_exp_avg_sq"])
    }
  }
}
