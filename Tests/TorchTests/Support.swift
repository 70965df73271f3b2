@_exported import TestSupport
import SafeTensors
import Testing
import Torch
import TorchNN

/// A committed fixture file made by scripts/fixtures/make_op_fixtures.py.
final class Fixture: @unchecked Sendable {
  let file: SafeTensorsFile

  init(_ name: String) {
    do {
      file = try SafeTensorsFile(path: "\(repoRoot)/Tests/Fixtures/\(name)")
    } catch {
      fatalError("fixture \(name) missing: run `make fixtures` (\(error))")
    }
  }

  func tensor(_ key: String) throws -> Tensor { try Tensor.load(key, from: file) }
  func keys(prefix: String) -> [String] { file.keys.filter { $0.hasPrefix(prefix) } }

  static let ops = Fixture("ops.safetensors")
  static let layers = Fixture("layers.safetensors")
}

/// max |a - b| over elements, after checking shape and dtype; fails with the place of the worst.
func expectClose(
  _ actual: Tensor, _ expected: Tensor, atol: Double = 1e-5, rtol: Double = 1e-5, _ what: String,
  sourceLocation: SourceLocation = #_sourceLocation
) throws {
  #expect(actual.shape == expected.shape, "\(what): shape \(actual.shape) vs \(expected.shape)", sourceLocation: sourceLocation)
  #expect(actual.dtype == expected.dtype, "\(what): dtype \(actual.dtype) vs \(expected.dtype)", sourceLocation: sourceLocation)
  guard actual.shape == expected.shape else { return }
  let a = try actual.to(.cpu, .float64).contiguous().toArray(Double.self)
  let e = try expected.to(.float64).contiguous().toArray(Double.self)
  var worst = 0.0, at = -1, excess = 0.0
  for i in a.indices {
    let d = Swift.abs(a[i] - e[i])
    let allowed = atol + rtol * Swift.abs(e[i])
    if d.isNaN || d - allowed > excess { excess = d.isNaN ? .infinity : d - allowed; at = i }
    if d > worst || d.isNaN { worst = d }
  }
  #expect(at < 0, "\(what): max abs diff \(worst), worst at flat index \(at): \(at >= 0 ? a[at] : 0) vs \(at >= 0 ? e[at] : 0)", sourceLocation: sourceLocation)
}
