import ArgumentParser
import Foundation
import ImageCodecs
import WebDataset

/// `lcm data stats`: stream the training data through the same pipeline the trainer uses.
struct DataCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "data", abstract: "Inspect training data; write the built-in shapes data set.", subcommands: [DataStats.self, DataSynth.self])
}

/// The scripts' data flags, spelled as they spell them.
struct DataOptions: ParsableArguments {
  @Option(name: .customLong("train_shards_path_or_url"), help: "WebDataset shards: brace ranges, '::' lists, file:, pipe:CMD, http(s)://.")
  var trainShardsPathOrUrl: String?
  @Option(name: .customLong("train_data_dir"), help: "Image folder (metadata.jsonl or .txt captions beside the images).")
  var trainDataDir: String?
  @Option(name: .customLong("dataset_name"), help: "A datasets folder (parquet, Arrow, save_to_disk, imagefolder) or a cached hub dataset id.")
  var datasetName: String?
  @Option(name: .customLong("dataset_config_name")) var datasetConfigName: String?
  @Option(name: .customLong("cache_dir")) var cacheDir: String?
  @Option(name: .customLong("image_column")) var imageColumn = "image"
  @Option(name: .customLong("caption_column")) var captionColumn = "text"
  @Option(name: .customLong("resolution")) var resolution = 512
  @Option(name: .customLong("interpolation_type"), help: "bilinear, bicubic, nearest, lanczos, box or hamming.")
  var interpolationType = "bilinear"
  @Flag(name: .customLong("center_crop")) var centerCrop = false
  @Flag(name: .customLong("random_flip")) var randomFlip = false
  @Option(name: .customLong("train_batch_size")) var trainBatchSize = 16
  @Option(name: .customLong("dataloader_num_workers")) var dataloaderNumWorkers = 1
  @Option(name: .customLong("max_train_samples")) var maxTrainSamples: Int?
  @Option(name: .customLong("seed")) var seed: UInt64 = 0
  @Option(name: .customLong("shuffle_buffer_size")) var shuffleBufferSize = 1000
  @Flag(name: .customLong("sequential_shards"), help: "Read shards in order instead of resampling them with replacement.")
  var sequentialShards = false
  @Option(name: .customLong("max_image_pixels"), help: "Skip images with more pixels (PIL's decompression-bomb limit by default).")
  var maxImagePixels = ImageDecoder.defaultMaxPixels

  func validate() throws {
    guard [trainShardsPathOrUrl, datasetName, trainDataDir].compactMap({ $0 }).count == 1 else {
      throw ValidationError("give exactly one of --train_shards_path_or_url, --dataset_name and --train_data_dir")
    }
    guard Interpolation(rawValue: interpolationType) != nil else {
      throw ValidationError("--interpolation_type must be one of \(Interpolation.allCases.map(\.rawValue).joined(separator: ", ")), got '\(interpolationType)'")
    }
    guard resolution > 0, trainBatchSize > 0, dataloaderNumWorkers >= 0 else {
      throw ValidationError("--resolution and --train_batch_size must be positive, --dataloader_num_workers not negative")
    }
  }

  var config: DataConfig {
    var c = DataConfig.fromFlags(
      shards: trainShardsPathOrUrl, dataDir: trainDataDir, datasetName: datasetName, datasetConfig: datasetConfigName,
      cacheDir: cacheDir, imageColumn: imageColumn, captionColumn: captionColumn,
      resolution: resolution, interpolation: Interpolation(rawValue: interpolationType)!, centerCrop: centerCrop,
      randomFlip: randomFlip, batchSize: trainBatchSize, workers: dataloaderNumWorkers, seed: seed, maxTrainSamples: maxTrainSamples)
    c.shuffleBufferSize = shuffleBufferSize
    c.resampled = !sequentialShards
    c.maxPixels = maxImagePixels
    return c
  }
}

