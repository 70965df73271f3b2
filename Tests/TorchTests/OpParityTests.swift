import Testing
import Torch

// Expected values: scripts/fixtures/make_op_fixtures.py (torch 2.11.0, fp32, CPU), in
// Tests/Fixtures/ops.safetensors. Each case reads its inputs and returns its outputs by name.

typealias OpCase = @Sendable (Case) throws -> [String: Tensor]

let unaryCases: [String: @Sendable (Tensor) throws -> Tensor] = [
  "neg": { try -$0 }, "abs": { try $0.abs() }, "exp": { try $0.exp() }, "sin": { try $0.sin() },
  "cos": { try $0.cos() }, "tanh": { try $0.tanh() }, "sigmoid": { try $0.sigmoid() },
  "silu": { try F.silu($0) }, "gelu": { try F.gelu($0) }, "gelu_tanh": { try F.gelu($0, approximate: .tanh) },
  "erf": { try $0.erf() }, "square": { try $0.square() }, "floor": { try $0.floor() },
  "relu": { try F.relu($0) }, "mish": { try F.mish($0) }, "softplus": { try F.softplus($0) },
  "quick_gelu": { try F.quickGELU($0) }, "log": { try $0.log() }, "sqrt": { try $0.sqrt() },
  "rsqrt": { try $0.rsqrt() },
]

