import Foundation
import Testing

/// A fresh directory under the system temp folder, removed when released.
final class TempDir: Sendable {
  let path: String

  init() throws {
    let template = FileManager.default.temporaryDirectory.path + "/wds-tests-XXXXXX"
    var bytes = Array(template.utf8CString)
    guard let made = mkdtemp(&bytes) else { throw CocoaError(.fileWriteUnknown) }
    path = String(cString: made)
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }

  func file(_ name: String) -> String { path + "/" + name }

  @discardableResult
  func write(_ name: String, _ bytes: [UInt8]) throws -> String {
    let full = file(name)
    try FileManager.default.createDirectory(
      atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(bytes).write(to: URL(fileURLWithPath: full))
    return full
  }
}

/// The repository root, found from this file's location (Tests/WebDatasetTests/…).
let repoRoot = URL(fileURLWithPath: #filePath)
  .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

/// The Python with pillow + torchvision: $SWIFT_LCM_PYTHON, else the one scripts/setup.sh makes.
let pythonPath: String =
  ProcessInfo.processInfo.environment["SWIFT_LCM_PYTHON"]
  ?? (NSHomeDirectory() + "/.cache/swift-lcm/py/bin/python")

struct PythonFailure: Error, CustomStringConvertible {
  var description: String
}

/// Runs a repo Python script; a missing interpreter is a failure, not a skip (parity is required).
@discardableResult
func runPython(_ script: String, _ arguments: [String]) throws -> String {
  try #require(
    FileManager.default.isExecutableFile(atPath: pythonPath),
    "Python not found at \(pythonPath): set SWIFT_LCM_PYTHON to a python with pillow and torchvision (scripts/setup.sh)"
  )
  let process = Process()
  process.executableURL = URL(fileURLWithPath: pythonPath)
  process.arguments = [repoRoot + "/" + script] + arguments
  let out = Pipe(), err = Pipe()
  process.standardOutput = out
  process.standardError = err
  try process.run()
  // Drain stderr on another thread while stdout is read: neither pipe can fill up and block.
  let errData = LockedData()
  let reader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
  reader.start()
  let output = out.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  while !errData.isSet { usleep(1000) }
  guard process.terminationStatus == 0 else {
    throw PythonFailure(description: "\(script) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(String(decoding: errData.value, as: UTF8.self))")
  }
  return String(decoding: output, as: UTF8.self)
}

final class LockedData: @unchecked Sendable {
  private let lock = NSLock()
  private var data: Data?
  func set(_ d: Data) { lock.lock(); data = d; lock.unlock() }
  var isSet: Bool { lock.lock(); defer { lock.unlock() }; return data != nil }
  var value: Data { lock.lock(); defer { lock.unlock() }; return data ?? Data() }
}

func readBytes(_ path: String) throws -> [UInt8] {
  [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// PIL's reference images, generated once per test process (the script takes ~1 s).
let referenceImages: Result<String, any Error> = Result {
  let dir = FileManager.default.temporaryDirectory.path + "/wds-reference-images-\(getpid())"
  if !FileManager.default.fileExists(atPath: dir + "/manifest.json") {
    try runPython("scripts/fixtures/image_parity.py", ["generate", dir])
  }
  return dir
}

func referenceManifest() throws -> [String: [Int]] {
  let dir = try referenceImages.get()
  let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/manifest.json"))
  return try JSONDecoder().decode([String: [Int]].self, from: data)
}