struct DataStats: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "stats", abstract: "Stream batches through the training data pipeline; print samples/s and skip counts.")

  @OptionGroup var data: DataOptions
  @Option(help: "Batches to read (default: one epoch of --max_train_samples by the scripts' arithmetic, else 10).")
  var batches: Int?
  @Option(parsing: .upToNextOption, help: "--dump N DIR: write the first N transformed samples as PNG + caption into DIR.")
  var dump: [String] = []
  @Flag(help: "Log every skipped sample's first occurrence per shard.") var verbose = false

  func validate() throws {
    guard dump.isEmpty || (dump.count == 2 && Int(dump[0]).map { $0 >= 0 } == true) else {
      throw ValidationError("--dump takes a count and a directory, e.g. --dump 8 /tmp/look")
    }
  }

  func run() throws {
    let logger = Log.logger("lcm.data", verbose: verbose)
    let config = data.config
    let epoch = data.maxTrainSamples.map { EpochMath(maxTrainSamples: $0, globalBatchSize: config.batchSize, numWorkers: config.numWorkers) }
    let total = batches ?? epoch?.numBatches ?? 10
    let pipeline = try DataPipeline(config: config) { event in
      logger.warning("\(event.description)")
    }
    defer { pipeline.stop() }
    let dumpCount = dump.first.flatMap { Int($0) } ?? 0
    if dumpCount > 0 { try FileManager.default.createDirectory(atPath: dump[1], withIntermediateDirectories: true) }
    var dumped = 0
    let start = Date()
    var firstBatchAt: Double?
    var warmAt: Double?  // after one batch per worker: thread start-up excluded from the rate
    let warm = max(1, config.numWorkers)
    for b in 0..<total {
      let batch = try pipeline.next()
      if firstBatchAt == nil { firstBatchAt = Date().timeIntervalSince(start) }
      if b + 1 == warm { warmAt = Date().timeIntervalSince(start) }
      while dumped < dumpCount && dumped - b * config.batchSize < batch.count {
        try write(batch, index: dumped - b * config.batchSize, name: String(format: "%05d", dumped), to: dump[1])
        dumped += 1
      }
      if verbose { logger.debug("batch \(b + 1)/\(total): \(batch.keys.joined(separator: " "))") }
    }
    let elapsed = Date().timeIntervalSince(start)
    let samples = total * config.batchSize
    if let epoch {
      print("epoch (scripts' arithmetic): \(epoch.numWorkerBatches) batches per worker, \(epoch.numBatches) batches, \(epoch.numSamples) samples")
    }
    print("batches: \(total) of \(config.batchSize), samples: \(samples), workers: \(config.numWorkers), resolution: \(config.transform.resolution)")
    let steady = total > warm ? String(format: ", %.1f samples/s after the first %d batch(es)", Double((total - warm) * config.batchSize) / (elapsed - warmAt!), warm) : ""
    print(String(format: "time: %.2f s (first batch after %.2f s), %.1f samples/s", elapsed, firstBatchAt ?? 0, Double(samples) / elapsed) + steady)
    print("skipped: \(pipeline.faults.total) (\(pipeline.faults.summary))")
    if dumpCount > 0 { print("dumped \(dumped) samples to \(dump[1])") }
  }

  /// A transformed sample back to 8-bit (x * 127.5 + 127.5, rounded) as PNG, caption beside it.
  func write(_ batch: Batch, index i: Int, name: String, to dir: String) throws {
    let r = batch.resolution
    let chw = Array(batch.image(i))
    var hwc = [UInt8](repeating: 0, count: r * r * 3)
    for c in 0..<3 {
      for p in 0..<(r * r) { hwc[p * 3 + c] = UInt8(clamping: Int((chw[c * r * r + p] * 127.5 + 127.5).rounded())) }
    }
    try RGBImage(width: r, height: r, pixels: hwc).writePNG(to: "\(dir)/\(name).png")
    let size = batch.originalSizes[i]
    let info = "\(batch.captions[i])\n# key \(batch.keys[i]) shard \(batch.shards[i]) original (h, w) (\(size.height), \(size.width)) crop (top, left) (\(batch.cropTops[i]), \(batch.cropLefts[i])) flipped \(batch.flipped[i])\n"
    try info.write(toFile: "\(dir)/\(name).txt", atomically: true, encoding: .utf8)
  }
}
