import Testing
import Torch
import TorchNN

// Expected: torch.optim.AdamW(lr=0.01, betas=(0.9, 0.99), eps=1e-7, weight_decay=0.05), 5 steps
// with the fixture's gradients (scripts/fixtures/make_op_fixtures.py), for-loop and fused.
@Suite("AdamW matches torch.optim.AdamW")
struct AdamWTests {
  func run(_ name: String, fused: Bool, steps: Range<Int>, from state: [String: Tensor]? = nil, weights: Tensor? = nil) throws -> (Parameter, AdamW) {
    let store = ParameterStore()
    let p = try store.root.parameter("w", shape: [4, 3]) { (_: Tensor) throws(TorchError) in }
    let w0 = try weights ?? fixtureTensor(opFixture, "\(name).w0")
    _ = try Torch.noGrad { () throws(TorchError) in try p.tensor.copy_(w0) }
    let opt = try AdamW([p], lr: 0.01, betas: (0.9, 0.99), eps: 1e-7, weightDecay: 0.05, fused: fused)
    if let state { try opt.loadStateDict(state) }
    for i in steps {
      try p.tensor.setGrad(fixtureTensor(opFixture, "\(name).g\(i)"))
      try opt.step()
    }
    return (p, opt)
  }

  @Test(arguments: [("adamw", false), ("adamw_fused", true)])
  func fiveSteps(name: String, fused: Bool) throws {
    let (p, opt) = try run(name, fused: fused, steps: 0..<5)
    let state = Dictionary(uniqueKeysWithValues: try opt.stateDict())
    #expect(try maxAbsDiff(p.tensor, fixtureTensor(opFixture, "\(name).out")) < 1e-6)
    #expect(try maxAbsDiff(state["w.exp_avg"]!, fixtureTensor(opFixture, "\(name).exp_avg")) < 1e-6)
    #expect(try maxAbsDiff(state["w.exp_avg_sq"]!, fixtureTensor(opFixture, "\(name).exp_avg_sq")) < 1e-6)
    #expect(try state["w.step"]!.item() == 5)
  }

  /// 3 steps, state saved and loaded into a new optimizer, 2 more steps == 5 steps.
  @Test(arguments: [false, true])
  func stateRoundTrip(fused: Bool) throws {
    let name = fused ? "adamw_fused" : "adamw"
    let (p, opt) = try run(name, fused: fused, steps: 0..<3)
    let saved = Dictionary(uniqueKeysWithValues: try opt.stateDict().map { ($0.0, try $0.1.clone()) })
    let (q, _) = try run(name, fused: fused, steps: 3..<5, from: saved, weights: p.tensor.detach())
    #expect(try maxAbsDiff(q.tensor, fixtureTensor(opFixture, "\(name).out")) < 1e-6)
  }

  @Test func zeroGradClearsAndLRChanges() throws {
    let store = ParameterStore()
    let l = try Linear(store.root / "l", inFeatures: 2, outFeatures: 2)
    let opt = try AdamW(store.trainableParameters, lr: 0.1)
    try F.linear(Tensor.ones([1, 2]), l.weight.tensor, l.bias!.tensor).sum().backward()
    #expect(l.weight.tensor.grad != nil)
    try opt.zeroGrad()
    #expect(l.weight.tensor.grad == nil)
    try opt.setLR(0.02)
    #expect(opt.lr == 0.02)
  }

  @Test func fusedSkipsStepsWithInf() throws {
    let store = ParameterStore()
    let p = try store.root.parameter("w", shape: [3]) { (t: Tensor) throws(TorchError) in try t.fill_(1) }
    let opt = try AdamW([p], lr: 0.1, fused: true)
    try p.tensor.setGrad(Tensor([1, 2, 3] as [Float]))
    try opt.step(gradScale: Tensor(scalar: 1), foundInf: Tensor(scalar: 1))
    #expect(try p.tensor.floats() == [1, 1, 1])
    #expect(try opt.stateDict().first { $0.0 == "w.step" }!.1.item() == 0)
  }
}
