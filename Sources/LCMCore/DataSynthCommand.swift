import ArgumentParser
import Foundation
import SyntheticShapes

/// `lcm data synth`: the captioned-shapes data set the built-in teacher is trained on.
struct DataSynth: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "synth",
    abstract: "Write the captioned-shapes data set as WebDataset shards (png, txt caption, json labels) and its held-out eval prompts.")

  @Option(name: .customLong("output_dir"), help: "Folder for the shards and eval_prompts.jsonl.") var outputDir: String
  @Option(name: .customLong("num_images")) var numImages = 20_000
  @Option(name: .customLong("images_per_shard")) var imagesPerShard = 1_000
  @Option(name: .customLong("resolution")) var resolution = 64
  @Option(name: .customLong("seed")) var seed: UInt64 = 0

  func validate() throws {
    guard numImages > 0, imagesPerShard > 0 else { throw ValidationError("--num_images and --images_per_shard must be positive") }
    guard (16...1024).contains(resolution) else { throw ValidationError("--resolution must be in 16...1024, got \(resolution)") }
  }

  func run() throws {
    var s = ShapesDataset.Settings(outputDir: outputDir)
    (s.images, s.imagesPerShard, s.resolution, s.seed) = (numImages, imagesPerShard, resolution, seed)
    let start = Date()
    let written = try ShapesDataset.write(s)
    print("wrote \(numImages) images in \(written.shardCount) shard(s) in \(String(format: "%.1f", Date().timeIntervalSince(start))) s: \(written.shards)")
    print("held-out eval prompts (never in the shards): \(written.evalPrompts)")
  }
}
