import ArgumentParser
import OpParity
import SafeTensors
import Torch
import TorchNN

/// A short real computation on the built-in default: a small conv + attention network trained
/// with AdamW to fit a fixed random target; the loss must fall.
struct SelfTest: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "selftest", abstract: "Train a tiny conv+attention network for a few steps and check that it learns.")

  @Option(help: "Optimizer steps.") var steps = 50
  @Option(help: "Device: cpu or cuda[:N].") var device = "cpu"
  @Option(help: "Random seed.") var seed: UInt64 = 0
  @Option(help: "Also run the op parity cases of this fixture (Tests/Fixtures/ops.safetensors) on --device.")
  var parityFixture: String?
  @Option(help: "Run the forward pass under autocast with this dtype (bfloat16 or float16).") var autocast: String?
  @Option(help: "Absolute and relative tolerance of the parity cases.") var tolerance = 1e-4

  func validate() throws {
    guard steps > 0 else { throw ValidationError("--steps must be positive") }
    guard Device(parsing: device) != nil else { throw ValidationError("--device must be cpu or cuda[:N], got '\(device)'") }
    if let autocast, ![DType.bfloat16, .float16].contains(DType(name: autocast)) {
      throw ValidationError("--autocast must be bfloat16 or float16, got '\(autocast)'")
    }
  }

  func run() throws {
    let dev = Device(parsing: device)!
    try Torch.manualSeed(seed)
    let store = ParameterStore(device: dev)
    let root = store.root
    let conv = try Conv2d(root / "conv_in", inChannels: 4, outChannels: 32, kernelSize: 3, padding: 1)
    let norm = try GroupNorm(root / "norm", numGroups: 8, numChannels: 32)
    let qkv = try Linear(root / "to_qkv", inFeatures: 32, outFeatures: 96)
    let out = try Linear(root / "to_out", inFeatures: 32, outFeatures: 4)
    let opt = try AdamW(store.trainableParameters, lr: 1e-2)

    let x = try Tensor.randn([8, 4, 8, 8], device: dev)
    let target = try Tensor.randn([8, 64, 4], device: dev)
    func forward() throws -> Tensor {
      let h = try F.silu(norm(conv(x)))  // [8, 32, 8, 8]
      let tokens = try h.flatten(start: 2).transpose(1, 2)  // [8, 64, 32]
      let parts = try qkv(tokens).chunk(3, dim: -1).map { try $0.reshape([8, 64, 4, 8]).transpose(1, 2) }
      let a = try F.scaledDotProductAttention(parts[0], parts[1], parts[2])
      return try out(a.transpose(1, 2).reshape([8, 64, 32]))
    }
    var first = 0.0, last = 0.0
    for step in 1...steps {
      let prediction = try autocast.flatMap { DType(name: $0) }.map { dt in
        try Torch.autocast(dev.kind, dtype: dt) { try forward() }
      } ?? forward()
      let loss = try F.mseLoss(prediction.to(.float32), target)
      try opt.zeroGrad()
      try loss.backward()
      let norm = try clipGradNorm_(store.trainableParameters.map(\.tensor), maxNorm: 1.0)
      try opt.step()
      last = try loss.item()
      if step == 1 { first = last }
      if step == 1 || step % 10 == 0 || step == steps {
        print("step \(step): loss \(last) grad_norm \(try norm.item())")
      }
    }
    print("parameters: \(store.parameterCount), device: \(dev)")
    guard last < first * 0.99 else {
      throw ValidationError("selftest failed: loss went from \(first) to \(last)")
    }
    print("selftest passed: loss \(first) -> \(last)")
    if let parityFixture { try runParity(parityFixture, on: dev) }
  }

  /// The fp32 op parity cases on the device, against torch's CPU values.
  func runParity(_ path: String, on dev: Device) throws {
    let file = try SafeTensorsFile(path: path)
    var failed: [String] = []
    var worst = (name: "", diff: 0.0)
    for name in opCases.keys.sorted() where !(dev != .cpu && cpuOnlyCases.contains(name)) {
      for r in try runParityCase(name, file: file, device: dev, atol: tolerance, rtol: tolerance) {
        if !r.passed { failed.append("\(r.name) (max abs diff \(r.maxAbsDiff)\(r.note.isEmpty ? "" : ", \(r.note)"))") }
        if r.maxAbsDiff > worst.diff { worst = (r.name, r.maxAbsDiff) }
      }
    }
    print("op parity on \(dev): \(opCases.count) cases, largest difference \(worst.diff) at \(worst.name)")
    guard failed.isEmpty else {
      throw ValidationError("op parity failed on \(dev) for: \(failed.joined(separator: "; "))")
    }
    print("op parity passed within \(tolerance)")
  }
}
