import ArgumentParser
import Torch

#if canImport(Glibc)
  import Glibc
#endif

/// Per-op overhead and matmul throughput from Swift; scripts/bench_ops.sh runs it beside Python.
struct BenchOps: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ops", abstract: "Time tiny ops (per-op overhead) and a large matmul.")

  @Option(help: "Iterations of each tiny op.") var iterations = 200_000
  @Option(help: "Matmul size n (n×n @ n×n).") var matmul = 1024
  @Option(help: "Device: cpu or cuda[:N].") var device = "cpu"
  @Option(help: "Matmul dtype: float32, bfloat16, float16.") var dtype = "float32"
  @Option(help: "Intra-op threads (0: libtorch's default).") var threads = 1

  func run() throws {
    guard let dev = Device(parsing: device) else { throw ValidationError("bad --device '\(device)'") }
    guard let dt = DType(name: dtype) else { throw ValidationError("bad --dtype '\(dtype)'") }
    if threads > 0 { Torch.numThreads = threads }
    let a = try Tensor.randn([4], device: dev)
    let b = try Tensor.randn([4], device: dev)
    let x = try Tensor.randn([1, 8], device: dev)
    let w = try Tensor.randn([8, 8], device: dev)
    let bias = try Tensor.randn([8], device: dev)

    let add = try time(iterations) { _ = try a + b }
    let linear = try time(iterations) { _ = try F.silu(F.linear(x, w, bias)) }
    print("swift  tiny add:          \(fmt(add * 1e6)) us/op")
    print("swift  tiny linear+silu:  \(fmt(linear * 1e6)) us/iter")

    let m1 = try Tensor.randn([matmul, matmul], device: dev).to(dt)
    let m2 = try Tensor.randn([matmul, matmul], device: dev).to(dt)
    let sync = { () throws in if dev.isCUDA { try CUDA.synchronize(dev.index ?? 0) } }
    _ = try m1.matmul(m2)
    try sync()
    let reps = dev.isCUDA ? 50 : 5
    let t = try time(reps) { _ = try m1.matmul(m2) } + 0
    try sync()
    let t2 = try time(reps) { _ = try m1.matmul(m2); try sync() }
    let seconds = max(t, t2)
    let flops = 2.0 * Double(matmul) * Double(matmul) * Double(matmul)
    print("swift  matmul \(matmul)^3 \(dt): \(fmt(seconds * 1e3)) ms, \(fmt(flops / seconds / 1e12)) TFLOP/s")
  }

  func time(_ n: Int, _ body: () throws -> Void) throws -> Double { try BenchClock.time(n, body) }
  func fmt(_ v: Double) -> String { BenchClock.fmt(v) }
}

/// Wall-clock timing for the bench commands.
enum BenchClock {
  /// Mean seconds per call after min(n, 1000) warm-up calls.
  static func time(_ n: Int, _ body: () throws -> Void) throws -> Double {
    for _ in 0..<min(n, 1000) { try body() }
    let start = now()
    for _ in 0..<n { try body() }
    return (now() - start) / Double(n)
  }

  static func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
  }

  static func fmt(_ v: Double) -> String {
    // an fp16 step with overflowing gradients reports an inf/NaN norm: print it, never trap
    guard v.isFinite, abs(v) < 1e15 else { return "\(v)" }
    let hundredths = Int((v * 100).rounded())
    let frac = abs(hundredths % 100)
    return "\(hundredths / 100).\(frac < 10 ? "0" : "")\(frac)"
  }
}
