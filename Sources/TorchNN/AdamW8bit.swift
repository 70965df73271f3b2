import Torch

/// bitsandbytes' AdamW8bit (`bnb.optim.AdamW8bit`, what `--use_8bit_adam` selects upstream):
/// both Adam moments stored as uint8 codes of a dynamic quantization map, with one fp32 absmax
/// per 256-element block (block-wise dynamic quantization), dequantized for an fp32 update and
/// quantized again each step. Parameters under 4,096 elements keep fp32 moments, as in
/// bitsandbytes. About 2 bytes of state per parameter instead of AdamW's 8.
public final class AdamW8bit: Optimizer {
  public static let blockSize = 256
  /// Smaller parameters keep fp32 moments (bitsandbytes' min_8bit_size).
  public static let min8bitSize = 4096

  public let parameters: [Parameter]
  public private(set) var lr: Double
  public let betas: (Double, Double)
  public let eps: Double
  public let weightDecay: Double
  public var kind: String { "adamw8bit" }

  struct State {
    var step: Int
    let state1: Tensor
    let state2: Tensor
    let absmax1: Tensor?
    let absmax2: Tensor?
  }
  private var states: [State?]
  private var maps: [Device: (signed: Tensor, unsigned: Tensor)] = [:]

  public init(
    _ parameters: [Parameter], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
    eps: Double = 1e-8, weightDecay: Double = 1e-2
  ) throws(TorchError) {
    guard lr >= 0, eps >= 0, weightDecay >= 0, (0..<1).contains(betas.0), (0..<1).contains(betas.1) else {
      throw TorchError(op: "AdamW8bit", message: "invalid hyper-parameters (lr \(lr), betas \(betas), eps \(eps), weight_decay \(weightDecay))")
    }
    (self.parameters, self.lr, self.betas, self.eps, self.weightDecay) = (parameters, lr, betas, eps, weightDecay)
    states = Array(repeating: nil, count: parameters.count)
  }

  public func setLR(_ lr: Double) throws(TorchError) { self.lr = lr }

  /// bitsandbytes' create_dynamic_map(signed, max_exponent_bits 7, total_bits 8): for each decimal
  /// exponent 10^-6 ... 10^0 the midpoints of a linspace(0.1, 1) with 2^i (signed) or 2^(i+1)
  /// (unsigned) intervals, mirrored when signed, plus 0 and 1; sorted, 256 float32 values.
  public static func dynamicMap(signed: Bool) throws(TorchError) -> [Float] {
    var data: [Float] = []
    for i in 0..<7 {
      let items = (signed ? 1 << i : 1 << (i + 1)) + 1
      let bounds = try Tensor.linspace(0.1, 1, steps: items).toArray(Float.self)
      let scale = Float(pow10(i - 6))
      for j in 0..<(items - 1) {
        let mean = (bounds[j] + bounds[j + 1]) / 2
        data.append(scale * mean)
        if signed { data.append(-(scale * mean)) }
      }
    }
    data += [0, 1]
    return data.sorted()
  }

  private static func pow10(_ e: Int) -> Double {
    e >= 0 ? (0..<e).reduce(1.0) { a, _ in a * 10 } : 1 / pow10(-e)
  }

  private func maps(on device: Device) throws(TorchError) -> (signed: Tensor, unsigned: Tensor) {
    if let m = maps[device] { return m }
    let m = (signed: try Tensor(try Self.dynamicMap(signed: true), device: device),
             unsigned: try Tensor(try Self.dynamicMap(signed: false), device: device))
    maps[device] = m
    return m
  }

  private func freshState(for p: Tensor) throws(TorchError) -> State {
    let shape = p.shape, device = p.device
    if p.numel < Self.min8bitSize {
      return State(step: 0, state1: try .zeros(shape, device: device), state2: try .zeros(shape, device: device), absmax1: nil, absmax2: nil)
    }
    let blocks = (p.numel + Self.blockSize - 1) / Self.blockSize
    return State(
      step: 0, state1: try .zeros(shape, dtype: .uint8, device: device), state2: try .zeros(shape, dtype: .uint8, device: device),
      absmax1: try .zeros([blocks], device: device), absmax2: try .zeros([blocks], device: device))
  }

