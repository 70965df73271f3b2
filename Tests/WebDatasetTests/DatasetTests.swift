import Foundation
import TestSupport
import Testing

@testable import WebDataset

/// `--dataset_name`: datasets written by `datasets` itself (scripts/fixtures/make_datasets_fixtures.py,
/// live) in each layout it writes, read through Arrow's C++ library; the train split's rows must be
/// the ones `datasets` loads, in its order, with the same image bytes and captions.
@Suite("Datasets (parquet, Arrow, imagefolder, hub cache)", .serialized)
struct DatasetTests {
  static let made = LiveFixture.make("scripts/fixtures/make_datasets_fixtures.py", name: "datasets")

  struct ExpectedRow { var image: [UInt8]; var captions: [String] }

  func expected(_ name: String) throws -> [ExpectedRow] {
    let dir = try Self.made.get()
    let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/expected.json"))) as? [String: Any])
    let rows = try #require(json[name] as? [[String: Any]])
    return try rows.map { r in
      let b64 = try #require(r["image"] as? String)
      let image = try #require(Data(base64Encoded: b64))
      return ExpectedRow(image: [UInt8](image), captions: try #require(r["captions"] as? [String]))
    }
  }

  func rows(_ located: LocatedDataset, image: String = "image", caption: String = "text") throws -> RowDataset {
    switch located.kind {
    case .tables(let paths): try ArrowRows(name: "t", root: located.root, paths: paths, imageColumn: image, captionColumn: caption)
    case .imageFolder(let dir): try ImageFolderRows(dir: dir, imageColumn: image, captionColumn: caption)
    }
  }

  @Test(arguments: [("parquet", "image", "text"), ("saved", "image", "text"), ("imagefolder", "image", "text"), ("listcaps", "img", "captions")])
  func trainSplitRowsMatchDatasets(layout: String, image: String, caption: String) throws {
    let dir = try Self.made.get()
    let located = try DatasetLocator.locate("\(dir)/\(layout)", config: nil, cacheDir: nil)
    let dataset = try rows(located, image: image, caption: caption)
    let want = try expected(layout)
    try #require(dataset.count == want.count, "\(layout): \(dataset.count) rows, datasets has \(want.count)")
    for (i, w) in want.enumerated() {
      let row = try dataset.row(i)
      #expect(row.image?.bytes == w.image, "\(layout) row \(i): image bytes differ")
      #expect(row.captions?.map { String(decoding: $0, as: UTF8.self) } == w.captions, "\(layout) row \(i)")
    }
  }

  @Test func hubIdIsFoundInTheCache() throws {
    let dir = try Self.made.get()
    let env = ["HOME": "/nonexistent", "HF_HUB_CACHE": "\(dir)/hub"]
    let located = try DatasetLocator.locate("lcm-test/tiny", config: nil, cacheDir: nil, environment: env)
    #expect(located.root.hasSuffix("snapshots/0123456789abcdef0123456789abcdef01234567"))
    let dataset = try rows(located)
    let want = try expected("hub")
    #expect(dataset.count == want.count)
    #expect(try dataset.row(want.count - 1).image?.bytes == want.last?.image)
    // --cache_dir finds it too, and a missing id is one line naming where it looked
    #expect(try DatasetLocator.locate("lcm-test/tiny", config: nil, cacheDir: "\(dir)/hub", environment: ["HOME": "/nonexistent"]).root == located.root)
    #expect {
      try DatasetLocator.locate("lcm-test/absent", config: nil, cacheDir: nil, environment: env)
    } throws: { e in
      let m = "\(e)"
      return m.contains("not in the Hugging Face cache") && m.contains("datasets--lcm-test--absent") && !m.contains("\n")
    }
  }

  @Test func badNamesAndColumnsAreOneLineErrors() throws {
    let dir = try Self.made.get()
    func message(_ body: () throws -> Void) -> String {
      do { try body(); return "" } catch { return "\(error)" }
    }
    let located = try DatasetLocator.locate("\(dir)/parquet", config: nil, cacheDir: nil)
    let noColumn = message { _ = try rows(located, caption: "caption") }
    #expect(noColumn.contains("no column 'caption' (columns: image, text); set --caption_column"), "\(noColumn)")
    let badCaption = message { _ = try rows(located, caption: "image") }
    #expect(badCaption.contains("caption column 'image' is struct") && badCaption.contains("not text"), "\(badCaption)")
    let noConfig = message { _ = try DatasetLocator.locate("\(dir)/parquet", config: "nope", cacheDir: nil) }
    #expect(noConfig.contains("no configuration 'nope'"), "\(noConfig)")
    let notId = message { _ = try DatasetLocator.locate("../a/b/c", config: nil, cacheDir: nil) }
    #expect(notId.contains("not a Hugging Face dataset id"), "\(notId)")
    let empty = try TempDir()
    let nothing = message { _ = try DatasetLocator.locate(empty.path, config: nil, cacheDir: nil) }
    #expect(nothing.contains("no parquet, Arrow or image files"), "\(nothing)")
    // the test split is never read as training data
    if case .tables(let files) = located.kind { #expect(files.count == 1 && files[0].contains("train-")) }
  }

  /// One epoch over two workers: every train row exactly once; the corrupt image is a counted skip.
  @Test func pipelineReadsEachRowOncePerEpoch() throws {
    let dir = try Self.made.get()
    var c = DataConfig.fromFlags(
      shards: nil, dataDir: nil, datasetName: "\(dir)/sdxl", resolution: 16, interpolation: .bilinear, centerCrop: false,
      randomFlip: true, batchSize: 1, workers: 2, seed: 3, maxTrainSamples: nil)
    c.prefetchBatches = 1
    let p = try DataPipeline(config: c)
    var captions: [String] = []
    for _ in 0..<15 { captions += try p.next().captions }
    #expect(Set(captions) == Set((0..<15).map { "a photo of a thing \($0)" }), "\(captions.sorted())")
    _ = try p.next()
    #expect(p.faults.counts[.notAnImage, default: 0] == 1, "\(p.faults.summary)")
    // a resumed pipeline continues exactly
    let position = p.position
    let next = try (0..<4).map { _ in try p.next().captions[0] }
    let resumed = try DataPipeline(config: c, resumeFrom: position)
    #expect(try (0..<4).map { _ in try resumed.next().captions[0] } == next)
  }

  /// Damaged files are errors, never crashes: truncations and byte flips of a real parquet file.
  @Test func damagedFilesAreErrors() throws {
    let dir = try Self.made.get()
    let good = try readBytes("\(dir)/parquet/data/train-00000-of-00001.parquet")
    let arrow = try readBytes("\(dir)/saved/train/data-00000-of-00002.arrow")
    let tmp = try TempDir()
    var rng = SystemRandomNumberGenerator()
    var opened = 0, refused = 0
    for (n, source) in [good, arrow].enumerated() {
      for trial in 0..<60 {
        var bytes = source
        if trial < 10 {
          bytes = Array(bytes.prefix(bytes.count * trial / 10))
        } else {
          for _ in 0..<(1 + trial % 4) { bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng) }
        }
        let path = try tmp.write("f\(n)-\(trial).\(n == 0 ? "parquet" : "arrow")", bytes)
        do {
          let rows = try ArrowRows(name: "t", root: tmp.path, paths: [path], imageColumn: "image", captionColumn: "text")
          for i in 0..<rows.count { _ = try? rows.row(i) }
          opened += 1
        } catch {
          #expect(!"\(error)".isEmpty && !"\(error)".contains("\n"))
          refused += 1
        }
      }
    }
    #expect(refused > 0 && opened + refused == 120)
  }
}
