import SafeTensors
import Torch
import TorchNN

// The op parity cases: each reads its inputs from a fixture made by
// scripts/fixtures/make_op_fixtures.py (torch 2.11.0) and returns its outputs by name. The tests
// run them on the CPU; `lcm selftest --parity-fixture` runs them on a GPU.

/// Inputs of one fixture case, on a device; remembers which keys were read.
public final class Case {
  public let name: String
  let file: SafeTensorsFile
  let device: Device
  public private(set) var read: Set<String> = []

  public init(_ name: String, file: SafeTensorsFile, device: Device = .cpu) {
    self.name = name
    self.file = file
    self.device = device
  }

  public subscript(_ key: String) -> Tensor {
    get throws {
      read.insert(key)
      let t = try Tensor.load("\(name).\(key)", from: file)
      return device == .cpu ? t : try t.to(device)
    }
  }

  /// The expected value of an output (on the CPU).
  public func expected(_ key: String) throws -> Tensor {
    read.insert(key)
    return try Tensor.load("\(name).\(key)", from: file)
  }
}

/// Cases whose expected values depend on the CPU (its generator, its autocast).
public let cpuOnlyCases: Set<String> = ["randn_seed42", "autocast_bf16_linear"]

/// One compared output.
public struct ParityResult: Sendable {
  public let name: String
  public let maxAbsDiff: Double
  public let passed: Bool
  public let note: String
}

/// Runs a case and compares every output with the fixture: shapes, dtypes, and
/// |actual - expected| <= atol + rtol |expected| elementwise.
public func runParityCase(
  _ name: String, file: SafeTensorsFile, device: Device = .cpu, atol: Double, rtol: Double
) throws -> [ParityResult] {
  guard let fn = opCases[name] else { return [ParityResult(name: name, maxAbsDiff: .nan, passed: false, note: "no such case")] }
  let c = Case(name, file: file, device: device)
  let outputs = try fn(c)
  let all = Set(file.keys.filter { $0.hasPrefix(name + ".") }.map { String($0.dropFirst(name.count + 1)) })
  let expectedKeys = all.subtracting(c.read)
  var results: [ParityResult] = []
  if Set(outputs.keys) != expectedKeys {
    results.append(ParityResult(
      name: name, maxAbsDiff: .nan, passed: false,
      note: "outputs \(outputs.keys.sorted()) vs fixture \(expectedKeys.sorted())"))
  }
  for (key, actual) in outputs.sorted(by: { $0.key < $1.key }) where expectedKeys.contains(key) {
    let expected = try c.expected(key)
    let label = "\(name).\(key)"
    guard actual.shape == expected.shape, actual.dtype == expected.dtype else {
      results.append(ParityResult(
        name: label, maxAbsDiff: .nan, passed: false,
        note: "shape/dtype \(actual.shape) \(actual.dtype) vs \(expected.shape) \(expected.dtype)"))
      continue
    }
    let low = expected.dtype == .bfloat16 || expected.dtype == .float16
    let (at, rt) = low ? (max(atol, 1e-2), max(rtol, 1e-2)) : (atol, rtol)
    let a = try actual.to(.cpu, .float64).contiguous().toArray(Double.self)
    let e = try expected.to(.float64).contiguous().toArray(Double.self)
    var worst = 0.0, ok = true
    for i in a.indices {
      let d = Swift.abs(a[i] - e[i])
      if d.isNaN || d > at + rt * Swift.abs(e[i]) { ok = false }
      if d > worst || d.isNaN { worst = d }
    }
    results.append(ParityResult(name: label, maxAbsDiff: worst, passed: ok, note: ""))
  }
  return results
}

public typealias OpCase = @Sendable (Case) throws -> [String: Tensor]

let unaryCases: [String: @Sendable (Tensor) throws -> Tensor] = [
  "neg": { try -$0 }, "abs": { try $0.abs() }, "exp": { try $0.exp() }, "sin": { try $0.sin() },
  "cos": { try $0.cos() }, "tanh": { try $0.tanh() }, "sigmoid": { try $0.sigmoid() },
  "silu": { try F.silu($0) }, "gelu": { try F.gelu($0) }, "gelu_tanh": { try F.gelu($0, approximate: .tanh) },
  "erf": { try $0.erf() }, "square": { try $0.square() }, "floor": { try $0.floor() },
  "relu": { try F.relu($0) }, "mish": { try F.mish($0) }, "softplus": { try F.softplus($0) },
  "quick_gelu": { try F.quickGELU($0) }, "log": { try $0.log() }, "sqrt": { try $0.sqrt() },
  "rsqrt": { try $0.rsqrt() },
]

public let opCases: [String: OpCase] = {
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
      let g1 = try c["g1"], g2 = try c["g2"]
      let p1 = try g1.zerosLike().requiresGrad_(), p2 = try g2.zerosLike().requiresGrad_()
      try p1.setGrad(g1)
      try p2.setGrad(g2)
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