let opCases: [String: OpCase] = {
  var cases: [String: OpCase] = [
    "add": { c in ["out": try c["a"] + c["b"]] },
    "sub": { c in ["out": try c["a"] - c["b"]] },
    "mul": { c in ["out": try c["a"] * c["b"]] },
    "div": { c in ["out": try c["a"] / c["b"]] },
    "add_scalar": { c in ["out": try c["a"] + 2.5] },
    "rsub_scalar": { c in ["out": try 1.0 - c["a"]] },
    "rdiv_scalar": { c in ["out": try 2.0 / c["a"]] },
    "pow": { c in ["out": try c["a"].pow(1.5)] },
    "pow_tensor": { c in ["out": try c["a"].pow(c["b"])] },
    "maximum": { c in ["out": try c["a"].maximum(c["b"])] },
    "minimum": { c in ["out": try c["a"].minimum(c["b"])] },
    "add_alpha": { c in ["out": try c["a"].add(c["b"], alpha: -0.3)] },
    "where": { c in
      let a = try c["a"], b = try c["b"]
      return ["out": try Tensor.where(a.gt(b), a, b)]
    },
    "clamp": { c in ["out": try c["a"].clamp(min: -0.5, max: 0.7)] },
    "clamp_min": { c in ["out": try c["a"].clamp(min: 0.1)] },
    "masked_fill": { c in ["out": try c["a"].maskedFill(c["mask"], -7)] },
    "lerp": { c in ["out": try c["a"].lerp(c["b"], 0.3)] },
    "sum_all": { c in ["out": try c["a"].sum()] },
    "sum_dims": { c in ["out": try c["a"].sum([0, 2], keepdim: true)] },
    "mean_dim": { c in ["out": try c["a"].mean(dim: 1)] },
    "amax": { c in ["out": try c["a"].amax([-1])] },
    "amin": { c in ["out": try c["a"].amin([1, 2])] },
    "var": { c in ["out": try c["a"].variance([1], correction: 1)] },
    "std_all": { c in ["out": try c["a"].std(correction: 0)] },
    "norm": { c in ["out": try c["a"].norm(2, [-1])] },
    "logsumexp": { c in ["out": try c["a"].logsumexp([-1])] },
    "prod": { c in ["out": try c["a"].prod([1])] },
    "cumsum": { c in ["out": try c["a"].cumsum(dim: 2)] },
    "argmax": { c in ["out": try c["a"].argmax(dim: -1)] },
    "softmax": { c in ["out": try F.softmax(c["a"], dim: -1)] },
    "log_softmax": { c in ["out": try F.logSoftmax(c["a"], dim: 1)] },
    "matmul": { c in ["out": try c["a"].matmul(c["b"])] },
    "bmm": { c in ["out": try c["a"].bmm(c["b"])] },
    "baddbmm": { c in ["out": try c["input"].baddbmm(c["a"], c["b"], beta: 0.5, alpha: 0.25)] },
    "linear": { c in ["out": try F.linear(c["x"], c["w"], c["b"])] },
    "linear_nobias": { c in ["out": try F.linear(c["x"], c["w"])] },
    "conv2d": { c in ["out": try F.conv2d(c["x"], c["w"], c["b"], stride: (2, 2), padding: (1, 1))] },
    "conv2d_groups": { c in ["out": try F.conv2d(c["x"], c["w"], padding: (1, 1), groups: 2)] },
    "conv_transpose2d": { c in ["out": try F.convTranspose2d(c["x"], c["w"], stride: (2, 2), padding: (1, 1))] },
    "group_norm": { c in ["out": try F.groupNorm(c["x"], numGroups: 2, weight: c["w"], bias: c["b"], eps: 1e-6)] },
    "layer_norm": { c in ["out": try F.layerNorm(c["x"], normalizedShape: [9], weight: c["w"], bias: c["b"])] },
    "embedding": { c in ["out": try F.embedding(c["idx"], c["w"])] },
    "sdpa": { c in ["out": try F.scaledDotProductAttention(c["q"], c["k"], c["v"])] },
    "sdpa_bool_mask": { c in ["out": try F.scaledDotProductAttention(c["q"], c["k"], c["v"], mask: c["mask"])] },
    "sdpa_float_mask": { c in ["out": try F.scaledDotProductAttention(c["q"], c["k"], c["v"], mask: c["mask"])] },
    "sdpa_causal": { c in ["out": try F.scaledDotProductAttention(c["q"], c["k"], c["v"], isCausal: true)] },
    "sdpa_scale": { c in ["out": try F.scaledDotProductAttention(c["q"], c["k"], c["v"], scale: 0.3)] },
    "interp_nearest2x": { c in ["out": try F.interpolate(c["x"], scaleFactor: 2)] },
    "interp_nearest_size": { c in ["out": try F.interpolate(c["x"], size: (5, 7))] },
    "interp_nearest_exact": { c in ["out": try F.interpolate(c["x"], size: (5, 7), mode: .nearestExact)] },
    "interp_bilinear": { c in ["out": try F.interpolate(c["x"], size: (13, 6), mode: .bilinear)] },
    "interp_bilinear_aa": { c in ["out": try F.interpolate(c["x"], size: (5, 4), mode: .bilinear, antialias: true)] },
    "interp_bicubic": { c in ["out": try F.interpolate(c["x"], size: (11, 15), mode: .bicubic)] },
    "interp_bicubic_aa": { c in ["out": try F.interpolate(c["x"], size: (3, 6), mode: .bicubic, antialias: true)] },
    "pad_constant": { c in ["out": try F.pad(c["x"], [1, 2, 0, 1], value: 0.5)] },
    "pad_reflect": { c in ["out": try F.pad(c["x"], [2, 1, 1, 2], mode: .reflect)] },
    "pad_replicate": { c in ["out": try F.pad(c["x"], [0, 1, 3, 0], mode: .replicate)] },
    "mse_loss": { c in ["out": try F.mseLoss(c["a"], c["b"])] },
    "huber_loss": { c in ["out": try F.huberLoss(c["a"], c["b"], delta: 0.7)] },
    "permute": { c in ["out": try c["x"].permute([2, 0, 3, 1]).contiguous()] },
    "transpose": { c in ["out": try c["x"].transpose(1, 3).contiguous()] },
    "reshape": { c in ["out": try c["x"].reshape([6, 20])] },
    "cat": { c in
      let x = try c["x"]
      return ["out": try Tensor.cat([x, x * 2], dim: 2)]
    },
    "stack": { c in
      let x = try c["x"]
      return ["out": try Tensor.stack([x, -x], dim: 1)]
    },
    "chunk": { c in
      let p = try c["x"].chunk(3, dim: 3)
      return ["out0": p[0], "out1": p[1], "out2": p[2]]
    },
    "split": { c in
      let p = try c["x"].split([1, 3], dim: 2)
      return ["out0": p[0], "out1": p[1]]
    },
    "slice": { c in ["out": try c["x"].slice(dim: 2, start: 1, end: 4, step: 2)] },
    "select": { c in ["out": try c["x"].select(dim: 1, index: 2)] },
    "index_select": { c in ["out": try c["x"].indexSelect(dim: 2, index: c["idx"])] },
    "gather": { c in ["out": try c["x"].gather(dim: 3, index: c["idx"])] },
    "expand": { c in ["out": try c["x"].expand([3, 4]).contiguous()] },
    "repeat": { c in ["out": try c["x"].repeat([2, 3])] },
    "repeat_interleave": { c in ["out": try c["x"].repeatInterleave(2, dim: 0)] },
    "flip": { c in ["out": try c["x"].flip([3])] },
    "flatten": { c in ["out": try c["x"].flatten(start: 1)] },
    "triu": { c in ["out": try c["x"].triu(1)] },
    "tril": { c in ["out": try c["x"].tril()] },
    "to_half": { c in ["out": try c["x"].to(.float16)] },
    "to_bf16": { c in ["out": try c["x"].to(.bfloat16)] },
    "autograd": { c in
      let x = try c["x"].requiresGrad_(), w = try c["w"].requiresGrad_(), b = try c["b"].requiresGrad_()
      let loss = try F.silu(F.linear(x, w, b)).pow(2).mean()
      try loss.backward()
      return ["loss": try loss.detach(), "gx": x.grad!, "gw": w.grad!, "gb": b.grad!]
    },
    "clip_grad_norm": { c in
      let p1 = try Tensor.zeros([3, 4]).requiresGrad_(), p2 = try Tensor.zeros([5]).requiresGrad_()
      try p1.setGrad(c["g1"])
      try p2.setGrad(c["g2"])
      let total = try clipGradNorm_([p1, p2], maxNorm: 1.5)
      return ["total": total, "out1": p1.grad!, "out2": p2.grad!]
    },
    "randn_seed42": { _ in
      let g = try Generator(seed: 42)
      let a = try Tensor.randn([2, 4, 3, 3], generator: g)
      let b = try Tensor.rand([5], generator: g)
      let i = try Tensor.randint(0, 1000, [6], generator: g)
      let n = try Tensor.empty([4, 2]).normal_(mean: 0.5, std: 2, generator: g)
      return ["out": a, "out2": b, "out3": i, "out4": n]
    },
    "autocast_bf16_linear": { c in
      let (x, w, b) = (try c["x"], try c["w"], try c["b"])
      return ["out": try Torch.autocast(.cpu, dtype: .bfloat16) { try F.linear(x, w, b) }]
    },
  ]
  for (name, fn) in unaryCases { cases[name] = { c in ["out": try fn(c["a"])] } }
  return cases
}()

