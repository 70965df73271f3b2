import Foundation
import ImageCodecs

/// Everything that decides which samples come out, in which order, looking how.
public struct DataConfig: Sendable {
  public enum Source: Sendable, Equatable {
    /// `--train_shards_path_or_url` (unexpanded).
    case webDataset(String)
    /// `--train_data_dir` with `--image_column`, `--caption_column`.
    case imageFolder(dir: String, imageColumn: String, captionColumn: String)
    /// `--dataset_name` (+ `--dataset_config_name`, `--cache_dir`): a folder or a cached hub id.
    case dataset(name: String, config: String?, imageColumn: String, captionColumn: String, cacheDir: String?)

    /// The flag and value a user gave, for messages.
    public var flagDescription: String {
      switch self {
      case .webDataset(let spec): "--train_shards_path_or_url \(spec)"
      case .imageFolder(let dir, _, _): "--train_data_dir \(dir)"
      case .dataset(let name, _, _, _, _): "--dataset_name \(name)"
      }
    }

    /// Read by row index in a permutation per epoch (no shuffle buffer).
    var isIndexed: Bool {
      if case .webDataset = self { false } else { true }
    }
  }

  public var source: Source
  public var transform: ImageTransform
  /// `--train_batch_size`: per-process batch; only full batches are produced.
  public var batchSize: Int
  /// `--dataloader_num_workers` decoding threads (0 is taken as 1).
  public var numWorkers: Int
  public var seed: UInt64
  public var rank: Int = 0
  public var worldSize: Int = 1
  /// Shards drawn with replacement (the scripts' ResampledShards) or read in order.
  public var resampled: Bool = true
  public var shuffleBufferSize: Int = 1000
  public var maxPixels: Int = ImageDecoder.defaultMaxPixels
  /// Image folders and datasets only: S5's `--max_train_samples` truncation after a seeded shuffle.
  public var maxTrainSamples: Int?
  /// Shards only: the SDXL scripts' WebdatasetFilter, and their original size from its json.
  public var filter: WebdatasetFilter?
  /// Finished batches each worker may hold ahead of the training thread.
  public var prefetchBatches: Int = 2
  public var opener = ShardOpener()

  public init(source: Source, transform: ImageTransform, batchSize: Int, numWorkers: Int, seed: UInt64) {
    self.source = source
    self.transform = transform
    self.batchSize = batchSize
    self.numWorkers = numWorkers
    self.seed = seed
  }

  var workers: Int { max(1, numWorkers) }

  /// The data settings from the scripts' flags, one builder for `lcm distill*` and `lcm data
  /// stats`: shards, a dataset (S5: `--dataset_name` wins over `--train_data_dir`) or an image
  /// folder, with its columns; `maxTrainSamples` trims a folder or dataset after its seeded
  /// shuffle, as S5's datasets path; for shards it is only epoch arithmetic.
  public static func fromFlags(
    shards: String?, dataDir: String?, datasetName: String? = nil, datasetConfig: String? = nil, cacheDir: String? = nil,
    imageColumn: String = "image", captionColumn: String = "text", resolution: Int,
    interpolation: Interpolation, centerCrop: Bool, randomFlip: Bool, batchSize: Int, workers: Int, seed: UInt64,
    maxTrainSamples: Int?
  ) -> DataConfig {
    let source: Source =
      if let shards { .webDataset(shards) } else if let datasetName {
        .dataset(name: datasetName, config: datasetConfig, imageColumn: imageColumn, captionColumn: captionColumn, cacheDir: cacheDir)
      } else { .imageFolder(dir: dataDir ?? "", imageColumn: imageColumn, captionColumn: captionColumn) }
    var c = DataConfig(
      source: source, transform: ImageTransform(resolution: resolution, interpolation: interpolation, centerCrop: centerCrop, randomFlip: randomFlip),
      batchSize: batchSize, numWorkers: workers, seed: seed)
    if shards == nil { c.maxTrainSamples = maxTrainSamples }
    return c
  }

