import ArgumentParser
import DiffusionModels
import Torch
import TorchNN

#if canImport(Glibc)
  import Glibc
#endif

/// UNet forward and forward+backward timings; scripts/bench_unet.sh runs diffusers beside it.
struct BenchUNet: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "unet", abstract: "Time UNet2DConditionModel forward and forward+backward (random weights).")

  @Option(help: "A UNet config.json (diffusers).") var config: String
  @Option var batch = 1
  @Option(help: "Latent height and width.") var size = 16
  @Option(help: "Text tokens.") var tokens = 77
  @Option var iterations = 5
  @Option(help: "Device: cpu or cuda[:N].") var device = "cpu"
  @Option(help: "Autocast dtype on CUDA: float16 or bfloat16 (none: fp32).") var autocast: String?
  @Flag(help: "Gradient checkpointing in the backward run.") var gradientCheckpointing = false
  @Option(help: "Intra-op threads (0: libtorch's default).") var threads = 0
  @Option(help: "Save the UNet (diffusers layout) and its inputs/output here, for scripts/bench_unet.py --compare.")
  var saveIO: String?

  func run() throws {
    guard let dev = Device(parsing: device) else { throw ValidationError("bad --device '\(device)'") }
    if threads > 0 { Torch.numThreads = threads }
    try Torch.manualSeed(0)
    let cfg = try UNet2DConditionConfig(path: config)
    let store = ParameterStore(device: dev)
    let unet = try UNet2DConditionModel(config: cfg, store: store)
    unet.gradientCheckpointing = gradientCheckpointing
    store.isTraining = true
    let x = try Tensor.randn([batch, cfg.inChannels, size, size], device: dev)
    let t = try Tensor.randint(0, 1000, [batch], device: dev)
    let ctx = try Tensor.randn([batch, tokens, cfg.crossAttentionDim[0]], device: dev)
    let cond = try cfg.timeCondProjDim.map { try Tensor.randn([batch, $0], device: dev) }
    let added = try cfg.projectionClassEmbeddingsInputDim.map { dim in
      UNet2DConditionModel.AddedConditions(
        textEmbeds: try Tensor.randn([batch, dim - 6 * cfg.additionTimeEmbedDim!], device: dev),
        timeIds: try Tensor.full([batch, 6], Double(size * 8), device: dev))
    }
    let dtype = autocast.flatMap { DType(name: $0) }
    func forward() throws -> Tensor {
      if let dtype {
        return try Torch.autocast(dev.kind, dtype: dtype) {
          try unet(x, timestep: t, encoderHiddenStates: ctx, timestepCond: cond, addedConditions: added)
        }
      }
      return try unet(x, timestep: t, encoderHiddenStates: ctx, timestepCond: cond, addedConditions: added)
    }
    let sync = { () throws in if dev.isCUDA { try CUDA.synchronize(dev.index ?? 0) } }
    let fwd = try BenchClock.time(iterations) {
      _ = try Torch.noGrad { try forward() }
      try sync()
    }
    if dev.isCUDA { try CUDA.resetPeakMemoryStats(dev.index ?? 0) }
    let bwd = try BenchClock.time(iterations) {
      try forward().float32Mean().backward()
      for p in store.parameters { try p.tensor.setGrad(nil) }
      try sync()
    }
    if let saveIO {
      let out = try Torch.noGrad { try forward() }
      try unet.save(folder: saveIO)
      var io: [(String, Tensor)] = [("sample", x), ("timestep", t), ("encoder_hidden_states", ctx), ("out", try out.to(.float32))]
      if let cond { io.append(("timestep_cond", cond)) }
      if let added { io += [("text_embeds", added.textEmbeds), ("time_ids", added.timeIds)] }
      try writeSafeTensors(io.map { ($0.0, try $0.1.to(.cpu)) }, to: "\(saveIO)/io.safetensors")
    }
    print("swift  unet forward:          \(BenchClock.fmt(fwd * 1e3)) ms")
    print("swift  unet forward+backward: \(BenchClock.fmt(bwd * 1e3)) ms")
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    print("swift  peak resident memory (process): \(usage.ru_maxrss / 1024) MiB")
    if dev.isCUDA {
      let peak = Double(try CUDA.memoryStats(dev.index ?? 0).peakAllocated) / Double(1 << 30)
      print("swift  peak allocated (fwd+bwd): \(BenchClock.fmt(peak)) GiB")
    }
  }
}

extension Tensor {
  fileprivate func float32Mean() throws -> Tensor { try to(.float32).square().mean() }
}
