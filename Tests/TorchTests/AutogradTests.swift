import Testing
import Torch

@Suite("autograd, grad modes, autocast, checkpoint", .serialized)
struct AutogradTests {
  @Test func noGradScopeRestoresState() throws {
    #expect(Torch.isGradEnabled)
    let x = try Tensor.ones([3]).requiresGrad_()
    let y = try Torch.noGrad { () throws(TorchError) in
      #expect(!Torch.isGradEnabled)
      let inner = try Torch.enableGrad { () throws(TorchError) in try x * 2.0 }
      #expect(inner.requiresGrad)
      return try x * 2.0
    }
    #expect(!y.requiresGrad)
    #expect(Torch.isGradEnabled)
  }

  @Test func autocastNestsAndRestores() throws {
    let x = try Tensor.randn([2, 4]), w = try Tensor.randn([3, 4])
    #expect(!Torch.isAutocastEnabled(.cpu))
    try Torch.autocast(.cpu, dtype: .bfloat16) {
      #expect(Torch.isAutocastEnabled(.cpu))
      #expect(try F.linear(x, w).dtype == .bfloat16)
      let inner = try Torch.autocast(.cpu, dtype: .bfloat16, enabled: false) { try F.linear(x, w).dtype }
      #expect(inner == .float32)
      #expect(try F.linear(x, w).dtype == .bfloat16)
    }
    #expect(!Torch.isAutocastEnabled(.cpu))
    #expect(try F.linear(x, w).dtype == .float32)
  }

  @Test func gradAndSetGrad() throws {
    let x = try Tensor([1.0, 2.0, 3.0] as [Float]).requiresGrad_()
    let y = try (x * x).sum()
    let g = try Torch.grad(outputs: [y], inputs: [x])
    #expect(try g[0]!.floats() == [2, 4, 6])
    #expect(x.grad == nil)
    try x.setGrad(Tensor([1, 1, 1] as [Float]))
    #expect(try x.grad!.floats() == [1, 1, 1])
    try x.setGrad(nil)
    #expect(x.grad == nil)
  }

  /// Checkpointed blocks give the same outputs and gradients as the plain run.
  @Test func checkpointMatchesPlainRun() throws {
    try Torch.manualSeed(3)
    let w1 = try Tensor.randn([8, 8]).requiresGrad_(), w2 = try Tensor.randn([8, 8]).requiresGrad_()
    let x = try Tensor.randn([4, 8])
    let block: ([Tensor]) throws -> [Tensor] = { ins in
      let h = try F.silu(F.linear(ins[0], w1))
      return [try F.gelu(F.linear(h, w2)), try h.sum()]
    }
    let plain = try block([x])
    try (plain[0].square().sum() + plain[1]).backward()
    let g1 = try w1.grad!.clone(), g2 = try w2.grad!.clone()
    try w1.setGrad(nil)
    try w2.setGrad(nil)

    let ck = try Torch.checkpoint([x], block)
    #expect(ck[0].requiresGrad)
    try expectClose(ck[0], plain[0], "checkpoint output")
    try (ck[0].square().sum() + ck[1]).backward()
    try expectClose(w1.grad!, g1, atol: 1e-6, rtol: 1e-6, "w1.grad")
    try expectClose(w2.grad!, g2, atol: 1e-6, rtol: 1e-6, "w2.grad")
  }

  @Test func checkpointPassesInputGradients() throws {
    let x = try Tensor.randn([3, 5]).requiresGrad_()
    let out = try Torch.checkpoint([x]) { ins in [try ins[0].sin() * 3.0] }
    try out[0].sum().backward()
    try expectClose(x.grad!, try x.detach().cos() * 3.0, "d/dx 3 sin x")
  }

  @Test func checkpointErrorsSurface() throws {
    let x = try Tensor.randn([3, 5]).requiresGrad_()
    #expect(throws: (any Error).self) {
      _ = try Torch.checkpoint([x]) { ins in [try ins[0].matmul(ins[0])] }
    }
  }

  @Test func generatorStateRestores() throws {
    let g = try Generator(seed: 7)
    _ = try Tensor.randn([3], generator: g)
    let state = try g.state()
    let a = try Tensor.randn([5], generator: g)
    try g.setState(state)
    let b = try Tensor.randn([5], generator: g)
    #expect(try a.equal(b))
    try g.manualSeed(7)
    let c = try Tensor.randn([3], generator: g)
    try g.manualSeed(7)
    #expect(try c.equal(Tensor.randn([3], generator: g)))
  }

  /// Other suites may draw from the global generator concurrently, so a draw can be interleaved:
  /// a working manual_seed matches the seeded stream in at least one of a few attempts.
  @Test func globalSeedIsReproducible() throws {
    var matched = false
    for _ in 0..<5 where !matched {
      try Torch.manualSeed(11)
      let a = try Tensor.randn([4])
      matched = try a.equal(Tensor.randn([4], generator: Generator(seed: 11)))
    }
    #expect(matched)
  }
}

@Suite("layout and metadata")
struct LayoutTests {
  @Test func channelsLast() throws {
    let x = try Tensor.randn([1, 3, 8, 10])
    let cl = try x.contiguous(.channelsLast)
    #expect(cl.isChannelsLast)
    #expect(cl.strides == [240, 1, 30, 3])
    #expect(try cl.equal(x))
    #expect(!x.isChannelsLast)
  }

  @Test func metadataAndHostRoundTrip() throws {
    let t = try Tensor([1, 2, 3, 4, 5, 6] as [Int32], shape: [2, 3])
    #expect(t.shape == [2, 3])
    #expect(t.dtype == .int32)
    #expect(t.numel == 6)
    #expect(t.device == .cpu)
    #expect(try t.toArray(Int32.self) == [1, 2, 3, 4, 5, 6])
    #expect(try t.toArray(Float.self) == [1, 2, 3, 4, 5, 6])
    #expect(try Tensor(scalar: 2.5).item() == 2.5)
    let big = try Tensor.zeros([1, 1, 1, 1, 1, 1, 1, 1, 2, 3])
    #expect(big.shape == [1, 1, 1, 1, 1, 1, 1, 1, 2, 3])
    let meta = try Tensor.empty([1024, 1024, 1024], device: .meta)
    #expect(meta.shape == [1024, 1024, 1024])
    #expect(meta.device == .meta)
  }

  @Test func inPlaceAndForeach() throws {
    let a = try Tensor.ones([3]), b = try Tensor.full([3], 3)
    try a.mul_(2).add_(b, alpha: 0.5).lerp_(b, 0.5)
    #expect(try a.floats() == [3.25, 3.25, 3.25])
    let xs = [try Tensor.ones([2]), try Tensor.zeros([3])]
    let ys = [try Tensor.full([2], 5), try Tensor.full([3], 1)]
    try Foreach.lerp_(xs, ys, weight: 0.25)
    #expect(try xs[0].floats() == [2, 2])
    #expect(try xs[1].floats() == [0.25, 0.25, 0.25])
    try Foreach.mul_(xs, 2)
    try Foreach.add_(xs, ys, alpha: -1)
    #expect(try xs[0].floats() == [-1, -1])
    try Foreach.copy_(xs, ys)
    #expect(try xs[1].floats() == [1, 1, 1])
    try Foreach.zero_(xs)
    #expect(try xs[0].floats() == [0, 0])
  }
}
