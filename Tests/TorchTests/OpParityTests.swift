import OpParity
import Testing
import Torch

// Expected values: scripts/fixtures/make_op_fixtures.py (torch 2.11.0, fp32, CPU), in
// Tests/Fixtures/ops.safetensors; the cases are in Sources/OpParity.

@Suite("op parity with torch 2.11.0")
struct OpParityTests {
  @Test("every fixture case has a Swift case")
  func coverage() {
    let fixtureCases = Set(Fixture.ops.file.keys.map { String($0.split(separator: ".")[0]) })
    let known = Set(opCases.keys).union(["adamw", "adamw_fused"])
    #expect(fixtureCases.subtracting(known).isEmpty, "cases without a test: \(fixtureCases.subtracting(known).sorted())")
  }

  @Test(arguments: opCases.keys.sorted())
  func op(_ name: String) throws {
    let results = try runParityCase(name, file: Fixture.ops.file, atol: 1e-5, rtol: 1e-5)
    #expect(!results.isEmpty)
    for r in results {
      #expect(r.passed, "\(r.name): max abs diff \(r.maxAbsDiff) \(r.note)")
    }
  }
}
