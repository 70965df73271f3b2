import Foundation

/// A forward-only stream of a shard's bytes; shards are never held in memory whole.
public protocol ByteSource: AnyObject {
  /// Up to `buffer.count` bytes; 0 at the end. Throws `DataError.shard` (with the fault) on failure.
  func read(into buffer: UnsafeMutableRawBufferPointer) throws(DataError) -> Int
  /// Skips `count` bytes forward; returns false when the stream ended first.
  func skip(_ count: Int64) throws(DataError) -> Bool
  /// Ends the stream; a `pipe:` command's failure is reported here, after its output was read.
  func close() throws(DataError)
  /// Whether `open(at:)` can start at a byte offset (local files): needed for exact resume.
  var seekable: Bool { get }
}

extension ByteSource {
  public func skip(_ count: Int64) throws(DataError) -> Bool {
    var left = count
    let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 16, alignment: 1)
    defer { scratch.deallocate() }
    while left > 0 {
      let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<Int(min(left, 1 << 16))]))
      if n == 0 { return false }
      left -= Int64(n)
    }
    return true
  }
  public var seekable: Bool { false }
}

/// Opens shards by URL: `pipe:CMD`, `http(s)://`, `file:PATH`, or a local path.
public struct ShardOpener: Sendable {
  /// How `http(s)://` shards are fetched; replaceable (tests, another HTTP client).
  public var http: @Sendable (_ url: String) throws(DataError) -> any ByteSource

  public init(http: @escaping @Sendable (_ url: String) throws(DataError) -> any ByteSource = { url throws(DataError) in
    try HTTPSource.open(url: url)
  }) {
    self.http = http
  }

  public func open(_ url: String, at offset: Int64 = 0) throws(DataError) -> any ByteSource {
    let source: any ByteSource
    if url.hasPrefix("pipe:") {
      source = try PipeSource(command: String(url.dropFirst(5)), shard: url)
    } else if url.hasPrefix("http://") || url.hasPrefix("https://") {
      source = try http(url)
    } else {
      var path = url
      if path.hasPrefix("file://") { path = String(path.dropFirst(7)) } else if path.hasPrefix("file:") { path = String(path.dropFirst(5)) }
      return try FileSource(path: path, shard: url, offset: offset)
    }
    if offset > 0, try !source.skip(offset) {
      throw DataError.shard(fault: .truncatedTar, shard: url, message: "stream ended before the resume offset \(offset)")
    }
    return source
  }
}

/// A local file read with read(2) into the caller's buffer.
public final class FileSource: ByteSource {
  let fd: Int32
  let shard: String

  public init(path: String, shard: String, offset: Int64 = 0) throws(DataError) {
    var st = stat()
    if stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR {
      throw DataError.shard(fault: .unreadableShard, shard: shard, message: "is a directory; list its .tar files instead (e.g. dir/{00000..00099}.tar)")
    }
    if stat(path, &st) == 0, (st.st_mode & S_IFMT) != S_IFREG {
      // a FIFO or device would block or never end; streams go through pipe:
      throw DataError.shard(fault: .unreadableShard, shard: shard, message: "is not a regular file; stream it with pipe:cat FILE")
    }
    fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
      throw DataError.shard(fault: .unreadableShard, shard: shard, message: "cannot open: \(String(cString: strerror(errno)))")
    }
    self.shard = shard
    if offset > 0, lseek(fd, off_t(offset), SEEK_SET) < 0 {
      Glibc.close(fd)
      throw DataError.shard(fault: .unreadableShard, shard: shard, message: "cannot seek to \(offset)")
    }
  }

  deinit { Glibc.close(fd) }

  public func read(into buffer: UnsafeMutableRawBufferPointer) throws(DataError) -> Int {
    while true {
      let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
      if n >= 0 { return n }
      if errno == EINTR { continue }
      throw DataError.shard(fault: .unreadableShard, shard: shard, message: "read failed: \(String(cString: strerror(errno)))")
    }
  }

  public func skip(_ count: Int64) throws(DataError) -> Bool {
    let here = lseek(fd, 0, SEEK_CUR), end = lseek(fd, 0, SEEK_END)
    guard here >= 0, end >= 0 else { throw DataError.shard(fault: .unreadableShard, shard: shard, message: "cannot seek") }
    let target = min(Int64(here) + count, Int64(end))
    lseek(fd, off_t(target), SEEK_SET)
    return target == Int64(here) + count
  }

  public func close() throws(DataError) {}
  public var seekable: Bool { true }
}

