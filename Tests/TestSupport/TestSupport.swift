import Foundation
import Synchronization

/// Helpers the test targets share: the repository root, the reference Python, temp folders and
/// running a command (the `lcm` debug binary, a fixture script) with its output captured.

/// The repository root, found from this file's location (Tests/TestSupport/…).
public let repoRoot = URL(fileURLWithPath: #filePath)
  .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// The reference Python (torch, diffusers, ...): $SWIFT_LCM_PYTHON, else the one scripts/setup.sh makes.
/// The unmodified upstream scripts (the workplace's shared/reference/upstream beside the
/// repository, or $SWIFT_LCM_UPSTREAM); nil where a clone stands alone. Parity tests that run
/// their helpers are enabled only where they are.
public let upstreamScripts: String? = {
  let candidates = [ProcessInfo.processInfo.environment["SWIFT_LCM_UPSTREAM"], "\(repoRoot)/../shared/reference/upstream", "\(repoRoot)/shared/reference/upstream"]
  return candidates.compactMap { $0 }.first { FileManager.default.fileExists(atPath: "\($0)/train_lcm_distill_sdxl_wds.py") }
}()

public let pythonPath: String =
  ProcessInfo.processInfo.environment["SWIFT_LCM_PYTHON"] ?? (NSHomeDirectory() + "/.cache/swift-lcm/py/bin/python")

/// A command's exit status and its two output streams.
public struct CommandResult: Sendable {
  public let status: Int32
  public let stdout: Data
  public let stderr: Data
  /// stdout then stderr, as text (for messages and for commands that print to either).
  public var output: String { String(decoding: stdout + stderr, as: UTF8.self) }
}

public struct CommandFailure: Error, CustomStringConvertible {
  public let description: String
  public init(description: String) { self.description = description }
}

/// Runs `executable` to completion; both pipes are drained (stderr on another thread), so a
/// chatty command cannot block on a full pipe.
public func runCommand(_ executable: String, _ arguments: [String], in directory: String? = nil) throws -> CommandResult {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
  let out = Pipe(), err = Pipe()
  process.standardOutput = out
  process.standardError = err
  try process.run()
  let errData = LockedData()
  let reader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
  reader.start()
  let output = out.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  while !errData.isSet { usleep(1000) }
  return CommandResult(status: process.terminationStatus, stdout: output, stderr: errData.value)
}

/// The `lcm` debug binary that `swift build --build-tests` builds.
public func runLCM(_ arguments: [String]) throws -> CommandResult {
  try runCommand("\(repoRoot)/.build/debug/lcm", arguments)
}

/// A repository Python script (path relative to the root); a missing interpreter or a non-zero
/// exit is an error carrying the script's stderr (parity needs the reference, it is not skipped).
public func runScript(_ script: String, _ arguments: [String]) throws -> Data {
  guard FileManager.default.isExecutableFile(atPath: pythonPath) else {
    throw CommandFailure(description: "Python not found at \(pythonPath): set SWIFT_LCM_PYTHON or run scripts/setup.sh")
  }
  let r = try runCommand(pythonPath, ["\(repoRoot)/\(script)"] + arguments)
  guard r.status == 0 else {
    throw CommandFailure(description: "\(script) \(arguments.joined(separator: " ")) exited \(r.status): \(String(decoding: r.stderr, as: UTF8.self))")
  }
  return r.stdout
}

final class LockedData: @unchecked Sendable {
  private let lock = NSLock()
  private var data: Data?
  func set(_ d: Data) { lock.lock(); data = d; lock.unlock() }
  var isSet: Bool { lock.lock(); defer { lock.unlock() }; return data != nil }
  var value: Data { lock.lock(); defer { lock.unlock() }; return data ?? Data() }
}

/// A fresh directory under the system temp folder, removed when released.
public final class TempDir: Sendable {
  public let path: String

  public init() throws {
    let template = FileManager.default.temporaryDirectory.path + "/swift-lcm-tests-XXXXXX"
    var bytes = Array(template.utf8CString)
    guard let made = mkdtemp(&bytes) else { throw CocoaError(.fileWriteUnknown) }
    path = String(cString: made)
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }

  public func file(_ name: String) -> String { path + "/" + name }

  /// Writes raw bytes (no validation), creating folders; returns the path.
  @discardableResult
  public func write(_ name: String, _ bytes: [UInt8]) throws -> String {
    let full = file(name)
    try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(bytes).write(to: URL(fileURLWithPath: full))
    return full
  }
}

/// Fixtures a script makes on the test machine (libtorch's CPU kernels and the oracles' versions
/// decide the expected values, so they are made where they are checked): the script runs once per
/// test process with a fresh folder as its last argument; the folder is removed at exit.
public enum LiveFixture {
  private static let made = Mutex<[String]>([])

  public static func make(_ script: String, name: String, _ arguments: [String] = []) -> Result<String, CommandFailure> {
    let dir = FileManager.default.temporaryDirectory.path + "/swift-lcm-\(name)-\(getpid())"
    do {
      _ = try runScript(script, arguments + [dir])
    } catch {
      return .failure(CommandFailure(description: "\(script): \(error)"))
    }
    let first = made.withLock { paths in
      paths.append(dir)
      return paths.count == 1
    }
    if first { atexit { for path in LiveFixture.made.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: path) } } }
    return .success(dir)
  }
}
