import Foundation
import Testing

@testable import WebDataset

/// Shards of real images (PIL's reference files), captions and json, written into a temp dir.
struct ShardSet {
  let tmp: TempDir
  var urls: [String] = []

  init(shards: Int, perShard: Int, prefix: String = "s") throws {
    tmp = try TempDir()
    let dir = try referenceImages.get()
    let images = ["q420.jpg", "rgb.png", "lossy.webp", "q444.jpg", "gray.jpg", "palette.png", "q422.jpg", "odd420.jpg"]
    var n = 0
    for s in 0..<shards {
      var tar = TarWriter()
      for _ in 0..<perShard {
        let file = images[n % images.count]
        let ext = (file as NSString).pathExtension
        let key = String(format: "%06d", n)
        tar.file("\(key).\(ext == "jpg" ? "jpg" : ext)", try readBytes(dir + "/" + file))
        tar.file("\(key).txt", Array("caption \(n)".utf8))
        tar.file("\(key).json", Array("{\"width\": 100, \"height\": \(n)}".utf8))
        n += 1
      }
      urls.append(try tmp.write(String(format: "\(prefix)-%05d.tar", s), tar.finished()))
    }
  }

  var spec: String { tmp.path + "/s-{00000..\(String(format: "%05d", urls.count - 1))}.tar" }
}

func config(_ spec: String, workers: Int = 2, batch: Int = 4, seed: UInt64 = 1, buffer: Int = 20) -> DataConfig {
  var c = DataConfig(
    source: .webDataset(spec), transform: ImageTransform(resolution: 32, randomFlip: true), batchSize: batch, numWorkers: workers, seed: seed)
  c.shuffleBufferSize = buffer
  return c
}

func take(_ p: DataPipeline, _ n: Int) throws -> [Batch] { try (0..<n).map { _ in try p.next() } }

@Suite struct PipelineTests {
  @Test func deterministicWithSeed() throws {
    let shards = try ShardSet(shards: 4, perShard: 6)
    let a = try take(DataPipeline(config: config(shards.spec)), 6)
    let b = try take(DataPipeline(config: config(shards.spec)), 6)
    #expect(a.map(\.keys) == b.map(\.keys))
    #expect(a.map(\.pixels) == b.map(\.pixels))
    #expect(a.map(\.cropLefts) == b.map(\.cropLefts) && a.map(\.flipped) == b.map(\.flipped))
    let c = try take(DataPipeline(config: config(shards.spec, seed: 2)), 6)
    #expect(a.map(\.keys) != c.map(\.keys))
    // Host buffers: B × 3 × 32 × 32 in [-1, 1], metadata per sample.
    #expect(a[0].pixels.count == 4 * 3 * 32 * 32 && a[0].pixels.allSatisfy { $0 >= -1 && $0 <= 1 })
    #expect(a[0].captions.allSatisfy { $0.hasPrefix("caption ") } && a[0].jsons.allSatisfy { $0 != nil })
    #expect(a[0].originalSizes.allSatisfy { $0.height > 32 && $0.width > 32 })
  }

  /// A run restored from a saved position yields exactly the batches an uninterrupted run does.
  @Test(arguments: [1, 2])
  func resumeMatchesUninterrupted(workers: Int) throws {
    let shards = try ShardSet(shards: 3, perShard: 7)
    let full = DataPipeline.self
    let uninterrupted = try full.init(config: config(shards.spec, workers: workers))
    _ = try take(uninterrupted, 3)
    let saved = uninterrupted.position
    let expected = try take(uninterrupted, 5)
    let data = try saved.encoded()
    let resumed = try full.init(config: config(shards.spec, workers: workers), resumeFrom: try DataPosition.decode(data))
    let got = try take(resumed, 5)
    #expect(got.map(\.keys) == expected.map(\.keys))
    #expect(got.map(\.pixels) == expected.map(\.pixels))
    #expect(throws: DataError.self) { try full.init(config: config(shards.spec, workers: workers, seed: 9), resumeFrom: saved) }
  }

  @Test func sequentialReadsEachShardOncePerEpoch() throws {
    let shards = try ShardSet(shards: 4, perShard: 5)
    var c = config(shards.spec, workers: 2, batch: 5, buffer: 0)
    c.resampled = false
    c.transform.randomFlip = false
    let batches = try take(DataPipeline(config: c), 4)  // 20 samples = one epoch
    let keys = batches.flatMap(\.keys)
    #expect(Set(keys).count == 20)
    // Worker 0 reads shards 0 and 2, worker 1 shards 1 and 3; batches alternate between them.
    #expect(batches[0].shards.allSatisfy { $0.hasSuffix("s-00000.tar") } && batches[1].shards.allSatisfy { $0.hasSuffix("s-00001.tar") })
  }

