@_exported import TestSupport
import SafeTensors
import Testing
import Torch
import TorchNN


/// Fixtures made by scripts/fixtures/make_op_fixtures.py (torch 2.11.0).
let layerFixture = try! SafeTensorsFile(path: "\(repoRoot)/Tests/Fixtures/layers.safetensors")
let opFixture = try! SafeTensorsFile(path: "\(repoRoot)/Tests/Fixtures/ops.safetensors")

func fixtureTensor(_ file: SafeTensorsFile, _ key: String) throws -> Tensor { try Tensor.load(key, from: file) }

/// Tensors of `file` whose names start with "prefix.", keyed without the prefix.
func fixtureGroup(_ file: SafeTensorsFile, _ prefix: String) throws -> [String: Tensor] {
  var out: [String: Tensor] = [:]
  for key in file.keys where key.hasPrefix(prefix + ".") {
    out[String(key.dropFirst(prefix.count + 1))] = try Tensor.load(key, from: file)
  }
  return out
}

func maxAbsDiff(_ a: Tensor, _ b: Tensor) throws -> Double {
  try (a.to(.float64) - b.to(.float64)).abs().amax().item()
}

func tempDir() -> String {
  let dir = "/tmp/swift-lcm-tests-\(UInt64.random(in: 0...UInt64.max))"
  _ = dir.withCString { mkdir($0, 0o700) }
  return dir
}

#if canImport(Glibc)
  import Glibc
#endif
