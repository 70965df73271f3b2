import Torch

/// Dynamic loss scaling for fp16 training, as torch.amp.GradScaler with its defaults: the loss is
/// multiplied by `scale` before backward; gradients are unscaled before clipping; a step whose
/// gradients hold inf/NaN is skipped and halves the scale; `growthInterval` clean steps in a row
/// double it.
public final class GradScaler {
  public private(set) var scale: Double
  public private(set) var growthTracker = 0
  public let growthFactor: Double
  public let backoffFactor: Double
  public let growthInterval: Int

  public init(initScale: Double = 65536, growthFactor: Double = 2, backoffFactor: Double = 0.5, growthInterval: Int = 2000) {
    scale = initScale
    self.growthFactor = growthFactor
    self.backoffFactor = backoffFactor
    self.growthInterval = growthInterval
  }

  /// The loss to backpropagate.
  public func scaled(_ loss: Tensor) throws(TorchError) -> Tensor { try loss * scale }

  /// Divides the gradients by the scale in place; returns whether any of them is inf or NaN.
  public func unscale(_ params: [Tensor]) throws(TorchError) -> Bool {
    let grads = params.compactMap(\.grad)
    guard let device = grads.first?.device else { return false }
    let foundInf = try Tensor.zeros([1], device: device)
    let invScale = try Tensor.full([1], 1 / scale, device: device)
    try Foreach.ampUnscale_(grads, foundInf: foundInf, invScale: invScale)
    return try foundInf.item() != 0
  }

  /// After the optimizer step (or its skip): back off on inf/NaN, grow after enough clean steps.
  public func update(foundInf: Bool) {
    if foundInf {
      scale *= backoffFactor
      growthTracker = 0
    } else {
      growthTracker += 1
      if growthTracker == growthInterval {
        scale *= growthFactor
        growthTracker = 0
      }
    }
  }

  public var state: [String: Double] { ["scale": scale, "growth_tracker": Double(growthTracker)] }

  public func load(state: [String: Double]) {
    if let s = state["scale"] { scale = s }
    if let t = state["growth_tracker"] { growthTracker = Int(t) }
  }
}
