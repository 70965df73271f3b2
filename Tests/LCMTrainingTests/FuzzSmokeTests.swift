import Foundation
import Testing

/// A short seeded run of the fuzz harness (scripts/fuzz.py; run it for minutes by hand): no
/// mutated shard, weights file or config crashes or hangs `lcm`.
@Suite("fuzz smoke", .serialized)
struct FuzzSmokeTests {
  @Test func seededFuzzRunHasNoCrashOrHang() throws {
    let work = NSTemporaryDirectory() + "fuzz-\(UInt32.random(in: 0...UInt32.max))"
    let r = try runCommand("/usr/bin/python3", ["\(repoRoot)/scripts/fuzz.py", "--seed", "7", "--count", "24",
                                                "--lcm", "\(repoRoot)/.build/debug/lcm", "--work", work])
    let summary = r.output.split(separator: "\n").last { $0.hasPrefix("fuzz: inputs=") }
    #expect(r.status == 0 && summary?.contains("crashes=0 hangs=0") == true, "\(r.output)")
  }
}
