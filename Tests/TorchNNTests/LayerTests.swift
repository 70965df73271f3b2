import SafeTensors
import Testing
import Torch
import TorchNN

// Expected outputs: torch.nn modules with perturbed weights, scripts/fixtures/make_op_fixtures.py.
@Suite("layers match torch.nn")
struct LayerTests {
  /// Builds a layer at `name`, loads the fixture's state dict strictly, runs the fixture input.
  func check(_ name: String, build: (ModulePath) throws -> (Tensor) throws -> Tensor) throws {
    let store = ParameterStore()
    let forward = try build(store.root / name)
    let group = try fixtureGroup(layerFixture, name)
    var weights: [String: Tensor] = [:]
    for (k, v) in group where k != "input" && k != "output" { weights["\(name).\(k)"] = v }
    try store.load(weights, source: "layers.safetensors")
    let out = try forward(group["input"]!)
    let diff = try maxAbsDiff(out, group["output"]!)
    #expect(out.shape == group["output"]!.shape)
    #expect(diff < 1e-5, "\(name): max abs diff \(diff)")
  }

  @Test func linear() throws {
    try check("linear") { p in let l = try Linear(p, inFeatures: 5, outFeatures: 7); return { try l($0) } }
  }

  @Test func conv2d() throws {
    try check("conv") { p in
      let l = try Conv2d(p, inChannels: 4, outChannels: 6, kernelSize: 3, stride: 2, padding: 1)
      return { try l($0) }
    }
  }

  @Test func groupNorm() throws {
    try check("group_norm") { p in let l = try GroupNorm(p, numGroups: 2, numChannels: 6, eps: 1e-6); return { try l($0) } }
  }

  @Test func layerNorm() throws {
    try check("layer_norm") { p in let l = try LayerNorm(p, 8); return { try l($0) } }
  }

  @Test func embedding() throws {
    try check("embedding") { p in let l = try Embedding(p, numEmbeddings: 11, embeddingDim: 4); return { try l($0) } }
  }

  /// PyTorch's default init: weights and biases in U(±1/√fan_in), norms at 1 and 0.
  @Test func defaultInitialisation() throws {
    try Torch.manualSeed(0)
    let store = ParameterStore()
    let lin = try Linear(store.root / "l", inFeatures: 64, outFeatures: 256)
    let conv = try Conv2d(store.root / "c", inChannels: 8, outChannels: 32, kernelSize: 3)
    let norm = try GroupNorm(store.root / "n", numGroups: 4, numChannels: 32)
    let emb = try Embedding(store.root / "e", numEmbeddings: 1000, embeddingDim: 16)
    let bound = 1 / 8.0
    #expect(try lin.weight.tensor.abs().amax().item() <= bound)
    #expect(try lin.weight.tensor.abs().amax().item() > bound * 0.95)
    // U(-b, b) has std b/√3
    #expect(try Swift.abs(lin.weight.tensor.std().item() - bound / 3.0.squareRoot()) < 0.005)
    #expect(try conv.weight.tensor.abs().amax().item() <= 1 / 72.0.squareRoot())
    #expect(try norm.weight!.tensor.floats().allSatisfy { $0 == 1 })
    #expect(try norm.bias!.tensor.floats().allSatisfy { $0 == 0 })
    #expect(try Swift.abs(emb.weight.tensor.std().item() - 1) < 0.03)
  }

  @Test func dropoutFollowsTrainingMode() throws {
    let store = ParameterStore()
    let drop = Dropout(store.root / "drop", p: 0.5)
    let x = try Tensor.ones([1000])
    #expect(try drop(x).equal(x))
    store.isTraining = true
    let y = try drop(x)
    let zeros = try y.eq(0).to(.float32).sum().item()
    #expect(zeros > 350 && zeros < 650)
    #expect(try y.amax().item() == 2)
  }
}

@Suite("parameter store and strict state dicts")
struct ParameterStoreTests {
  func tinyModel(_ store: ParameterStore) throws -> (Linear, Conv2d) {
    let root = store.root
    let a = try Linear(root / "blocks" / 0 / "to_out" / 0, inFeatures: 4, outFeatures: 3)
    let b = try Conv2d(root / "conv_in", inChannels: 2, outChannels: 4, kernelSize: 3, bias: false)
    return (a, b)
  }

