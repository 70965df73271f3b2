import Foundation

/// One worker's endless stream of raw samples, with the state an exact resume needs.
protocol RawSampleSource: AnyObject {
  func next() throws(DataError) -> RawSample
  /// Re-reads a sample a saved shuffle buffer referred to.
  func load(_ ref: SampleRef) throws(DataError) -> RawSample?
  func save(into position: inout WorkerPosition)
}

/// WebDataset shards: drawn with replacement (`ResampledShards`, seeded from --seed, rank and
/// worker) or read in order (this worker's slice of the list, epoch after epoch).
final class ShardStream: RawSampleSource {
  let shards: [String]
  let resampled: Bool
  let opener: ShardOpener
  let faults: FaultCounters
  var rng: DataRNG
  var sequenceIndex: Int
  var current: ShardSampleReader?
  var currentURL: String?
  var producedInShard = 0
  var emptyStreak = 0
  var everProduced = false
  var tried: [String: String] = [:]

  init(shards: [String], resampled: Bool, opener: ShardOpener, faults: FaultCounters, position: WorkerPosition) throws(DataError) {
    self.shards = shards
    self.resampled = resampled
    self.opener = opener
    self.faults = faults
    rng = position.shardRNG
    sequenceIndex = position.sequenceIndex
    if let shard = position.shard {
      do {
        current = ShardSampleReader(source: try opener.open(shard, at: position.shardOffset), shard: shard, startOffset: position.shardOffset)
        currentURL = shard
      } catch let error as DataError { record(error) } catch {}
    }
  }

  func record(_ error: DataError, key: String? = nil) {
    guard case .shard(let fault, let shard, let message) = error else { return }
    faults.record(FaultEvent(fault: fault, shard: shard, key: key, message: message))
    tried[shard] = message
  }

  func next() throws(DataError) -> RawSample {
    while true {
      if current == nil {
        try giveUpIfHopeless()
        let url: String
        if resampled {
          url = shards[rng.below(shards.count)]
        } else {
          url = shards[sequenceIndex % shards.count]
          sequenceIndex += 1
        }
        producedInShard = 0
        do {
          current = ShardSampleReader(source: try opener.open(url), shard: url)
          currentURL = url
        } catch {
          record(error)
          emptyStreak += 1
          continue
        }
      }
      let reader = current!
      do {
        if let sample = try reader.next() {
          producedInShard += 1
          everProduced = true
          emptyStreak = 0
          return sample
        }
        if let error = reader.takeDeferredError() { record(error) }
        try reader.close()
      } catch {
        record(error)
        try? reader.close()  // frees an HTTP session or a pipe's process after a failure
      }
      if producedInShard == 0 { emptyStreak += 1; tried[currentURL!] = tried[currentURL!] ?? "no samples" }
      current = nil
      currentURL = nil
    }
  }

  /// Never fatal while any shard has produced a sample; an error when none can.
  /// A long list fails fast: the first `failFastShards` shards all failing (an unreachable
  /// server, a wrong path pattern) ends the run, not 3 × the list's worth of attempts.
  static let failFastShards = 16

  func giveUpIfHopeless() throws(DataError) {
    let full = resampled ? max(3 * shards.count, 8) : shards.count
    let limit = min(full, Self.failFastShards)
    guard !everProduced, emptyStreak >= limit else { return }
    let list = tried.sorted { $0.key < $1.key }.prefix(3).map { "\($0.key) (\($0.value))" }.joined(separator: "; ")
    let what = limit < full ? "the first \(emptyStreak) shards tried (of \(shards.count))" : "any of \(shards.count) shard(s)"
    throw DataError.noSamples("no sample could be read from \(what): \(list)\(tried.count > 3 ? "; ..." : "")")
  }

  func load(_ ref: SampleRef) throws(DataError) -> RawSample? {
    let reader = ShardSampleReader(source: try opener.open(ref.shard, at: ref.offset), shard: ref.shard, startOffset: ref.offset)
    defer { try? reader.close() }
    return try reader.next()
  }

  func save(into p: inout WorkerPosition) {
    p.shardRNG = rng
    p.sequenceIndex = sequenceIndex
    p.shard = currentURL
    p.shardOffset = current?.resumeOffset ?? 0
  }
}

/// `--train_data_dir`: images with captions from `metadata.jsonl` (`file_name` + the caption
/// column, a string or a list) or from a `.txt` beside each image. Each epoch is a seeded
/// permutation (the S5 DataLoader's shuffle=True); worker w of W takes every W-th index.
final class ImageFolderStream: RawSampleSource {
  struct Item { var path: String; var captions: [String]? }
  let dir: String
  let items: [Item]
  let seed: UInt64
  let slot: Int, slots: Int
  var sequenceIndex: Int
  var permutation: [Int] = []
  var permutationEpoch = -1