  /// What a saved position must agree with to be restored.
  var fingerprint: String {
    "\(source)|seed \(seed)|rank \(rank)/\(worldSize)|workers \(workers)|batch \(batchSize)|resampled \(resampled)|shuffle \(shuffleBufferSize)|\(transform)"
      + (filter.map { "|filter \($0)" } ?? "")
  }

  /// The same settings by the name a user knows them by (a flag where there is one).
  var settings: [String: String] {
    var s: [String: String] = [
      "--seed": "\(seed)", "process rank": "\(rank) of \(worldSize)", "--dataloader_num_workers": "\(workers)",
      "--train_batch_size": "\(batchSize)", "resampled shards": "\(resampled)", "shuffle buffer": "\(shuffleBufferSize)",
      "--resolution": "\(transform.resolution)", "--interpolation_type": transform.interpolation.rawValue,
      "--center_crop": "\(transform.centerCrop)", "--random_flip": "\(transform.randomFlip)",
    ]
    if let filter { s["WebdatasetFilter"] = "\(filter)" }
    switch source {
    case .webDataset(let spec): s["--train_shards_path_or_url"] = spec
    case .imageFolder(let dir, let image, let caption):
      s["--train_data_dir"] = dir
      (s["image column"], s["caption column"]) = (image, caption)
    case .dataset(let name, let config, let image, let caption, _):
      s["--dataset_name"] = name
      s["--dataset_config_name"] = config ?? "none"
      (s["image column"], s["caption column"]) = (image, caption)
    }
    return s
  }

  /// One line naming each setting that differs from a saved position's, with both values.
  static func changes(saved: [String: String], now: [String: String]) -> String? {
    let changed = Set(saved.keys).union(now.keys).sorted().filter { saved[$0] != now[$0] }
    guard !changed.isEmpty else { return nil }
    return changed.map { "\($0) was \(saved[$0] ?? "not set") in the checkpoint, now \(now[$0] ?? "not set")" }.joined(separator: "; ")
  }
}

/// The scripts' epoch arithmetic (§5.4): each worker yields `numWorkerBatches` per epoch.
public struct EpochMath: Sendable, Equatable {
  public var numWorkerBatches: Int
  public var numBatches: Int
  public var numSamples: Int

  public init(maxTrainSamples: Int, globalBatchSize: Int, numWorkers: Int) {
    let workers = max(1, numWorkers)
    numWorkerBatches = (maxTrainSamples + globalBatchSize * workers - 1) / (globalBatchSize * workers)
    numBatches = numWorkerBatches * workers
    numSamples = numBatches * globalBatchSize
  }
}

/// A batch as host buffers: `pixels` is B × 3 × R × R float32 (contiguous, ready for one tensor).
public struct Batch: Sendable {
  public var resolution: Int
  public var pixels: [Float] = []
  public var captions: [String] = []
  public var originalSizes: [TrainingSample.Size] = []
  public var cropTops: [Int] = []
  public var cropLefts: [Int] = []
  public var flipped: [Bool] = []
  public var jsons: [[UInt8]?] = []
  public var keys: [String] = []
  public var shards: [String] = []
  public var count: Int { captions.count }

  mutating func append(_ s: TrainingSample) {
    pixels += s.pixels
    captions.append(s.caption)
    originalSizes.append(s.originalSize)
    cropTops.append(s.cropTop)
    cropLefts.append(s.cropLeft)
    flipped.append(s.flipped)
    jsons.append(s.json)
    keys.append(s.key)
    shards.append(s.shard)
  }

  /// Sample i's CHW pixels.
  public func image(_ i: Int) -> ArraySlice<Float> {
    let n = 3 * resolution * resolution
    return pixels[(i * n)..<((i + 1) * n)]
  }
}

/// One worker's state after a batch: enough to restart it exactly there.
public struct WorkerPosition: Sendable, Codable, Equatable {
  public var shardRNG: DataRNG
  public var shuffleRNG: DataRNG
  /// Raw samples taken out of the shuffle buffer so far; seeds each sample's crop/flip.
  public var samplesOut: Int = 0
  public var batches: Int = 0
  public var shard: String?
  public var shardOffset: Int64 = 0
  public var sequenceIndex: Int = 0
  public var buffer: [SampleRef] = []
}