@Suite("op parity with torch 2.11.0")
struct OpParityTests {
  @Test("every fixture case has a Swift case")
  func coverage() {
    let fixtureCases = Set(Fixture.ops.file.keys.map { String($0.split(separator: ".")[0]) })
    let known = Set(opCases.keys).union(["adamw", "adamw_fused"])
    #expect(fixtureCases.subtracting(known).isEmpty, "cases without a test: \(fixtureCases.subtracting(known).sorted())")
  }

  @Test(arguments: opCases.keys.sorted())
  func op(_ name: String) throws {
    let c = Case(name)
    let outputs = try opCases[name]!(c)
    let all = Set(Fixture.ops.keys(prefix: "\(name).").map { String($0.dropFirst(name.count + 1)) })
    let expectedOutputs = all.subtracting(c.read)
    #expect(Set(outputs.keys) == expectedOutputs, "outputs \(outputs.keys.sorted()) vs fixture \(expectedOutputs.sorted())")
    for (key, actual) in outputs.sorted(by: { $0.key < $1.key }) {
      guard expectedOutputs.contains(key) else { continue }
      let expected = try c[key]
      let low = expected.dtype == .bfloat16 || expected.dtype == .float16
      try expectClose(actual, expected, atol: low ? 1e-2 : 1e-5, rtol: low ? 1e-2 : 1e-5, "\(name).\(key)")
    }
  }
}