  init(dir: String, imageColumn: String, captionColumn: String, maxSamples: Int?, seed: UInt64, slot: Int, slots: Int, position: WorkerPosition) throws(DataError) {
    self.dir = dir
    self.seed = seed
    self.slot = slot
    self.slots = slots
    sequenceIndex = position.sequenceIndex
    var list = try Self.scan(dir: dir, imageColumn: imageColumn, captionColumn: captionColumn)
    if let maxSamples, maxSamples < list.count {  // S5: shuffle(seed).select(range(n))
      var rng = DataRNG(seed: seed, stream: [0xF01D])
      list = shuffled(list, &rng).prefix(maxSamples).map { $0 }
    }
    items = list
    guard items.count >= slots else {
      throw DataError.noSamples("\(dir): \(items.count) image(s) for \(slots) worker(s); no image found (jpg, jpeg, png, webp)")
    }
  }

  static func scan(dir: String, imageColumn: String, captionColumn: String) throws(DataError) -> [Item] {
    let fm = FileManager.default
    var isDir: ObjCBool = false
    guard fm.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
      throw DataError.badConfig("--train_data_dir \(dir): not a directory")
    }
    let files = (fm.enumerator(atPath: dir)?.allObjects as? [String] ?? []).sorted()
    var captions: [String: [String]] = [:]
    var imagePaths: [String] = []
    for file in files where (file as NSString).lastPathComponent == "metadata.jsonl" {
      let base = (file as NSString).deletingLastPathComponent
      guard let text = try? String(contentsOfFile: dir + "/" + file, encoding: .utf8) else {
        throw DataError.badConfig("\(dir)/\(file): cannot read (not UTF-8?)")
      }
      for (n, line) in text.split(whereSeparator: \.isNewline).enumerated() where !line.trimmingCharacters(in: .whitespaces).isEmpty {
        guard let row = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
          throw DataError.badConfig("\(dir)/\(file) line \(n + 1): not a JSON object")
        }
        let nameKey = imageColumn == "image" ? "file_name" : imageColumn
        guard let name = row[nameKey] as? String ?? row["file_name"] as? String else {
          throw DataError.badConfig("\(dir)/\(file) line \(n + 1): no '\(nameKey)' field")
        }
        let path = base.isEmpty ? name : base + "/" + name
        if let c = row[captionColumn] as? String { captions[path] = [c] } else if let c = row[captionColumn] as? [String], !c.isEmpty { captions[path] = c }
        imagePaths.append(path)
      }
    }
    let useMetadata = !imagePaths.isEmpty
    if !useMetadata {
      imagePaths = files.filter { SampleDecoder.imageSuffixes.contains(($0 as NSString).pathExtension.lowercased()) }
    }
    return imagePaths.sorted().map { path in
      if useMetadata { return Item(path: path, captions: captions[path]) }
      let txt = (path as NSString).deletingPathExtension + ".txt"
      let caption = try? String(contentsOfFile: dir + "/" + txt, encoding: .utf8)
      return Item(path: path, captions: caption.map { [$0] })
    }
  }

  func next() throws(DataError) -> RawSample {
    let index = sequenceIndex * slots + slot
    sequenceIndex += 1
    let epoch = index / items.count
    if epoch != permutationEpoch {
      var rng = DataRNG(seed: seed, stream: [0xE90C, UInt64(epoch)])
      permutation = shuffled(Array(items.indices), &rng)
      permutationEpoch = epoch
    }
    let item = permutation[index % items.count]
    return try sample(item, epoch: epoch)
  }

  func sample(_ i: Int, epoch: Int) throws(DataError) -> RawSample {
    let item = items[i]
    let ext = (item.path as NSString).pathExtension.lowercased()
    var files: [String: [UInt8]] = [:]
    // A missing or unreadable image leaves the sample without one: counted as missing_image.
    if let data = FileManager.default.contents(atPath: dir + "/" + item.path) { files[ext] = [UInt8](data) }
    if let captions = item.captions {
      var rng = DataRNG(seed: seed, stream: [0xCA9, UInt64(epoch), UInt64(i)])
      files["txt"] = Array(captions[rng.below(captions.count)].utf8)
    }
    let key = (item.path as NSString).deletingPathExtension
    return RawSample(key: key, shard: dir, files: files, ref: SampleRef(shard: dir, offset: Int64(i)))
  }

  func load(_ ref: SampleRef) throws(DataError) -> RawSample? {
    try sample(Int(ref.offset), epoch: 0)
  }

  func save(into p: inout WorkerPosition) {
    p.sequenceIndex = sequenceIndex
  }
}

func shuffled<T>(_ a: [T], _ rng: inout DataRNG) -> [T] {
  var a = a
  if a.count > 1 {
    for i in stride(from: a.count - 1, to: 0, by: -1) { a.swapAt(i, rng.below(i + 1)) }
  }
  return a
}

/// webdataset's `shuffle(bufsize, initial=100)`: fill, then emit a random slot, refilled by the last.
struct ShuffleBuffer {
  var items: [RawSample] = []
  let size: Int
  let initial: Int
  var rng: DataRNG

  init(size: Int, initial: Int = 100, rng: DataRNG) {
    self.size = size
    self.initial = min(initial, size)
    self.rng = rng
  }

  mutating func next(from source: RawSampleSource) throws(DataError) -> RawSample {
    guard size > 1 else { return try source.next() }
    while true {
      items.append(try source.next())
      if items.count < size { items.append(try source.next()) }
      if items.count >= initial {
        let k = rng.below(items.count)
        let sample = items[k]
        items[k] = items[items.count - 1]
        items.removeLast()
        return sample
      }
    }
  }
}
