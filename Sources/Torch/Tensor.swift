import CTorch

/// A libtorch tensor. Owns one handle and frees it on deinit. Not Sendable: one thread owns tensors.
public final class Tensor {
  let handle: CTTensor

  init(handle: CTTensor) { self.handle = handle }

  deinit { ct_tensor_free(handle) }

  // MARK: metadata

  public var shape: [Int] {
    var buf = (Int64(0), Int64(0), Int64(0), Int64(0), Int64(0), Int64(0), Int64(0), Int64(0))
    var n: Int64 = 0
    let ok = withUnsafeMutableBytes(of: &buf) { raw in
      ct_sizes(handle, raw.baseAddress!.assumingMemoryBound(to: Int64.self), 8, &n) == 0
    }
    guard ok else { return [] }
    if n <= 8 {
      return withUnsafeBytes(of: &buf) { raw in
        (0..<Int(n)).map { Int(raw.load(fromByteOffset: $0 * 8, as: Int64.self)) }
      }
    }
    var big = [Int64](repeating: 0, count: Int(n))
    _ = ct_sizes(handle, &big, n, &n)
    return big.map { Int($0) }
  }

  public var strides: [Int] {
    var n: Int64 = 0
    var buf = [Int64](repeating: 0, count: 16)
    guard ct_strides(handle, &buf, 16, &n) == 0 else { return [] }
    if n > 16 {
      buf = [Int64](repeating: 0, count: Int(n))
      _ = ct_strides(handle, &buf, n, &n)
    }
    return buf.prefix(Int(n)).map { Int($0) }
  }

  public var rank: Int {
    var n: Int64 = 0
    _ = ct_ndim(handle, &n)
    return Int(n)
  }

  public func size(_ dim: Int) -> Int {
    let s = shape
    return s[dim < 0 ? dim + s.count : dim]
  }

  public var numel: Int {
    var n: Int64 = 0
    _ = ct_numel(handle, &n)
    return Int(n)
  }

  public var dtype: DType {
    var d: Int32 = 0
    _ = ct_dtype(handle, &d)
    return DType(rawValue: d) ?? .float32
  }

  public var device: Device {
    var d = CTDevice(type: 0, index: -1)
    _ = ct_device(handle, &d)
    return Device(d)
  }

  public var isContiguous: Bool {
    var b = false
    _ = ct_is_contiguous(handle, &b)
    return b
  }

  public var isChannelsLast: Bool {
    var b = false
    _ = ct_is_channels_last(handle, &b)
    return b
  }

  /// The value of a one-element tensor.
  public func item() throws(TorchError) -> Double {
    var v = 0.0
    try check("item", ct_item_double(handle, &v))
    return v
  }

  public func itemInt() throws(TorchError) -> Int {
    var v: Int64 = 0
    try check("item", ct_item_int64(handle, &v))
    return Int(v)
  }

  /// A second Swift object for the same tensor (shares storage and autograd identity).
  public func alias() -> Tensor {
    var out: CTTensor?
    _ = ct_tensor_clone_handle(handle, &out)
    return Tensor(handle: out!)
  }

  // MARK: host data

  /// A tensor holding a copy of `values` with `shape`.
  public convenience init<T: TensorElement>(
    _ values: [T], shape: [Int]? = nil, device: Device = .cpu
  ) throws(TorchError) {
    let shape = shape ?? [values.count]
    var out: CTTensor?
    let status = values.withUnsafeBytes { raw in
      shape.withInt64s { s, n in
        ct_from_data(raw.baseAddress, raw.count, s, n, T.dtype.rawValue, device.c, &out)
      }
    }
    try check("from_data", status)
    self.init(handle: out!)
  }

  /// A tensor of `dtype` holding a copy of raw little-endian element bytes.
  public convenience init(
    bytes: UnsafeRawBufferPointer, shape: [Int], dtype: DType, device: Device = .cpu
  ) throws(TorchError) {
    var out: CTTensor?
    let status = shape.withInt64s { s, n in
      ct_from_data(bytes.baseAddress, bytes.count, s, n, dtype.rawValue, device.c, &out)
    }
    try check("from_data", status)
    self.init(handle: out!)
  }

  /// A 0-dim tensor.
  public convenience init(scalar: Double, dtype: DType = .float32, device: Device = .cpu) throws(TorchError) {
    var out: CTTensor?
    try check("scalar_tensor", ct_scalar_tensor(scalar, dtype.rawValue, device.c, &out))
    self.init(handle: out!)
  }

  /// The values, converted on the way out only when the dtype differs (then via libtorch).
  public func toArray<T: TensorElement>(_ type: T.Type = T.self) throws(TorchError) -> [T] {
    let src = dtype == T.dtype ? self : try to(T.dtype)
    let count = src.numel
    var result = [T]()
    var status: CTStatus = 0
    result.reserveCapacity(count)
    // swiftlint:disable:next unsafe
    result = [T](unsafeUninitializedCapacity: count) { buf, initialized in
      status = ct_copy_to_host(src.handle, buf.baseAddress, count * MemoryLayout<T>.stride)
      initialized = status == 0 ? count : 0
    }
    try check("copy_to_host", status)
    return result
  }

  /// Raw element bytes (contiguous, CPU, same dtype).
  public func bytes() throws(TorchError) -> [UInt8] {
    let count = numel * dtype.byteSize
    var status: CTStatus = 0
    let result = [UInt8](unsafeUninitializedCapacity: count) { buf, initialized in
      status = ct_copy_to_host(handle, buf.baseAddress, count)
      initialized = status == 0 ? count : 0
    }
    try check("copy_to_host", status)
    return result
  }

  public func floats() throws(TorchError) -> [Float] { try toArray(Float.self) }
}

extension Tensor: CustomStringConvertible {
  public var description: String {
    var s: UnsafeMutablePointer<CChar>?
    guard ct_to_string(handle, &s) == 0, let s else { return "Tensor(<\(lastError())>)" }
    defer { ct_string_free(s) }
    return String(cString: s)
  }
}

// MARK: helpers for the wrappers

/// Runs a shim call that produces one tensor.
@inline(__always)
func make(
  _ op: @autoclosure () -> String, _ body: (UnsafeMutablePointer<CTTensor?>) -> CTStatus
) throws(TorchError) -> Tensor {
  var out: CTTensor?
  let status = body(&out)
  if status != 0 { throw TorchError(op: op(), message: lastError()) }
  return Tensor(handle: out!)
}

extension Array where Element == Int {
  /// Passes the values as int64_t* (Int is 64-bit on every platform this project supports).
  @inline(__always)
  func withInt64s<R>(_ body: (UnsafePointer<Int64>?, Int64) -> R) -> R {
    withUnsafeBufferPointer { buf in
      body(UnsafeRawPointer(buf.baseAddress)?.assumingMemoryBound(to: Int64.self), Int64(buf.count))
    }
  }
}

extension Array where Element == Tensor {
  @inline(__always)
  func withHandles<R>(_ body: (UnsafePointer<CTTensor?>?, Int64) -> R) -> R {
    let handles: [CTTensor?] = map { $0.handle }
    return withExtendedLifetime(self) {
      handles.withUnsafeBufferPointer { body($0.baseAddress, Int64($0.count)) }
    }
  }
}
