#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// Named tensors to read: a single `SafeTensorsFile` or a sharded `SafeTensorsIndex`.
public protocol TensorSource: AnyObject, Sendable {
  /// The file this source was opened from.
  var path: String { get }
  var metadata: [String: String] { get }
  /// Tensor names in byte-wise (UTF-8) order.
  var keys: [String] { get }
  /// The tensor's dtype, shape and byte range, or nil when there is no such tensor.
  func info(_ key: String) -> TensorInfo?
  /// Calls `body` with the tensor's raw little-endian bytes (valid only during the call);
  /// throws `SafeTensorsError` when the tensor is missing or its shard cannot be read.
  func withBytes<R>(_ key: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R
}

extension TensorSource {
  /// The tensor's info, or a `SafeTensorsError` naming the missing key.
  public func tensorInfo(_ key: String) throws(SafeTensorsError) -> TensorInfo {
    guard let info = info(key) else { throw SafeTensorsError(path, "no tensor named \(quoted(key))") }
    return info
  }

  /// A copy of the tensor's raw bytes.
  public func bytes(_ key: String) throws -> [UInt8] {
    try withBytes(key) { Array($0) }
  }
}

/// Opens a `.safetensors` file, a `.safetensors.index.json` sharded checkpoint, or a directory
/// holding `model.safetensors.index.json` or `model.safetensors`.
public func openSafeTensors(path: String) throws(SafeTensorsError) -> any TensorSource {
  var status = stat()
  if stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR {
    let directory = path.hasSuffix("/") ? String(path.dropLast()) : path
    for candidate in ["model.safetensors.index.json", "model.safetensors"] {
      let full = directory + "/" + candidate
      if access(full, F_OK) == 0 { return try openSafeTensors(path: full) }
    }
    throw SafeTensorsError(path, "directory has neither model.safetensors.index.json nor model.safetensors")
  }
  if path.hasSuffix(".json") { return try SafeTensorsIndex(path: path) }
  return try SafeTensorsFile(path: path)
}
