import DiffusionModels
import Foundation

/// A file operation that failed, in one line: the operation, the full path and the system's reason
/// (never a raw NSCocoaErrorDomain dump).
public struct FileOperationError: Error, CustomStringConvertible, Sendable {
  public let operation: String
  public let path: String
  public let reason: String
  public init(_ operation: String, _ path: String, _ reason: String) {
    (self.operation, self.path, self.reason) = (operation, path, reason)
  }
  public var description: String { "\(operation) \(path): \(reason)" }
}

/// The system's reason inside a Foundation or POSIX error: "No space left on device", not the
/// NSError's userInfo dump.
public func systemReason(_ error: any Error) -> String {
  let ns = error as NSError
  if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
    return String(cString: strerror(Int32(underlying.code)))
  }
  if ns.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(ns.code))) }
  if ns.domain == NSCocoaErrorDomain {
    switch CocoaError.Code(rawValue: ns.code) {
    case .fileNoSuchFile, .fileReadNoSuchFile: return "no such file or folder"
    case .fileWriteOutOfSpace: return "no space left on device"
    case .fileWriteNoPermission, .fileReadNoPermission: return "permission denied"
    case .fileWriteVolumeReadOnly: return "read-only file system"
    case .fileWriteFileExists: return "a file of that name exists"
    default: return ns.localizedDescription
    }
  }
  return "\(error)".split(separator: "\n").first.map(String.init) ?? "failed"
}

/// Runs `body`; a failure becomes one line naming `operation` and `path`. Errors that already are
/// one line of this project (config, weights, file operations) keep their text, with the operation
/// in front.
public func fileOperation<T>(_ operation: String, _ path: String, _ body: () throws -> T) throws -> T {
  do { return try body() } catch let e as FileOperationError {
    throw e
  } catch let e as ConfigError {
    throw FileOperationError(operation, path, e.description)
  } catch let e as NSError where e.domain == NSCocoaErrorDomain || e.domain == NSPOSIXErrorDomain {
    throw FileOperationError(operation, path, systemReason(e))
  } catch {
    throw FileOperationError(operation, path, "\(error)")
  }
}

/// `--output_dir` of a training run: held under an exclusive lock for the run's lifetime, its
/// checkpoints listed, resumed, pruned and written, leftovers of killed runs removed.
public final class OutputFolder {
  public let path: String
  private var lockFD: Int32 = -1
  static let lockName = ".lcm-run.lock"

