#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// One tensor to write: raw little-endian, row-major bytes.
public struct TensorToWrite: Sendable {
  public var name: String
  public var dtype: DType
  public var shape: [Int]
  public var bytes: [UInt8]

  public init(name: String, dtype: DType, shape: [Int], bytes: [UInt8]) {
    self.name = name
    self.dtype = dtype
    self.shape = shape
    self.bytes = bytes
  }

  /// Copies `bytes`.
  public init(name: String, dtype: DType, shape: [Int], bytes: UnsafeRawBufferPointer) {
    self.init(name: name, dtype: dtype, shape: shape, bytes: Array(bytes))
  }
}

/// Writes safetensors files the way Python's `safetensors` does, byte for byte when the
/// metadata has at most one entry (Python orders several entries by hash).
public enum SafeTensorsWriter {
  /// Writes `tensors` to `path` atomically: a temporary file in the same folder, then rename.
  public static func write(
    _ tensors: [TensorToWrite], metadata: [String: String] = [:], to path: String
  ) throws(SafeTensorsError) {
    let (header, ordered) = try prepare(tensors, metadata: metadata, path: path)

    // Same folder as the target, so the final rename stays on one file system (atomic).
    let slash = path.lastIndex(of: "/")
    let folder = slash.map { String(path[...$0]) } ?? ""  // keeps the slash
    let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
    let temp = folder + ".\(base).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"

    let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw SafeTensorsError(path, "cannot create temporary file: \(systemError())") }
    var done = false
    defer {
      if !done {
        close(fd)
        unlink(temp)
      }
    }
    try writeAll(fd, header, path)
    for tensor in ordered {
      try writeAll(fd, tensor.bytes, path)
    }
    // Flush before rename so a crash cannot leave a complete-looking name with partial data.
    guard fsync(fd) == 0 else { throw SafeTensorsError(path, "cannot flush: \(systemError())") }
    guard close(fd) == 0 else {
      done = true
      unlink(temp)
      throw SafeTensorsError(path, "cannot close: \(systemError())")
    }
    done = true
    guard rename(temp, path) == 0 else {
      let message = systemError()
      unlink(temp)
      throw SafeTensorsError(path, "cannot rename the temporary file into place: \(message)")
    }
  }

  /// The complete file image in memory (same bytes `write` puts on disk).
  public static func serialize(
    _ tensors: [TensorToWrite], metadata: [String: String] = [:]
  ) throws(SafeTensorsError) -> [UInt8] {
    let (header, ordered) = try prepare(tensors, metadata: metadata, path: "")
    var out = header
    for tensor in ordered { out += tensor.bytes }
    return out
  }

  /// Validates the tensors and builds length prefix + padded header; returns tensors in file order.
  static func prepare(
    _ tensors: [TensorToWrite], metadata: [String: String], path: String
  ) throws(SafeTensorsError) -> (header: [UInt8], ordered: [TensorToWrite]) {
    var names = Set<String>()
    for tensor in tensors {
      let label = "tensor \(quoted(tensor.name))"
      guard tensor.name != "__metadata__" else { throw SafeTensorsError(path, "a tensor cannot be named __metadata__") }
      guard names.insert(tensor.name).inserted else { throw SafeTensorsError(path, "\(label) is given twice") }
      guard tensor.shape.allSatisfy({ $0 >= 0 }) else {
        throw SafeTensorsError(path, "\(label) shape \(render(shape: tensor.shape)) has a negative dimension")
      }
      guard let expected = byteCount(shape: tensor.shape, elementSize: tensor.dtype.byteSize) else {
        throw SafeTensorsError(path, "\(label) shape \(render(shape: tensor.shape)) overflows the byte count")
      }
      guard expected == tensor.bytes.count else {
        throw SafeTensorsError(
          path,
          "\(label) shape \(render(shape: tensor.shape)) of \(tensor.dtype) needs \(expected) bytes but \(tensor.bytes.count) were given"
        )
      }
    }
    // Python's order: dtype alignment descending, then name (byte-wise).
    let ordered = tensors.sorted { a, b in
      a.dtype.layoutRank != b.dtype.layoutRank ? a.dtype.layoutRank > b.dtype.layoutRank : utf8Less(a.name, b.name)
    }

    var json: [UInt8] = [UInt8(ascii: "{")]
    var first = true
    func separator() {
      if !first { json.append(UInt8(ascii: ",")) }
      first = false
    }
    if !metadata.isEmpty {
      separator()
      JSONWriter.appendString("__metadata__", to: &json)
      json += Array(":{".utf8)
      for (i, key) in metadata.keys.sorted(by: utf8Less).enumerated() {
        if i > 0 { json.append(UInt8(ascii: ",")) }
        JSONWriter.appendString(key, to: &json)
        json.append(UInt8(ascii: ":"))
        JSONWriter.appendString(metadata[key] ?? "", to: &json)
      }
      json.append(UInt8(ascii: "}"))
    }
    var offset = 0
    for tensor in ordered {
      separator()
      JSONWriter.appendString(tensor.name, to: &json)
      let shape = tensor.shape.map(String.init).joined(separator: ",")
      let end = offset + tensor.bytes.count  // cannot overflow: these are in-memory arrays
      json += Array(":{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}".utf8)
      offset = end
    }
    json.append(UInt8(ascii: "}"))
    // Pad with spaces so the data section starts 8-byte aligned, as Python does.
    json += [UInt8](repeating: UInt8(ascii: " "), count: (8 - json.count % 8) % 8)
    guard json.count <= Header.maxHeaderLength else {
      throw SafeTensorsError(path, "header would be \(json.count) bytes, over the \(Header.maxHeaderLength)-byte limit")
    }

    var header: [UInt8] = []
    header.reserveCapacity(8 + json.count)
    var length = UInt64(json.count)
    for _ in 0..<8 {
      header.append(UInt8(truncatingIfNeeded: length))
      length >>= 8
    }
    header += json
    return (header, ordered)
  }
}

/// Writes all of `bytes`, retrying partial writes and interruptions.
fileprivate func writeAll(_ fd: Int32, _ bytes: [UInt8], _ path: String) throws(SafeTensorsError) {
  // withUnsafeBytes only rethrows untyped errors, so report failure as a value.
  let failure: String? = bytes.withUnsafeBytes { raw in
    var done = 0
    while done < raw.count {
      let chunk = min(raw.count - done, 1 << 30)
      let n = write(fd, raw.baseAddress.map { $0 + done }, chunk)
      if n < 0 {
        if errno == EINTR { continue }
        return systemError()
      }
      done += n
    }
    return nil
  }
  if let failure { throw SafeTensorsError(path, "cannot write: \(failure)") }
}
