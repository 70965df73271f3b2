import Foundation

/// One worker's endless stream of raw samples, with the state an exact resume needs.
protocol RawSampleSource: AnyObject {
  func next() throws(DataError) -> RawSample
  /// Re-reads a sample a saved shuffle buffer referred to.
  func load(_ ref: SampleRef) throws(DataError) -> RawSample?
  func save(into position: inout WorkerPosition)
}

/// WebDataset shards: drawn with replacement (`ResampledShards`: one sequence seeded from --seed,
/// of which reader `slot` of `slots` (rank × workers) takes every `slots`-th draw, so readers never
/// share a draw) or read in order (this worker's slice of the list, epoch after epoch).
final class ShardStream: RawSampleSource {
  let shards: [String]
  let resampled: Bool
  let slot: Int, slots: Int
  let opener: ShardOpener
  let faults: FaultCounters
  var rng: DataRNG
  var sequenceIndex: Int
  var current: ShardSampleReader?
  var currentURL: String?
  var currentDraw = 0
  var producedInShard = 0
  var emptyStreak = 0
  var everProduced = false
  var tried: [String: String] = [:]

  init(shards: [String], resampled: Bool, slot: Int = 0, slots: Int = 1, opener: ShardOpener, faults: FaultCounters, position: WorkerPosition) throws(DataError) {
    self.shards = shards
    self.resampled = resampled
    self.slot = slot
    self.slots = slots
    self.opener = opener
    self.faults = faults
    rng = position.shardRNG
    sequenceIndex = position.sequenceIndex
    if let shard = position.shard {
      do throws(DataError) {
        current = ShardSampleReader(source: try opener.open(shard, at: position.shardOffset), shard: shard, startOffset: position.shardOffset)
        currentURL = shard
        currentDraw = max(0, sequenceIndex - 1) * slots + slot
      } catch { record(error) }
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
          var pick = 0
          for s in 0..<slots {
            let draw = rng.below(shards.count)
            if s == slot { pick = draw }
          }
          url = shards[pick]
        } else {
          url = shards[sequenceIndex % shards.count]
        }
        // sequential: the shard's place in one process's pass (when slots divide the list)
        currentDraw = sequenceIndex * slots + slot
        sequenceIndex += 1
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
        if var sample = try reader.next() {
          sample.ref.draw = currentDraw
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
    guard var sample = try reader.next() else { return nil }
    sample.ref.draw = ref.draw
    return sample
  }

  func save(into p: inout WorkerPosition) {
    p.shardRNG = rng
    p.sequenceIndex = sequenceIndex
    p.shard = currentURL
    p.shardOffset = current?.resumeOffset ?? 0
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