  /// Takes the lock of an existing folder at once (a second run on it fails here); a folder that
  /// does not exist yet is created and locked by `create()`, so that bad input writes nothing.
  public init(_ path: String) throws {
    self.path = path
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
      guard isDir.boolValue else { throw FileOperationError("--output_dir", path, "is a file, not a folder") }
      try lock()
    }
  }

  /// Creates the folder if needed and holds its lock.
  public func create() throws {
    guard lockFD < 0 else { return }
    try fileOperation("creating the output folder", path) {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    try lock()
  }

  private func lock() throws {
    let lockPath = "\(path)/\(Self.lockName)"
    let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw FileOperationError("locking the output folder with", lockPath, String(cString: strerror(errno))) }
    if flock(fd, LOCK_EX | LOCK_NB) != 0 {
      let holder = (try? String(contentsOfFile: lockPath, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
      close(fd)
      throw FileOperationError("--output_dir", path,
        "another run is using this folder\(holder.isEmpty ? "" : " (pid \(holder))"); wait for it to end or choose another --output_dir")
    }
    ftruncate(fd, 0)
    let pid = Array("\(getpid())\n".utf8)
    _ = pid.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    lockFD = fd
  }

  deinit { if lockFD >= 0 { close(lockFD) } }

  /// Steps of the complete `checkpoint-N` folders, oldest first.
  public var checkpointSteps: [Int] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
    return names.compactMap { $0.hasPrefix("checkpoint-") ? Int($0.dropFirst("checkpoint-".count)) : nil }.sorted()
  }

  public var latestCheckpoint: String? { checkpointSteps.last.map { "\(path)/checkpoint-\($0)" } }

  /// `--resume_from_checkpoint`: "latest" (nil when there is none, as the script starts fresh),
  /// a folder name inside the output folder, or a path. A named checkpoint that does not exist
  /// is an error.
  public func resolveCheckpoint(_ name: String) throws -> String? {
    if name == "latest" { return latestCheckpoint }
    let candidates = [name, "\(path)/\((name as NSString).lastPathComponent)"]
    guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
      let have = checkpointSteps.map { "checkpoint-\($0)" }
      throw FileOperationError("--resume_from_checkpoint", name,
        "no such checkpoint in \(path) (\(have.isEmpty ? "it has none" : "it has " + have.joined(separator: ", "))); use latest to resume the newest or start fresh")
    }
    return found
  }

  /// Hidden temporary files and folders that a killed run left (a checkpoint being written, a
  /// safetensors file being written): removed, and returned so the caller can say so.
  public func removeLeftovers() -> [String] {
    var removed: [String] = []
    let fm = FileManager.default
    var folders = [path]
    for name in (try? fm.contentsOfDirectory(atPath: path)) ?? [] {
      var isDir: ObjCBool = false
      if fm.fileExists(atPath: "\(path)/\(name)", isDirectory: &isDir), isDir.boolValue, !name.hasPrefix(".") { folders.append("\(path)/\(name)") }
    }
    for folder in folders {
      for name in (try? fm.contentsOfDirectory(atPath: folder)) ?? [] where Self.isLeftover(name) {
        if (try? fm.removeItem(atPath: "\(folder)/\(name)")) != nil { removed.append("\(folder)/\(name)") }
      }
    }
    return removed
  }

  /// `.checkpoint-N.tmp` (a checkpoint being written) and `.NAME.tmp-PID-RANDOM` (a file being
  /// written by the safetensors writer).
  static func isLeftover(_ name: String) -> Bool {
    guard name.hasPrefix(".") else { return false }
    return (name.hasPrefix(".checkpoint-") && name.hasSuffix(".tmp")) || name.contains(".tmp-")
  }

  /// Removes every checkpoint (a fresh run with --overwrite_output_dir); returns their names.
  public func removeCheckpoints() throws -> [String] {
    try checkpointSteps.map { step in
      let dir = "\(path)/checkpoint-\(step)"
      try fileOperation("removing the old checkpoint", dir) { try FileManager.default.removeItem(atPath: dir) }
      return "checkpoint-\(step)"
    }
  }

  /// Writes `checkpoint-<step>` through `.checkpoint-<step>.tmp`, renamed only when complete; a
  /// failure removes the temporary folder and leaves the earlier checkpoints as they were.
  public func writeCheckpoint(step: Int, _ write: (String) throws -> Void) throws -> String {
    let fm = FileManager.default
    let final = "\(path)/checkpoint-\(step)"
    let tmp = "\(path)/.checkpoint-\(step).tmp"
    try? fm.removeItem(atPath: tmp)
    do {
      try fileOperation("writing the checkpoint", tmp) {
        try fm.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        try write(tmp)
      }
      try fileOperation("replacing the checkpoint", final) { if fm.fileExists(atPath: final) { try fm.removeItem(atPath: final) } }
      try fileOperation("renaming the finished checkpoint to", final) { try fm.moveItem(atPath: tmp, toPath: final) }
    } catch {
      try? fm.removeItem(atPath: tmp)
      throw error
    }
    return final
  }

  /// Keeps the newest `limit` checkpoints (--checkpoints_total_limit), called after a new one is
  /// complete; returns the removed folders.
  public func prune(keep limit: Int) -> [String] {
    checkpointSteps.dropLast(max(limit, 0)).compactMap { step in
      let dir = "\(path)/checkpoint-\(step)"
      return (try? FileManager.default.removeItem(atPath: dir)) != nil ? dir : nil
    }
  }
}