  public func step() throws(TorchError) {
    for (i, p) in parameters.enumerated() {
      guard let grad = p.tensor.grad else { continue }
      var s: State
      if let existing = states[i] { s = existing } else { s = try freshState(for: p.tensor) }
      s.step += 1
      let m = s.absmax1 == nil ? nil : try maps(on: p.tensor.device)
      try TorchOptim.adamw8bitUpdate(
        param: p.tensor, grad: grad, state1: s.state1, state2: s.state2, absmax1: s.absmax1, absmax2: s.absmax2,
        qmap1: m?.signed, qmap2: m?.unsigned, step: s.step, lr: lr, beta1: betas.0, beta2: betas.1, eps: eps,
        weightDecay: weightDecay)
      states[i] = s
    }
  }

  public func zeroGrad() throws(TorchError) {
    for p in parameters { try p.tensor.setGrad(nil) }
  }

  /// "<param>.step" (int64), "<param>.state1", "<param>.state2" (uint8 codes, or fp32 moments
  /// for small parameters) and "<param>.absmax1", "<param>.absmax2" (fp32, one per block).
  public func stateDict() throws(TorchError) -> [(String, Tensor)] {
    var out: [(String, Tensor)] = []
    for (p, s) in zip(parameters, states) {
      guard let s else { continue }
      out.append(("\(p.name).step", try Tensor([Int64(s.step)], shape: [])))
      out.append(("\(p.name).state1", s.state1))
      out.append(("\(p.name).state2", s.state2))
      if let a = s.absmax1, let b = s.absmax2 {
        out.append(("\(p.name).absmax1", a))
        out.append(("\(p.name).absmax2", b))
      }
    }
    return out
  }

  public func loadStateDict(_ state: [String: Tensor]) throws(TorchError) {
    func fail(_ name: String, _ why: String) -> TorchError {
      TorchError(op: "AdamW8bit.load_state_dict", message: "state of '\(name)' \(why)")
    }
    var loaded = states
    for (i, p) in parameters.enumerated() {
      let name = p.name
      guard let step = state["\(name).step"] else { continue }
      guard let s1 = state["\(name).state1"], let s2 = state["\(name).state2"] else {
        throw fail(name, state["\(name).exp_avg"] != nil ? "is an AdamW state, not an 8-bit one (was the run started without --use_8bit_adam?)" : "lacks state1 or state2")
      }
      let fresh = try freshState(for: p.tensor)
      guard s1.shape == p.tensor.shape, s2.shape == p.tensor.shape, s1.dtype == fresh.state1.dtype, s2.dtype == fresh.state2.dtype else {
        throw fail(name, "has moments of shape \(s1.shape) \(s1.dtype), expected \(p.tensor.shape) \(fresh.state1.dtype)")
      }
      let steps = try step.to(.int64).toArray(Int64.self)
      guard steps.count == 1, let n = steps.first, n >= 1 else { throw fail(name, "has an invalid step count") }
      var absmax: (Tensor, Tensor)?
      if let expected = fresh.absmax1?.shape {
        guard let a = state["\(name).absmax1"], let b = state["\(name).absmax2"], a.shape == expected, b.shape == expected,
          a.dtype == .float32, b.dtype == .float32
        else { throw fail(name, "lacks absmax1/absmax2 of shape \(expected)") }
        absmax = (try a.to(p.tensor.device).clone(), try b.to(p.tensor.device).clone())
      }
      loaded[i] = State(
        step: Int(n), state1: try s1.to(p.tensor.device).clone(), state2: try s2.to(p.tensor.device).clone(),
        absmax1: absmax?.0, absmax2: absmax?.1)
    }
    states = loaded
  }
}