/// `pipe:CMD`: the command runs through `/bin/sh -c`, its stdout is the shard. A non-zero exit
/// (other than 141, SIGPIPE when we stop reading early, as webdataset allows) is reported with the
/// end of its stderr.
public final class PipeSource: ByteSource {
  let process = Process()
  let stdout: FileHandle
  let stderrPath: String
  let shard: String
  let fault: DataFault
  let statusHint: @Sendable (Int32) -> String?
  var finished = false

  /// `fault`: how a failed command is counted (`pipeFailed`, or `httpError` for curl);
  /// `statusHint` names what an exit status means.
  public init(
    command: String, shard: String, fault: DataFault = .pipeFailed, statusHint: @escaping @Sendable (Int32) -> String? = { _ in nil }
  ) throws(DataError) {
    self.shard = shard
    self.fault = fault
    self.statusHint = statusHint
    stderrPath = FileManager.default.temporaryDirectory.path + "/lcm-pipe-\(UUID().uuidString).err"
    let pipe = Pipe()
    stdout = pipe.fileHandleForReading
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    process.standardOutput = pipe
    process.standardInput = FileHandle.nullDevice
    do {
      FileManager.default.createFile(atPath: stderrPath, contents: nil)
      process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
      try process.run()
    } catch {
      try? FileManager.default.removeItem(atPath: stderrPath)
      throw DataError.shard(fault: fault, shard: shard, message: "cannot start the command: \(error)")
    }
  }

  deinit {
    if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    try? FileManager.default.removeItem(atPath: stderrPath)
  }

  public func read(into buffer: UnsafeMutableRawBufferPointer) throws(DataError) -> Int {
    while true {
      let n = Glibc.read(stdout.fileDescriptor, buffer.baseAddress, buffer.count)
      if n > 0 { return n }
      if n < 0 && errno == EINTR { continue }
      if n < 0 { throw DataError.shard(fault: fault, shard: shard, message: "read failed: \(String(cString: strerror(errno)))") }
      try finish(atEndOfOutput: true)  // the exit status decides whether the shard was complete
      return 0
    }
  }

  public func close() throws(DataError) { try finish(atEndOfOutput: false) }

  func finish(atEndOfOutput: Bool) throws(DataError) {
    guard !finished else { return }
    finished = true
    // after end of output the command is exiting (it may not be reaped yet: isRunning can still
    // be true), so wait for its status rather than taking it for an early stop
    if !atEndOfOutput && process.isRunning {
      // Stopped early: the reader is done, so the command's SIGPIPE/SIGTERM is expected.
      // SIGKILL, not terminate(): a command started from a worker thread can inherit a signal
      // mask that blocks SIGTERM and SIGPIPE, and would then never exit.
      try? stdout.close()
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
      return
    }
    process.waitUntilExit()
    let status = process.terminationStatus
    guard status != 0, status != 141 else { return }
    let err = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
    let tail = err.split(whereSeparator: \.isNewline).suffix(3).joined(separator: " | ")
    let hint = statusHint(status).map { " (\($0))" } ?? ""
    throw DataError.shard(fault: fault, shard: shard, message: "command exited with status \(status)\(hint)\(tail.isEmpty ? "" : ": \(tail)")")
  }
}
