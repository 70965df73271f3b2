import Testing
import Torch

@testable import TorchNN

/// GradScaler's rules (torch.amp.GradScaler: backoff 0.5 on inf/NaN, ×2 after growth_interval
/// clean steps) and its fused unscale.
@Suite("GradScaler")
struct GradScalerTests {
  @Test func unscaleDividesAndFindsNonFinite() throws {
    let s = GradScaler(initScale: 8)
    let p = try Tensor([1, 2], shape: [2]).requiresGrad_()
    try (p * 1.0).sum().backward(try Tensor.full([], 16))
    #expect(try s.unscale([p]) == false)
    #expect(try p.grad!.toArray(Float.self) == [2, 2])
    let q = try Tensor([1, 2], shape: [2]).requiresGrad_()
    try (q * Double.infinity).sum().backward()
    #expect(try s.unscale([p, q]) == true)
  }

  @Test func backoffAndGrowth() {
    let s = GradScaler(initScale: 1024, growthInterval: 3)
    s.update(foundInf: true)
    #expect(s.scale == 512 && s.growthTracker == 0)
    for _ in 0..<2 { s.update(foundInf: false) }
    #expect(s.scale == 512 && s.growthTracker == 2)
    s.update(foundInf: false)
    #expect(s.scale == 1024 && s.growthTracker == 0)
    let t = GradScaler()
    t.load(state: s.state)
    #expect(t.scale == 1024 && t.growthTracker == 0)
  }
}