/// The pipeline's position as the training thread has consumed it; save it with a checkpoint.
public struct DataPosition: Sendable, Codable, Equatable {
  public var fingerprint: String
  /// The settings by name (positions written before it was added lack it).
  public var settings: [String: String]?
  public var batchesConsumed: Int
  public var workers: [WorkerPosition]

  public func encoded() throws -> Data { try JSONEncoder().encode(self) }
  public static func decode(_ data: Data) throws(DataError) -> DataPosition {
    do { return try JSONDecoder().decode(DataPosition.self, from: data) } catch {
      throw DataError.badPosition("data position does not parse: \(error)")
    }
  }
}

/// Worker threads, each a whole pipeline (shards → tar → group → shuffle → decode → transform →
/// batch) like the scripts' DataLoader workers; the training thread takes their batches in turn
/// (worker 0, 1, ..., as PyTorch's in-order loader), so the order never depends on timing.
public final class DataPipeline: Sendable {
  public let config: DataConfig
  public let faults: FaultCounters
  let queues: [BlockingQueue<WorkerOutput>]
  let consumed: Mutex<(cursor: Int, workers: [WorkerPosition])>
  let fingerprint: String
  let started: Date

  public init(config: DataConfig, resumeFrom position: DataPosition? = nil, onFault: (@Sendable (FaultEvent) -> Void)? = nil) throws(DataError) {
    guard config.batchSize > 0 else { throw DataError.badConfig("--train_batch_size must be positive, got \(config.batchSize)") }
    guard config.transform.resolution > 0 else { throw DataError.badConfig("--resolution must be positive") }
    self.config = config
    faults = FaultCounters(onFault: onFault)
    fingerprint = config.fingerprint
    let w = config.workers
    var starts = (0..<w).map { i in
      WorkerPosition(
        // one shard draw sequence for every reader; reader `slot` takes every `slots`-th draw
        shardRNG: DataRNG(seed: config.seed, stream: [0, 0, 1]),
        shuffleRNG: DataRNG(seed: config.seed, stream: [UInt64(config.rank), UInt64(i), 2]))
    }
    var cursor = 0
    if let position {
      if let saved = position.settings, let changes = DataConfig.changes(saved: saved, now: config.settings) {
        throw DataError.badPosition("the data settings changed since the checkpoint: \(changes) (resume with the checkpoint's values, or start a new run)")
      }
      guard position.fingerprint == fingerprint, position.workers.count == w else {
        throw DataError.badPosition("the data settings changed since the checkpoint (resume with the checkpoint's values, or start a new run)")
      }
      starts = position.workers
      cursor = position.batchesConsumed
    }
    var shards: [String] = []
    var located: LocatedDataset?
    switch config.source {
    case .webDataset(let spec): shards = try ShardSpec.expand(spec)
    case .dataset(let name, let datasetConfig, _, _, let cacheDir):
      located = try DatasetLocator.locate(name, config: datasetConfig, cacheDir: cacheDir)
    case .imageFolder: break
    }
    // Sequential mode: node then worker split of the list, as webdataset's split_by_node/worker.
    let slots = w * config.worldSize
    if !config.resampled, case .webDataset = config.source, shards.count < slots {
      throw DataError.badConfig("\(shards.count) shard(s) for \(slots) reader(s) (workers × processes): use resampled shards or fewer workers")
    }
    queues = (0..<w).map { _ in BlockingQueue(capacity: max(1, config.prefetchBatches)) }
    consumed = Mutex((cursor, starts))
    started = Date()
    for i in 0..<w {
      let slot = config.rank * w + i
      let mine = config.resampled ? shards : shards.enumerated().filter { $0.offset % slots == slot }.map(\.element)
      let worker = Worker(config: config, index: i, slot: slot, slots: slots, shards: mine, located: located, start: starts[i], faults: faults, queue: queues[i])
      let thread = Thread { worker.run() }
      thread.name = "lcm-data-\(i)"
      thread.stackSize = 4 << 20
      thread.start()
    }
  }

