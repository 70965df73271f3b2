/// Where a raw sample came from, so a saved shuffle buffer can be re-read on resume.
public struct SampleRef: Sendable, Codable, Equatable {
  public var shard: String
  public var offset: Int64
  /// The global index of the shard draw (or row) it came from, the same whichever reader read
  /// it: with `offset` it keys the sample's crop and flip. Absent in positions saved before it.
  public var draw: Int? = nil
}

/// The members of one sample, before decoding: suffix (lower-cased) → bytes.
public struct RawSample: Sendable {
  public var key: String
  public var shard: String
  public var files: [String: [UInt8]]
  public var ref: SampleRef
}

/// webdataset's `base_plus_ext` (`^((?:.*/|)[^.]+)[.]([^/]*)$`): the key is the path up to the
/// first dot of the basename, the suffix the rest. Written out by hand, with the regex's
/// backtracking order (last slash first), so it gives the same split for odd names.
public func splitKey(_ name: String) -> (key: String, suffix: String)? {
  let c = Array(name.utf8)
  var starts: [Int] = c.indices.filter { c[$0] == UInt8(ascii: "/") }.map { $0 + 1 }.reversed()
  starts.append(0)
  for p in starts {
    guard let dot = c[p...].firstIndex(of: UInt8(ascii: ".")), dot > p else { continue }
    if c[(dot + 1)...].contains(UInt8(ascii: "/")) { continue }
    return (String(decoding: c[..<dot], as: UTF8.self), String(decoding: c[(dot + 1)...], as: UTF8.self))
  }
  return nil
}

/// webdataset's metadata members (`__key__`-style names at the top, `skip_meta=r"__[^/]*__($|/)"`).
func isMetaName(_ name: String) -> Bool {
  guard name.hasPrefix("__") else { return false }
  let rest = name.dropFirst(2)
  guard let close = rest.range(of: "__") else { return false }
  let inner = rest[..<close.lowerBound]
  let after = rest[close.upperBound...]
  return !inner.contains("/") && (after.isEmpty || after.hasPrefix("/"))
}

/// The samples of one shard, grouped as the scripts' `group_by_keys_nothrow` does: a new sample
/// when the key changes or a suffix repeats. Unlike the scripts, grouping restarts at each shard,
/// so a key at the end of one shard and the start of the next never merges.
public final class ShardSampleReader {
  let tar: TarReader
  let shard: String
  var pending: RawSample?
  var finished = false

  public init(source: any ByteSource, shard: String, startOffset: Int64 = 0) {
    self.shard = shard
    tar = TarReader(source: source, shard: shard, startOffset: startOffset)
  }

  /// Offset where the next sample not yet returned starts (for an exact resume).
  public var resumeOffset: Int64 { pending?.ref.offset ?? tar.offset }

  /// The next sample; an error (truncated/corrupt tar) ends the shard: the sample gathered so far
  /// is returned first, the error on the following call.
  public func next() throws(DataError) -> RawSample? {
    if finished { return nil }
    while true {
      let entry: TarEntry?
      do {
        entry = try tar.next()
      } catch {
        finished = true
        if let sample = pending {
          pending = nil
          deferredError = error
          return sample
        }
        throw error
      }
      guard let entry else {
        finished = true
        defer { pending = nil }
        return pending
      }
      if isMetaName(entry.name) { continue }
      guard let (key, rawSuffix) = splitKey(entry.name) else { continue }
      let suffix = rawSuffix.lowercased()
      if let current = pending, current.key == key, current.files[suffix] == nil {
        pending!.files[suffix] = entry.data  // in place: no copy of the members gathered so far
        continue
      }
      let done = pending
      pending = RawSample(key: key, shard: shard, files: [suffix: entry.data], ref: SampleRef(shard: shard, offset: entry.headerOffset))
      if let done { return done }
    }
  }

  var deferredError: DataError?

  /// The error that ended the shard after its last sample was returned, if any.
  public func takeDeferredError() -> DataError? {
    defer { deferredError = nil }
    return deferredError
  }

  public func close() throws(DataError) { try tar.source.close() }
}
