import Foundation
import Testing
import Torch
import TorchNN

@testable import LCMTraining

/// The LoRA step tests' comparison with a fixture's `grad.<module>.lora_A/B.weight` (the clipped
/// gradients) and `after.<module>...` (the adapters after one AdamW step): the gradients agree to
/// 1e-4 of the largest (fp32 backward sums in another order; the Huber loss's d / sqrt(d² + c²)
/// sharpens rounding where |d| ≈ c), and after AdamW — which moves an element by about lr whatever
/// its gradient's size — the adapters agree where the gradient is above rounding level.
func checkAdaptersAfterStep(
  _ method: LoRADistillation, optimizer: some Optimizer, fixture t: (String) throws -> Tensor, minimumCompared: Int
) throws {
  func maxAbsDiff(_ a: Tensor, _ b: Tensor) throws -> Double { try (a.to(.float64) - b.to(.float64)).abs().amax().item() }
  var gradWorst = 0.0, gradMax = 0.0
  for (module, a) in method.adapters {
    for (suffix, p) in [("lora_A.weight", a.down), ("lora_B.weight", a.up)] {
      let g = try t("grad.\(module).\(suffix)")
      gradMax = max(gradMax, try g.abs().amax().item())
      gradWorst = max(gradWorst, try maxAbsDiff(try #require(p.tensor.grad), g))
    }
  }
  #expect(gradWorst <= 1e-4 * gradMax, "clipped gradients: max abs diff \(gradWorst) (largest \(gradMax))")
  try optimizer.step()
  var worst = 0.0, compared = 0
  for (module, a) in method.adapters {
    for (suffix, p) in [("lora_A.weight", a.down), ("lora_B.weight", a.up)] {
      let significant = try t("grad.\(module).\(suffix)").abs().gt(1e-4 * gradMax)
      let diff = try (p.tensor.to(.float64) - t("after.\(module).\(suffix)").to(.float64)).abs()
      worst = max(worst, try (diff * significant.to(.float64)).amax().item())
      compared += try significant.to(.int64).sum().itemInt()
    }
  }
  #expect(compared > minimumCompared && worst < 1e-6, "adapters after AdamW: max abs diff \(worst) over \(compared) elements")
}
