import Torch

/// What a trainer needs of an optimizer: a step, gradients cleared, the learning rate, and its
/// state as named tensors for checkpoints (restored exactly).
public protocol Optimizer: AnyObject {
  var parameters: [Parameter] { get }
  /// The name written into run configs and checked on resume ("adamw", "adamw8bit").
  var kind: String { get }
  var lr: Double { get }
  func setLR(_ lr: Double) throws(TorchError)
  func step() throws(TorchError)
  /// Sets every gradient to None (set_to_none=True, torch's default).
  func zeroGrad() throws(TorchError)
  func stateDict() throws(TorchError) -> [(String, Tensor)]
  /// Restores a state written by stateDict(); parameters absent from it start fresh.
  func loadStateDict(_ state: [String: Tensor]) throws(TorchError)
}

extension Optimizer {
  /// Bytes the optimizer state takes, the step counters included.
  public func stateBytes() throws(TorchError) -> Int {
    try stateDict().reduce(0) { $0 + $1.1.numel * $1.1.dtype.byteSize }
  }
}
