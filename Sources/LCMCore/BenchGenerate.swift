import ArgumentParser
import LCMPipeline
import Torch

/// Generation latency; scripts/bench_generate.sh runs diffusers beside it.
struct BenchGenerate: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "generate", abstract: "Time LCM generation (pipeline call only).")

  @Option var model: String
  @Option var steps = 4
  @Option var batch = 1
  @Option var size = 32
  @Option var iterations = 5
  @Option var device = "cpu"
  @Option var dtype = "float32"

  func run() throws {
    guard let dev = Device(parsing: device), let dt = DType(name: dtype) else { throw ValidationError("bad --device or --dtype") }
    let pipe = try StableDiffusionPipeline(model, device: dev, dtype: dt)
    var o = StableDiffusionPipeline.Options(prompts: Array(repeating: "a photo of a cat", count: batch))
    (o.numInferenceSteps, o.height, o.width) = (steps, size, size)
    let t = try BenchClock.time(iterations) {
      _ = try pipe(o)
      if dev.isCUDA { try CUDA.synchronize(dev.index ?? 0) }
    }
    print("swift  \(steps)-step generation, batch \(batch), \(size)px: \(BenchClock.fmt(t * 1e3)) ms")
  }
}
