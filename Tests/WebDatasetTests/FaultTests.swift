import Foundation
import Testing

@testable import WebDataset

@Suite struct FaultTests {
  /// Every kind of bad input at once: the good samples still come out, each skip counted by reason,
  /// and each (fault, shard) reported once.
  @Test func badSamplesAndShardsAreSkippedAndCounted() throws {
    let good = try ShardSet(shards: 2, perShard: 6)
    let tmp = try TempDir()
    let dir = try referenceImages.get()
    let jpeg = try readBytes(dir + "/q420.jpg")
    var bad = TarWriter()
    bad.file("a.jpg", Array("this is text, not a JPEG".utf8)); bad.file("a.txt", Array("x".utf8))
    bad.file("b.jpg", []); bad.file("b.txt", Array("x".utf8))
    bad.file("c.jpg", Array(jpeg.prefix(jpeg.count / 2))); bad.file("c.txt", Array("x".utf8))
    bad.file("d.txt", Array("no image".utf8))
    bad.file("e.jpg", jpeg)
    bad.file("f.jpg", jpeg); bad.file("f.txt", [0xFF, 0xFE, 0x80])
    bad.file("g.jpg", jpeg); bad.file("g.txt", Array("x".utf8)); bad.file("g.json", Array("{not json".utf8))
    let badTar = try tmp.write("bad.tar", bad.finished())
    var bomb = TarWriter()
    bomb.file("big.png", pngHeader(width: 30_000, height: 30_000)); bomb.file("big.txt", Array("x".utf8))
    let bombTar = try tmp.write("bomb.tar", bomb.finished())
    var full = TarWriter()
    full.file("t.jpg", jpeg); full.file("t.txt", Array("ok".utf8)); full.file("u.jpg", jpeg); full.file("u.txt", Array("ok".utf8))
    let truncated = try tmp.write("truncated.tar", Array(full.finished().prefix(512 + jpeg.count / 2)))
    var corruptBytes = full.finished()
    let second = 512 + (jpeg.count + 511) / 512 * 512 + 512 + 512  // header of u.jpg
    corruptBytes[second + 10] ^= 0x55
    let corrupt = try tmp.write("corrupt.tar", corruptBytes)
    let empty = try tmp.write("empty.tar", [])
    let spec = (good.urls + [badTar, bombTar, truncated, corrupt, empty, tmp.file("missing.tar"), tmp.path,
      "pipe:echo boom >&2; exit 3", "http://127.0.0.1:9/none.tar"]).joined(separator: "::")
    let events = Events()
    var c = config(spec, workers: 1, batch: 4, buffer: 0)
    c.resampled = false
    let p = try DataPipeline(config: c, onFault: { events.append($0) })
    for _ in 0..<12 { _ = try p.next() }  // several passes over the list
    let counts = p.faults.counts
    let expected: [DataFault] = [
      .notAnImage, .emptyImage, .corruptImage, .missingImage, .missingCaption, .badCaption, .badMetadata, .tooManyPixels,
      .truncatedTar, .corruptTar, .unreadableShard, .pipeFailed, .httpError,
    ]
    for f in expected { #expect(counts[f, default: 0] > 0, "no \(f.rawValue) counted: \(p.faults.summary)") }
    let messages = events.all.map(\.description)
    #expect(messages.contains { $0.contains("pipe_failed") && $0.contains("boom") && $0.contains("status 3") })
    #expect(messages.contains { $0.contains(tmp.path) && $0.contains("is a directory") })
    #expect(messages.allSatisfy { !$0.contains("\n") })
    // Once per (fault, shard), though the list was read several times.
    let pairs = events.all.map { "\($0.fault)|\($0.shard)" }
    #expect(Set(pairs).count == pairs.count)
  }

  @Test func noUsableShardIsAClearError() throws {
    let tmp = try TempDir()
    let spec = [tmp.file("a.tar"), tmp.file("b.tar"), "pipe:exit 1"].joined(separator: "::")
    let p = try DataPipeline(config: config(spec, workers: 1))
    do {
      _ = try p.next()
      Issue.record("expected an error")
    } catch {
      #expect(error.description.contains("no sample could be read") && error.description.contains("a.tar"), "\(error)")
    }
  }

  @Test func truncatedTarKeepsCompleteSamples() throws {
    let dir = try referenceImages.get()
    var tar = TarWriter()
    tar.file("a.jpg", try readBytes(dir + "/q420.jpg")); tar.file("a.txt", [65])
    tar.file("b.jpg", try readBytes(dir + "/q420.jpg")); tar.file("b.txt", [66])
    let bytes = tar.finished()
    do {
      _ = try readAll(Array(bytes.prefix(bytes.count - 1024 - 600)))
      Issue.record("expected truncation")
    } catch let error as DataError {
      #expect(error.fault == .truncatedTar && error.description.contains("mem.tar"), "\(error)")
    }
  }
}

/// A PNG signature and IHDR claiming a huge image (900 Mpx), as a decompression bomb starts.
func pngHeader(width: UInt32, height: UInt32) -> [UInt8] {
  func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
  let body = Array("IHDR".utf8) + be(width) + be(height) + [8, 2, 0, 0, 0]
  var crc: UInt32 = 0xFFFF_FFFF
  for b in body {
    crc ^= UInt32(b)
    for _ in 0..<8 { crc = crc & 1 != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
  }
  return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + be(13) + body + be(~crc) + [UInt8](repeating: 0, count: 64)
}

final class Events: @unchecked Sendable {
  private let lock = NSLock()
  private var events: [FaultEvent] = []
  func append(_ e: FaultEvent) { lock.lock(); events.append(e); lock.unlock() }
  var all: [FaultEvent] { lock.lock(); defer { lock.unlock() }; return events }
}

/// The README's 1,100 `pipe:curl` shards offline: one line after the first shards fail, not
/// minutes of retries; repeated warnings are capped per fault.
@Suite("an unreachable shard list fails fast")
struct FailFastTests {
  @Test func unreachableListFailsAfterTheFirstShards() throws {
    let spec = "pipe:exit 6 # {00000..01099}.tar"
    let events = Events()
    var c = DataConfig(source: .webDataset(spec), transform: ImageTransform(resolution: 16), batchSize: 2, numWorkers: 1, seed: 1)
    c.shuffleBufferSize = 0
    let p = try DataPipeline(config: c, onFault: { events.append($0) })
    let start = Date()
    do {
      _ = try p.next()
      Issue.record("expected an error")
    } catch {
      #expect(error.description.contains("no sample could be read from the first 16 shards tried (of 1100)"), "\(error)")
      #expect(!error.description.contains("\n"))
    }
    #expect(Date().timeIntervalSince(start) < 30)
    let warnings = events.all.map(\.description)
    #expect(warnings.count == FaultCounters.reportsPerFault + 1, "\(warnings)")
    #expect(warnings.last?.contains("more pipe_failed faults are counted, not shown one by one") == true, "\(warnings)")
    #expect(p.faults.counts[.pipeFailed] == 16)
  }
}