  deinit { stop() }

  /// Stops the workers (they exit at their next batch boundary or blocked hand-over).
  public func stop() { for q in queues { q.close() } }

  /// The next batch; throws only when no sample can be produced at all, or `.interrupted` when
  /// `shouldStop` (polled every 0.2 s while waiting) says so: a stalled source never delays a signal.
  public func next(shouldStop: (() -> Bool)? = nil) throws(DataError) -> Batch {
    let cursor = consumed.withLock { $0.cursor }
    let w = cursor % queues.count
    var item: WorkerOutput?
    while true {
      if shouldStop?() == true { throw DataError.interrupted }
      let (taken, open) = queues[w].take(timeout: shouldStop == nil ? nil : 0.2)
      if taken != nil || !open { item = taken; break }
    }
    guard let item else { throw DataError.badConfig("data pipeline stopped") }
    switch item {
    case .failed(let error):
      queues[w].pushFront(item)  // keep failing the same way
      throw error
    case .batch(let batch, let position):
      consumed.withLock { s in
        s.workers[w] = position
        s.cursor += 1
      }
      return batch
    }
  }

  /// Where the training thread is; restoring it gives the same next batches as not stopping.
  public var position: DataPosition {
    consumed.withLock { DataPosition(fingerprint: fingerprint, settings: config.settings, batchesConsumed: $0.cursor, workers: $0.workers) }
  }
}

import Synchronization

enum WorkerOutput: Sendable {
  case batch(Batch, WorkerPosition)
  case failed(DataError)
}

/// One decoding thread's whole pipeline; confined to its thread after `run` starts.
final class Worker: @unchecked Sendable {
  let config: DataConfig
  let index: Int
  let slot: Int, slots: Int
  let shards: [String]
  let located: LocatedDataset?
  let start: WorkerPosition
  let faults: FaultCounters
  let queue: BlockingQueue<WorkerOutput>

  init(config: DataConfig, index: Int, slot: Int, slots: Int, shards: [String], located: LocatedDataset?, start: WorkerPosition, faults: FaultCounters, queue: BlockingQueue<WorkerOutput>) {
    self.config = config
    self.index = index
    self.slot = slot
    self.slots = slots
    self.shards = shards
    self.located = located
    self.start = start
    self.faults = faults
    self.queue = queue
  }

  func run() {
    do throws(DataError) {
      try loop()
    } catch {
      _ = queue.put(.failed(error))
    }
  }

