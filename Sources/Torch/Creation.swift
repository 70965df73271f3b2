import CTorch

// Factory functions, spelled as torch's.
extension Tensor {
  public static func empty(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws(TorchError) -> Tensor {
    try make("empty") { out in shape.withInt64s { ct_empty($0, $1, dtype.rawValue, device.c, out) } }
  }

  public static func zeros(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws(TorchError) -> Tensor {
    try make("zeros") { out in shape.withInt64s { ct_zeros($0, $1, dtype.rawValue, device.c, out) } }
  }

  public static func ones(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) throws(TorchError) -> Tensor {
    try make("ones") { out in shape.withInt64s { ct_ones($0, $1, dtype.rawValue, device.c, out) } }
  }

  public static func full(
    _ shape: [Int], _ value: Double, dtype: DType = .float32, device: Device = .cpu
  ) throws(TorchError) -> Tensor {
    try make("full") { out in shape.withInt64s { ct_full($0, $1, value, dtype.rawValue, device.c, out) } }
  }

  public static func arange(
    _ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .int64, device: Device = .cpu
  ) throws(TorchError) -> Tensor {
    try make("arange") { ct_arange(start, end, step, dtype.rawValue, device.c, $0) }
  }

  public static func linspace(
    _ start: Double, _ end: Double, steps: Int, dtype: DType = .float32, device: Device = .cpu
  ) throws(TorchError) -> Tensor {
    try make("linspace") { ct_linspace(start, end, Int64(steps), dtype.rawValue, device.c, $0) }
  }

  public func emptyLike() throws(TorchError) -> Tensor { try make("empty_like") { ct_like(handle, Int32(CT_LIKE_EMPTY.rawValue), $0) } }
  public func zerosLike() throws(TorchError) -> Tensor { try make("zeros_like") { ct_like(handle, Int32(CT_LIKE_ZEROS.rawValue), $0) } }
  public func onesLike() throws(TorchError) -> Tensor { try make("ones_like") { ct_like(handle, Int32(CT_LIKE_ONES.rawValue), $0) } }
  public func randnLike() throws(TorchError) -> Tensor { try make("randn_like") { ct_like(handle, Int32(CT_LIKE_RANDN.rawValue), $0) } }
  public func randLike() throws(TorchError) -> Tensor { try make("rand_like") { ct_like(handle, Int32(CT_LIKE_RAND.rawValue), $0) } }
  public func fullLike(_ value: Double) throws(TorchError) -> Tensor { try make("full_like") { ct_full_like(handle, value, $0) } }

  // MARK: random

  public static func randn(
    _ shape: [Int], dtype: DType = .float32, device: Device = .cpu, generator: Generator? = nil
  ) throws(TorchError) -> Tensor {
    try make("randn") { out in
      shape.withInt64s { ct_randn($0, $1, dtype.rawValue, device.c, generator?.handle, out) }
    }
  }

  public static func rand(
    _ shape: [Int], dtype: DType = .float32, device: Device = .cpu, generator: Generator? = nil
  ) throws(TorchError) -> Tensor {
    try make("rand") { out in
      shape.withInt64s { ct_rand($0, $1, dtype.rawValue, device.c, generator?.handle, out) }
    }
  }

  /// Integers in [low, high).
  public static func randint(
    _ low: Int, _ high: Int, _ shape: [Int], dtype: DType = .int64, device: Device = .cpu,
    generator: Generator? = nil
  ) throws(TorchError) -> Tensor {
    try make("randint") { out in
      shape.withInt64s {
        ct_randint(Int64(low), Int64(high), $0, $1, dtype.rawValue, device.c, generator?.handle, out)
      }
    }
  }

  public static func randperm(
    _ n: Int, dtype: DType = .int64, device: Device = .cpu, generator: Generator? = nil
  ) throws(TorchError) -> Tensor {
    try make("randperm") { ct_randperm(Int64(n), dtype.rawValue, device.c, generator?.handle, $0) }
  }

  @discardableResult
  public func normal_(mean: Double = 0, std: Double = 1, generator: Generator? = nil) throws(TorchError) -> Tensor {
    try check("normal_", ct_normal_(handle, mean, std, generator?.handle))
    return self
  }

  @discardableResult
  public func uniform_(_ from: Double = 0, _ to: Double = 1, generator: Generator? = nil) throws(TorchError) -> Tensor {
    try check("uniform_", ct_uniform_(handle, from, to, generator?.handle))
    return self
  }

  public func bernoulli(generator: Generator? = nil) throws(TorchError) -> Tensor {
    try make("bernoulli") { ct_bernoulli(handle, generator?.handle, $0) }
  }
}

/// A random-number generator of one device (torch.Generator).
public final class Generator {
  let handle: CTGenerator

  public init(device: Device = .cpu, seed: UInt64 = 67_280_421_310_721) throws(TorchError) {
    var out: CTGenerator?
    try check("Generator", ct_generator_new(device.c, seed, &out))
    handle = out!
  }

  deinit { ct_generator_free(handle) }

  public func manualSeed(_ seed: UInt64) throws(TorchError) {
    try check("manual_seed", ct_generator_manual_seed(handle, seed))
  }

  /// The generator's state as a uint8 tensor (torch.Generator.get_state).
  public func state() throws(TorchError) -> Tensor {
    try make("get_state") { ct_generator_get_state(handle, $0) }
  }

  public func setState(_ state: Tensor) throws(TorchError) {
    try check("set_state", ct_generator_set_state(handle, state.handle))
  }
}