  /// Resampled shards across processes: one draw sequence, of which rank r of W takes draws r,
  /// r + W, ...: the ranks never share a draw, and together they read what one process reads.
  @Test func resampledRanksTakeInterleavedDrawsOfOneSequence() throws {
    let shards = try ShardSet(shards: 5, perShard: 3)
    func stream(rank: Int, of world: Int, batches: Int) throws -> [Batch] {
      var c = config(shards.spec, workers: 1, batch: 3, buffer: 0)
      c.rank = rank
      c.worldSize = world
      return try take(DataPipeline(config: c), batches)
    }
    let one = try stream(rank: 0, of: 1, batches: 8)  // a batch is a whole shard here
    let r0 = try stream(rank: 0, of: 2, batches: 4), r1 = try stream(rank: 1, of: 2, batches: 4)
    #expect(Set(one.map { $0.shards[0] }).count > 1)
    #expect(r0.map(\.keys) == stride(from: 0, to: 8, by: 2).map { one[$0].keys })
    #expect(r1.map(\.keys) == stride(from: 1, to: 8, by: 2).map { one[$0].keys })
    // each sample's crop and flip are keyed by its global index, not by the reading rank
    #expect(r1.map(\.flipped) == stride(from: 1, to: 8, by: 2).map { one[$0].flipped })
    #expect(r1.map(\.pixels) == stride(from: 1, to: 8, by: 2).map { one[$0].pixels })
  }

  @Test func pipeSource() throws {
    let shards = try ShardSet(shards: 2, perShard: 4)
    let spec = shards.urls.map { "pipe:cat '\($0)'" }.joined(separator: "::")
    let batches = try take(DataPipeline(config: config(spec, workers: 1)), 3)
    #expect(batches.allSatisfy { $0.count == 4 })
  }

  @Test func epochMath() {
    // The scripts' README example: 4M samples, batch 12, 1 GPU, 8 workers.
    let m = EpochMath(maxTrainSamples: 4_000_000, globalBatchSize: 12, numWorkers: 8)
    #expect(m.numWorkerBatches == 41_667 && m.numBatches == 333_336 && m.numSamples == 4_000_032)
  }

  @Test func imageFolder() throws {
    let tmp = try TempDir()
    let dir = try referenceImages.get()
    for (i, f) in ["q420.jpg", "rgb.png", "lossy.webp", "q444.jpg"].enumerated() {
      try tmp.write("a/img\(i).\((f as NSString).pathExtension)", try readBytes(dir + "/" + f))
    }
    try tmp.write("a/img0.txt", Array("caption zero".utf8))
    try tmp.write("a/img1.txt", Array("caption one".utf8))
    try tmp.write("a/img2.txt", Array("caption two".utf8))  // img3 has none: skipped, counted
    var c = DataConfig(
      source: .imageFolder(dir: tmp.path, imageColumn: "image", captionColumn: "text"),
      transform: ImageTransform(resolution: 24, centerCrop: true), batchSize: 3, numWorkers: 1, seed: 0)
    c.maxPixels = 1 << 20
    let p = try DataPipeline(config: c)
    let b = try p.next()
    #expect(Set(b.captions) == ["caption zero", "caption one", "caption two"])
    _ = try p.next()
    #expect(p.faults.counts[.missingCaption] ?? 0 >= 1)

    // metadata.jsonl with a list caption column.
    let meta = try TempDir()
    try meta.write("train/x.jpg", try readBytes(dir + "/q420.jpg"))
    try meta.write("train/y.png", try readBytes(dir + "/rgb.png"))
    try meta.write("train/metadata.jsonl", Array("{\"file_name\": \"x.jpg\", \"caption\": [\"a\", \"b\"]}\n{\"file_name\": \"y.png\", \"caption\": \"c\"}\n".utf8))
    c.source = .imageFolder(dir: meta.path, imageColumn: "image", captionColumn: "caption")
    c.batchSize = 2
    let batch = try DataPipeline(config: c).next()
    #expect(batch.captions.contains("c") && (batch.captions.contains("a") || batch.captions.contains("b")))
  }
}

@Suite struct HTTPTests {
  /// Shards over HTTP from a local `python -m http.server`; a 404 is an http_error skip.
  @Test func streamsShardsOverHTTP() throws {
    let shards = try ShardSet(shards: 2, perShard: 4)
    let port = 20_000 + Int(getpid() % 20_000)
    let server = Process()
    server.executableURL = URL(fileURLWithPath: pythonPath)
    server.arguments = ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", shards.tmp.path]
    server.standardOutput = FileHandle.nullDevice
    server.standardError = FileHandle.nullDevice
    try server.run()
    // SIGKILL: children of test threads inherit a signal mask that blocks SIGTERM.
    defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
    let base = "http://127.0.0.1:\(port)"
    var up = false
    for _ in 0..<100 where !up {
      if let source = try? HTTPSource.open(url: base + "/s-00000.tar") {
        var byte = [UInt8](repeating: 0, count: 1)
        up = (try? byte.withUnsafeMutableBytes { try source.read(into: $0) }) == 1
        try? source.close()
      }
      if !up { usleep(50_000) }
    }
    try #require(up, "http.server did not start on port \(port)")
    let spec = "\(base)/s-{00000..00001}.tar::\(base)/missing.tar"
    var c = config(spec, workers: 1, batch: 4, buffer: 0)
    c.resampled = false
    let p = try DataPipeline(config: c)
    let batches = try take(p, 2)
    #expect(Set(batches.flatMap(\.keys)).count == 8)
    _ = try p.next()
    #expect(p.faults.counts[.httpError, default: 0] >= 1, "\(p.faults.summary)")
  }
}