  func loop() throws(DataError) {
    var position = start
    var source: RawSampleSource
    switch config.source {
    case .webDataset:
      source = try ShardStream(shards: shards, resampled: config.resampled, slot: slot, slots: slots, opener: config.opener, faults: faults, position: position)
      if let filter = config.filter { source = FilteredSource(source, filter: filter, faults: faults) }
    case .imageFolder(let dir, let imageColumn, let captionColumn):
      let rows = try ImageFolderRows(dir: dir, imageColumn: imageColumn, captionColumn: captionColumn)
      source = try RowStream(
        dataset: rows, maxSamples: config.maxTrainSamples, seed: config.seed, slot: slot, slots: slots, position: position, tooFew: "image(s)")
    case .dataset(let name, _, let imageColumn, let captionColumn, _):
      let rows: RowDataset =
        switch located?.kind {
        case .imageFolder(let dir): try ImageFolderRows(dir: dir, imageColumn: imageColumn, captionColumn: captionColumn)
        case .tables(let paths): try ArrowRows(name: name, root: located!.root, paths: paths, imageColumn: imageColumn, captionColumn: captionColumn)
        case nil: throw DataError.badConfig("--dataset_name \(name): not located")
        }
      source = try RowStream(
        dataset: rows, maxSamples: config.maxTrainSamples, seed: config.seed, slot: slot, slots: slots, position: position, tooFew: "row(s)")
    }
    // Folders and datasets are shuffled by their epoch permutation, as S5's DataLoader; no buffer.
    let bufferSize = config.source.isIndexed ? 0 : config.shuffleBufferSize
    var shuffle = ShuffleBuffer(size: bufferSize, rng: position.shuffleRNG)
    for ref in position.buffer {
      do {
        if let sample = try source.load(ref) { shuffle.items.append(sample) }
      } catch {
        if case .shard(let fault, let shard, let message) = error {
          faults.record(FaultEvent(fault: fault, shard: shard, key: nil, message: "on resume: \(message)"))
        }
      }
    }
    let decoder = SampleDecoder(transform: config.transform, maxPixels: config.maxPixels)
    var decodedEver = false
    var skipStreak = 0
    while !queue.isClosed {
      var batch = Batch(resolution: config.transform.resolution)
      batch.pixels.reserveCapacity(config.batchSize * 3 * config.transform.resolution * config.transform.resolution)
      while batch.count < config.batchSize {
        if queue.isClosed { return }  // stopped: also while only bad samples come in
        let raw = try shuffle.next(from: source)
        // keyed by what the sample is (its draw and place in it), not by who reads it: W ranks
        // crop and flip each sample as one process does
        var rng = DataRNG(seed: config.seed, stream: [0, 0, 3, UInt64(max(0, raw.ref.draw ?? 0)), UInt64(bitPattern: raw.ref.offset)])
        position.samplesOut += 1
        do {
          var sample = try decoder.decode(raw, rng: &rng)
          if let size = config.filter?.originalSize(sample.json) { sample.originalSize = size }
          batch.append(sample)
          decodedEver = true
          skipStreak = 0
        } catch {
          faults.record(FaultEvent(fault: error.fault, shard: raw.shard, key: raw.key, message: error.message))
          skipStreak += 1
          if !decodedEver && skipStreak >= 10_000 {
            throw DataError.noSamples("no usable sample in the first \(skipStreak) read from \(config.source.flagDescription) (skips: \(faults.summary))")
          }
        }
      }
      position.batches += 1
      position.shuffleRNG = shuffle.rng
      position.buffer = shuffle.items.map(\.ref)
      source.save(into: &position)
      if !queue.put(.batch(batch, position)) { return }
    }
  }
}

/// A bounded FIFO between one worker and the training thread.
final class BlockingQueue<T: Sendable>: @unchecked Sendable {
  private let condition = NSCondition()
  private var items: [T] = []
  private let capacity: Int
  private var closed = false

  init(capacity: Int) { self.capacity = capacity }

  /// Blocks while full; false once closed.
  func put(_ item: T) -> Bool {
    condition.lock()
    defer { condition.unlock() }
    while items.count >= capacity && !closed { condition.wait() }
    if closed { return false }
    items.append(item)
    condition.broadcast()
    return true
  }

  func pushFront(_ item: T) {
    condition.lock()
    items.insert(item, at: 0)
    condition.broadcast()
    condition.unlock()
  }

  /// Blocks while empty; nil once closed and empty.
  func take() -> T? { take(timeout: nil).item }

  /// Blocks while empty, at most `timeout` seconds; the item (nil on timeout or once closed and
  /// empty) and whether the queue is still open.
  func take(timeout: Double?) -> (item: T?, open: Bool) {
    condition.lock()
    defer { condition.unlock() }
    let deadline = timeout.map { Date().addingTimeInterval($0) }
    while items.isEmpty && !closed {
      if let deadline {
        if !condition.wait(until: deadline) { return (nil, true) }
      } else {
        condition.wait()
      }
    }
    if items.isEmpty { return (nil, false) }
    let item = items.removeFirst()
    condition.broadcast()
    return (item, true)
  }

  func close() {
    condition.lock()
    closed = true
    condition.broadcast()
    condition.unlock()
  }

  var isClosed: Bool {
    condition.lock()
    defer { condition.unlock() }
    return closed
  }
}
