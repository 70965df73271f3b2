import Foundation
import Testing
@_exported import TestSupport

/// Runs a repo Python script and returns its stdout; failures carry the script's stderr.
@discardableResult
func runPython(_ script: String, _ arguments: [String]) throws -> String {
  String(decoding: try runScript(script, arguments), as: UTF8.self)
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
