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
    guard let runtime = Torch.runtimeVersion else {
      throw ValidationError("cannot tell the version of the loaded libtorch: no version.py or build-version beside \(path)")
    }
    print("libtorch version: \(runtime)")
    let base = { (v: String) in v.split(separator: "+").first.map(String.init) ?? v }
    let minor = { (v: String) in base(v).split(separator: ".").prefix(2).joined(separator: ".") }
    guard minor(runtime) == minor(built) else {
      throw ValidationError("libtorch \(runtime) is loaded but swift-lcm was built for \(built): rebuild with scripts/setup.sh or point LIBTORCH at torch \(built)")
    }
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
