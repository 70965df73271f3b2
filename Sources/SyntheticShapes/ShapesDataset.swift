import Foundation
import Synchronization
import ImageCodecs
import WebDataset

/// `lcm data synth`: the captioned-shapes data set as WebDataset shards — per sample `KEY.png`,
/// `KEY.txt` (the caption) and `KEY.json` (its labels) — plus `eval_prompts.jsonl`, the held-out
/// prompts with their labels, which the shards never show. Sample i is drawn from its own seeded
/// stream, so a data set is the same bytes for the same seed and size however it is written.
public enum ShapesDataset {
  public struct Settings: Sendable {
    public var outputDir: String
    public var images = 20_000
    public var imagesPerShard = 1_000
    public var resolution = 64
    public var seed: UInt64 = 0

    public init(outputDir: String) { self.outputDir = outputDir }
  }

  public struct Written: Sendable {
    /// The shards as a brace pattern for --train_shards_path_or_url.
    public var shards: String
    public var shardCount: Int
    public var evalPrompts: String
  }

  /// Sample `index`'s scene.
  public static func scene(_ index: Int, seed: UInt64) -> ShapeScene {
    var rng = DataRNG(seed: seed, stream: [0x5348_4150_4553, UInt64(index)])  // "SHAPES"
    return ShapeScene.random { rng.unit() }
  }

  public static func write(_ s: Settings, progress: @Sendable (Int) -> Void = { _ in }) throws(DataError) -> Written {
    guard s.images > 0, s.imagesPerShard > 0, (16...1024).contains(s.resolution) else {
      throw DataError.badConfig("the shapes data set needs images > 0, images per shard > 0 and a resolution in 16...1024")
    }
    do { try FileManager.default.createDirectory(atPath: s.outputDir, withIntermediateDirectories: true) } catch {
      throw DataError.badConfig("\(s.outputDir): \(error.localizedDescription)")
    }
    let shardCount = (s.images + s.imagesPerShard - 1) / s.imagesPerShard
    let digits = max(5, String(shardCount - 1).count)
    @Sendable func name(_ i: Int) -> String { "shapes-" + String(repeating: "0", count: max(0, digits - String(i).count)) + String(i) + ".tar" }
    let failure = Mutex<DataError?>(nil)
    let done = Mutex(0)
    DispatchQueue.concurrentPerform(iterations: shardCount) { shard in
      do {
        let tar = try TarWriter(path: "\(s.outputDir)/\(name(shard))")
        for index in (shard * s.imagesPerShard)..<min(s.images, (shard + 1) * s.imagesPerShard) {
          let scene = scene(index, seed: s.seed)
          let key = String(format: "%08d", index)
          let png: [UInt8]
          do { png = try ShapeRenderer.render(scene, resolution: s.resolution).pngData() } catch {
            throw DataError.badConfig("encoding sample \(index): \(error)")
          }
          try tar.add("\(key).png", png)
          try tar.add("\(key).txt", Array(scene.labels.caption.utf8))
          try tar.add("\(key).json", try json(scene.labels.json))
        }
        try tar.finish()
        progress(done.withLock { $0 += 1; return $0 })
      } catch let e as DataError {
        failure.withLock { $0 = $0 ?? e }
      } catch {
        failure.withLock { $0 = $0 ?? DataError.badConfig("\(error)") }
      }
    }
    if let e = failure.withLock({ $0 }) { throw e }
    let evalPath = "\(s.outputDir)/eval_prompts.jsonl"
    var lines = ""
    for labels in ShapeLabels.heldOut {
      var object: [String: Any] = ["prompt": labels.caption]
      object["labels"] = labels.json
      lines += String(decoding: try json(object), as: UTF8.self) + "\n"
    }
    do { try lines.write(toFile: evalPath, atomically: true, encoding: .utf8) } catch {
      throw DataError.badConfig("\(evalPath): \(error.localizedDescription)")
    }
    let last = String(shardCount - 1)
    let pattern = shardCount == 1 ? "\(s.outputDir)/\(name(0))"
      : "\(s.outputDir)/shapes-{\(String(repeating: "0", count: digits))..\(String(repeating: "0", count: digits - last.count) + last)}.tar"
    return Written(shards: pattern, shardCount: shardCount, evalPrompts: evalPath)
  }

  static func json(_ object: Any) throws(DataError) -> [UInt8] {
    do { return [UInt8](try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) } catch {
      throw DataError.badConfig("\(error)")
    }
  }
}
