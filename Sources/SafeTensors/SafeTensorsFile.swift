#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// One `.safetensors` file, memory-mapped read-only and validated on open.
///
/// Tensor bytes are never copied by this class: `withBytes` hands out a view of the mapping.
/// Instances are immutable after `init`, so they can be shared across threads.
/// (As with any mmap, truncating the file on disk while it is open can crash the reader.)
public final class SafeTensorsFile: TensorSource, @unchecked Sendable {
  public let path: String
  public let metadata: [String: String]
  /// Tensor names in byte-wise (UTF-8) order.
  public let keys: [String]
  private let tensors: [String: TensorInfo]
  private let base: UnsafeRawPointer
  private let mappedLength: Int
  /// Offset of the data section from the start of the file.
  public let dataStart: Int

  /// Opens, maps and validates `path`; every problem with the file is a `SafeTensorsError`.
  public init(path: String) throws(SafeTensorsError) {
    self.path = path
    // O_NONBLOCK: a FIFO given as a weights file must not block the open (it is refused below)
    let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
    guard fd >= 0 else { throw SafeTensorsError(path, "cannot open: \(systemError())") }
    defer { close(fd) }  // the mapping outlives the descriptor

    var status = stat()
    guard fstat(fd, &status) == 0 else { throw SafeTensorsError(path, "cannot stat: \(systemError())") }
    guard (status.st_mode & S_IFMT) == S_IFREG else {
      throw SafeTensorsError(path, "not a regular file")
    }
    guard let size = Int(exactly: status.st_size), size >= 0 else {
      throw SafeTensorsError(path, "file size \(status.st_size) is out of range")
    }

    // mmap rejects length 0; validate an empty image instead so the error is the usual one.
    guard size > 0 else {
      _ = try Header.parse(file: UnsafeRawBufferPointer(start: nil, count: 0), path: path)
      throw SafeTensorsError(path, "file is empty")
    }
    guard let mapping = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0),
      mapping != UnsafeMutableRawPointer(bitPattern: -1)  // MAP_FAILED
    else { throw SafeTensorsError(path, "cannot memory-map \(size) bytes: \(systemError())") }

    let header: Header
    do {
      header = try Header.parse(file: UnsafeRawBufferPointer(start: mapping, count: size), path: path)
    } catch {
      munmap(mapping, size)
      throw error
    }
    base = UnsafeRawPointer(mapping)
    mappedLength = size
    metadata = header.metadata
    tensors = header.tensors
    dataStart = header.dataStart
    keys = header.tensors.keys.sorted(by: utf8Less)
  }

  deinit {
    munmap(UnsafeMutableRawPointer(mutating: base), mappedLength)
  }

  /// The tensor's dtype, shape and byte range, or nil when the file has no such tensor.
  public func info(_ key: String) -> TensorInfo? { tensors[key] }

  /// Size of the data section in bytes.
  public var dataSize: Int { mappedLength - dataStart }

  /// Calls `body` with the tensor's raw little-endian bytes, straight from the mapping (valid
  /// only during the call; may be unaligned for files not padded like Python's).
  public func withBytes<R>(_ key: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
    guard let info = tensors[key] else {
      throw SafeTensorsError(path, "no tensor named \(quoted(key))")
    }
    // Header validation put byteRange inside the data section, hence inside the mapping.
    let bytes = UnsafeRawBufferPointer(start: base + dataStart + info.byteRange.lowerBound, count: info.byteRange.count)
    return try withExtendedLifetime(self) { try body(bytes) }
  }
}

func systemError() -> String {
  String(cString: strerror(errno))
}