  @Test func namesAreCheckpointKeys() throws {
    let store = ParameterStore()
    _ = try tinyModel(store)
    #expect(store.names == ["blocks.0.to_out.0.weight", "blocks.0.to_out.0.bias", "conv_in.weight"])
    #expect(store.parameterCount == 12 + 3 + 72)
    #expect(store["conv_in.weight"]!.tensor.shape == [4, 2, 3, 3])
  }

  @Test func duplicateNamesAreRejected() throws {
    let store = ParameterStore()
    _ = try Linear(store.root / "x", inFeatures: 2, outFeatures: 2)
    #expect(throws: TorchError.self) { _ = try Linear(store.root / "x", inFeatures: 2, outFeatures: 2) }
  }

  @Test func strictLoadReportsEverythingAtOnce() throws {
    let store = ParameterStore()
    _ = try tinyModel(store)
    let sd: [String: Tensor] = [
      "blocks.0.to_out.0.weight": try Tensor.zeros([3, 5]),  // wrong shape
      "conv_in.weight": try Tensor.zeros([4, 2, 3, 3]),
      "conv_in.bias": try Tensor.zeros([4]),  // unexpected
      // blocks.0.to_out.0.bias missing
    ]
    do {
      try store.load(sd, source: "model.safetensors")
      Issue.record("load did not throw")
    } catch let error as StateDictError {
      #expect(error.missing == ["blocks.0.to_out.0.bias"])
      #expect(error.unexpected == ["conv_in.bias"])
      #expect(error.mismatched.map(\.key) == ["blocks.0.to_out.0.weight"])
      let text = error.description
      #expect(text.hasPrefix("model.safetensors: "))
      #expect(text.contains("missing keys: 'blocks.0.to_out.0.bias'"))
      #expect(text.contains("unexpected keys: 'conv_in.bias'"))
      #expect(text.contains("expected [3, 4] found [3, 5]"))
      #expect(!text.contains("\n"))
    }
    // nothing was half-loaded
    #expect(try store["conv_in.weight"]!.tensor.abs().sum().item() > 0)
  }

  @Test func metaModelsHaveShapesButNoValues() throws {
    let store = ParameterStore(device: .meta)
    _ = try tinyModel(store)
    #expect(store["conv_in.weight"]!.tensor.device == .meta)
    #expect(store.parameterCount == 87)
    // a meta model is materialised by loading, on the device and dtype given to `to`
    let cpu = ParameterStore()
    _ = try tinyModel(cpu)
    let dir = tempDir()
    try cpu.save(safetensors: "\(dir)/m.safetensors")
    let target = ParameterStore(device: .meta)
    _ = try tinyModel(target)
    try target.to(device: .cpu, dtype: .float64)
    try target.load(safetensors: "\(dir)/m.safetensors")
    let w = target["conv_in.weight"]!.tensor
    #expect(w.device == .cpu && w.dtype == .float64 && w.requiresGrad)
    #expect(try w.to(.float32).equal(cpu["conv_in.weight"]!.tensor))
  }

  @Test func saveLoadRoundTripAndDTypeMoves() throws {
    let store = ParameterStore()
    let (lin, _) = try tinyModel(store)
    let dir = tempDir()
    let path = "\(dir)/model.safetensors"
    try store.save(safetensors: path)
    let file = try SafeTensorsFile(path: path)
    #expect(file.keys == store.names.sorted())
    #expect(file.metadata["format"] == "pt")

    let other = ParameterStore()
    let (lin2, _) = try tinyModel(other)
    try other.load(safetensors: path)
    #expect(try lin2.weight.tensor.equal(lin.weight.tensor))

    try other.to(dtype: .float16)
    #expect(lin2.weight.tensor.dtype == .float16)
    #expect(lin2.weight.tensor.requiresGrad)
    // loading converts file dtypes to the parameter's dtype
    try other.load(safetensors: path)
    #expect(lin2.weight.tensor.dtype == .float16)
    #expect(try maxAbsDiff(lin2.weight.tensor, lin.weight.tensor) < 1e-3)
  }

  @Test func trainableFlags() throws {
    let store = ParameterStore()
    _ = try tinyModel(store)
    #expect(store.trainableParameters.count == 3)
    try store.setTrainable(false)
    try store.setTrainable(true, prefix: "conv_in.")
    #expect(store.trainableParameters.map(\.name) == ["conv_in.weight"])
    #expect(!store["blocks.0.to_out.0.weight"]!.tensor.requiresGrad)
  }
}
