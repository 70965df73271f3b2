import ArgumentParser
import Torch

struct Doctor: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print swift-lcm's version, the libtorch it runs against, threads and CUDA devices.")

  func run() throws {
    print("swift-lcm \(LCM.version)")
    let built = Torch.buildVersion
    print("libtorch (build): \(built)")
    let path = Torch.libraryPath
    print("libtorch (loaded): \(path.isEmpty ? "unknown path" : path)")
    if let problem = Torch.versionProblem() { throw ValidationError(problem) }
    print("libtorch version: \(Torch.runtimeVersion!)")
    print("threads: \(Torch.numThreads) intra-op, \(Torch.numInteropThreads) inter-op")
    let (loaded, message) = CUDA.libraryLoaded
    print("libtorch_cuda: \(loaded ? "loaded" : "not loaded (\(message))")")
    if CUDA.isAvailable {
      print("CUDA: available, \(CUDA.deviceCount) device(s)")
      for i in 0..<CUDA.deviceCount {
        let info = try CUDA.deviceInfo(i)
        let gib = Double(info.totalMemory) / Double(1 << 30)
        print("  cuda:\(i) \(info.name), \(String(format1: gib)) GiB")
      }
    } else {
      print("CUDA: not available (CPU only)")
    }
  }
}

extension String {
  /// One decimal, without Foundation.
  init(format1 value: Double) {
    let tenths = Int((value * 10).rounded())
    self = "\(tenths / 10).\(abs(tenths % 10))"
  }
}
