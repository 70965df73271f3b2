import Foundation
import TestSupport
import Testing

@testable import WebDataset

/// The SDXL scripts' WebdatasetFilter against the class itself, run from the unmodified
/// train_lcm_distill_sdxl_wds.py by scripts/fixtures/make_filter_fixtures.py (live).
@Suite("WebdatasetFilter", .serialized, .enabled(if: upstreamScripts != nil, "the upstream scripts are not beside this clone"))
struct FilterTests {
  static let made = LiveFixture.make("scripts/fixtures/make_filter_fixtures.py", name: "wds-filter")

  @Test func decisionsMatchTheScript() throws {
    let dir = try Self.made.get()
    let cases = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/cases.json"))) as? [[String: Any]])
    #expect(cases.count == 20)
    let filter = WebdatasetFilter()
    for c in cases {
      let json = (c["json"] as? String).map { Array($0.utf8) }
      let keep = try #require(c["keep"] as? Bool)
      #expect((filter.dropReason(json) == nil) == keep, "\(c["json"] ?? "no json"): the script \(keep ? "keeps" : "drops") it; \(filter.dropReason(json) ?? "kept")")
    }
  }

  /// Sequential reading of both shards: exactly the kept samples come out, the others are counted
  /// as `filtered`, and each original size is the json's (height, width).
  @Test func pipelineDropsAndCountsAndTakesSizesFromJSON() throws {
    let dir = try Self.made.get()
    let kept = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/kept.json"))) as? [String: [Int]])
    var c = config("\(dir)/shards/sdxl-{00000..00001}.tar", workers: 1, batch: 1, buffer: 0)
    c.resampled = false
    c.filter = WebdatasetFilter()
    let p = try DataPipeline(config: c)
    var seen: [String: [Int]] = [:]
    for _ in 0..<kept.count {
      let b = try p.next()
      seen[b.keys[0]] = [b.originalSizes[0].height, b.originalSizes[0].width]
    }
    #expect(seen == kept)
    #expect(p.faults.counts[.filtered, default: 0] == 24 - kept.count, "\(p.faults.summary)")
    // a shard set the filter drops entirely is an error, not a spin
    var strict = c
    strict.filter = WebdatasetFilter(minSize: 5000)
    strict.resampled = true
    let none = try DataPipeline(config: strict)
    #expect { _ = try none.next() } throws: { "\($0)".contains("dropped by the WebdatasetFilter") }
  }
}
