import CTorch

/// Process-wide libtorch state: versions, threads, seeds, CUDA.
public enum Torch {
  /// The libtorch version this build was compiled against (its headers).
  public static var buildVersion: String { String(cString: ct_build_version()) }

  /// Path of the libtorch_cpu.so the process loaded.
  public static var libraryPath: String { String(cString: ct_library_path()) }

  /// The version of the loaded libtorch, read from the wheel's `version.py` or a libtorch
  /// distribution's `build-version` beside its lib/ folder; nil when neither exists.
  public static var runtimeVersion: String? { RuntimeVersion.read(libraryPath: libraryPath) }

  /// Why the loaded libtorch cannot be used with this build, or nil when it can (same
  /// major.minor version as the headers; local suffixes like "+cu130" do not matter).
  public static func versionProblem(built: String = buildVersion, loaded: String? = runtimeVersion) -> String? {
    guard let loaded else {
      return "cannot tell the version of the loaded libtorch (\(libraryPath.isEmpty ? "path unknown" : libraryPath)): no version.py or build-version beside its lib/ folder"
    }
    func minor(_ v: String) -> String {
      (v.split(separator: "+").first.map(String.init) ?? v).split(separator: ".").prefix(2).joined(separator: ".")
    }
    if minor(loaded) != minor(built) {
      return "libtorch \(loaded) is loaded but swift-lcm was built for \(built): run scripts/setup.sh, or point LIBTORCH at torch \(built)"
    }
    return nil
  }

  public static var numThreads: Int {
    get {
      var n: Int32 = 0
      _ = ct_get_num_threads(&n)
      return Int(n)
    }
    set { _ = ct_set_num_threads(Int32(newValue)) }
  }

  public static var numInteropThreads: Int {
    var n: Int32 = 0
    _ = ct_get_num_interop_threads(&n)
    return Int(n)
  }

  /// Seeds the default CPU and CUDA generators (torch.manual_seed).
  public static func manualSeed(_ seed: UInt64) throws(TorchError) {
    try check("manual_seed", ct_manual_seed(seed))
  }

  /// torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32 together.
  public static func setAllowTF32(_ allow: Bool) throws(TorchError) {
    try check("allow_tf32", ct_set_allow_tf32(allow))
  }
}

/// torch.cuda.
public enum CUDA {
  /// The calling thread's current CUDA device (what `cuda` without an index means).
  public static func setDevice(_ index: Int) throws(TorchError) {
    try check("torch.cuda.set_device(\(index))", ct_cuda_set_device(Int32(clamping: index)))
  }

  /// Whether libtorch_cuda.so was loaded at start-up, and what the loader said.
  public static var libraryLoaded: (Bool, String) {
    var b = false
    _ = ct_cuda_load(&b)
    return (b, String(cString: ct_cuda_load_message()))
  }

  public static var isAvailable: Bool {
    var b = false
    return ct_cuda_is_available(&b) == 0 && b
  }

  public static var deviceCount: Int {
    var n: Int32 = 0
    return ct_cuda_device_count(&n) == 0 ? Int(n) : 0
  }

  public struct DeviceInfo: Sendable {
    public let index: Int
    public let name: String
    public let totalMemory: UInt64
  }

  public static func deviceInfo(_ index: Int) throws(TorchError) -> DeviceInfo {
    var name = [CChar](repeating: 0, count: 256)
    var total: UInt64 = 0
    try check("cuda_device_info", ct_cuda_device_info(Int32(index), &name, name.count, &total))
    let bytes = name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return DeviceInfo(index: index, name: String(decoding: bytes, as: UTF8.self), totalMemory: total)
  }

  public static func synchronize(_ index: Int = 0) throws(TorchError) {
    try check("cuda_synchronize", ct_cuda_synchronize(Int32(index)))
  }

  public struct MemoryStats: Sendable {
    public let allocated: UInt64
    public let peakAllocated: UInt64
    public let reserved: UInt64
  }

  /// torch.cuda.memory_allocated / max_memory_allocated / memory_reserved.
  public static func memoryStats(_ index: Int = 0) throws(TorchError) -> MemoryStats {
    var a: UInt64 = 0, p: UInt64 = 0, r: UInt64 = 0
    try check("cuda_memory_stats", ct_cuda_memory_stats(Int32(index), &a, &p, &r))
    return MemoryStats(allocated: a, peakAllocated: p, reserved: r)
  }

  public static func resetPeakMemoryStats(_ index: Int = 0) throws(TorchError) {
    try check("cuda_reset_peak_memory", ct_cuda_reset_peak_memory(Int32(index)))
  }

  public static func emptyCache() throws(TorchError) {
    try check("cuda_empty_cache", ct_cuda_empty_cache())
  }
}

/// Gradient clipping over parameters (torch.nn.utils.clip_grad_norm_); returns the total norm.
public func clipGradNorm_(_ params: [Tensor], maxNorm: Double, normType: Double = 2) throws(TorchError) -> Tensor {
  try make("clip_grad_norm_") { out in params.withHandles { ct_clip_grad_norm_($0, $1, maxNorm, normType, out) } }
}
