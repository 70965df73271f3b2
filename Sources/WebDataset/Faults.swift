import Synchronization

/// Why a sample or a shard was skipped. The raw values are the counter names in the training log.
public enum DataFault: String, Sendable, CaseIterable, Codable {
  case unreadableShard = "unreadable_shard"  // missing file, directory, permission, compressed tar
  case pipeFailed = "pipe_failed"  // `pipe:` command exited non-zero
  case httpError = "http_error"  // connection failure or HTTP status >= 400
  case truncatedTar = "truncated_tar"  // shard ends inside a header or a member
  case corruptTar = "corrupt_tar"  // header checksum or size field invalid
  case emptyImage = "empty_image"  // zero-byte file under an image suffix
  case notAnImage = "not_an_image"  // bytes that are not JPEG/PNG/WebP
  case corruptImage = "corrupt_image"  // the decoder refused the data, or it ends early
  case tooManyPixels = "too_many_pixels"  // over the decompression-bomb limit
  case missingImage = "missing_image"  // no jpg/png/jpeg/webp member
  case missingCaption = "missing_caption"  // no text/txt/caption member (or caption column)
  case badCaption = "bad_caption"  // caption not UTF-8
  case badMetadata = "bad_metadata"  // json member that does not parse
  case filtered = "filtered"  // dropped by the SDXL scripts' WebdatasetFilter (size, watermark)
}

/// A skipped sample or shard, reported once per (fault, shard).
public struct FaultEvent: Sendable, CustomStringConvertible {
  public var fault: DataFault
  public var shard: String
  public var key: String?
  public var message: String
  public var description: String {
    "skipped \(key.map { "sample '\($0)' of " } ?? "")\(shard): \(message) [\(fault.rawValue)]"
  }
}

/// One-line errors of the data pipeline; each names the shard, file or flag and the problem.
public enum DataError: Error, Sendable, CustomStringConvertible, Equatable {
  case badSpec(String)
  case shard(fault: DataFault, shard: String, message: String)
  case noSamples(String)
  case badPosition(String)
  case badConfig(String)
  /// The caller's stop condition (a signal) ended the wait for a batch.
  case interrupted

  public var description: String {
    switch self {
    case .interrupted: "interrupted while waiting for data"
    case .badSpec(let m), .noSamples(let m), .badPosition(let m), .badConfig(let m): m
    case .shard(_, let shard, let message): "\(shard): \(message)"
    }
  }

  var fault: DataFault? {
    if case .shard(let fault, _, _) = self { return fault }
    return nil
  }
}

/// Skip counters shared by all workers. The first event of each (fault, shard) goes to `onFault`,
/// for the first `reportsPerFault` shards of each fault; then one event says the rest are only
/// counted (the counts are in the logs' skipped_samples and `summary`).
public final class FaultCounters: Sendable {
  public static let reportsPerFault = 5
  private let state = Mutex<(counts: [DataFault: Int], seen: Set<String>, reported: [DataFault: Int])>(([:], [], [:]))
  private let onFault: (@Sendable (FaultEvent) -> Void)?

  public init(onFault: (@Sendable (FaultEvent) -> Void)? = nil) {
    self.onFault = onFault
  }

  public func record(_ event: FaultEvent) {
    let report: FaultEvent? = state.withLock { s in
      s.counts[event.fault, default: 0] += 1
      guard s.seen.insert("\(event.fault.rawValue)\u{0}\(event.shard)").inserted else { return nil }
      let n = s.reported[event.fault, default: 0]
      s.reported[event.fault] = n + 1
      if n < Self.reportsPerFault { return event }
      guard n == Self.reportsPerFault else { return nil }
      return FaultEvent(fault: event.fault, shard: "further shards", key: nil,
                        message: "more \(event.fault.rawValue) faults are counted, not shown one by one")
    }
    if let report { onFault?(report) }
  }

  public var counts: [DataFault: Int] { state.withLock { $0.counts } }
  public var total: Int { counts.values.reduce(0, +) }

  /// `fault=count` pairs in a fixed order, for logs.
  public var summary: String {
    let c = counts
    let parts = DataFault.allCases.compactMap { f in c[f].map { "\(f.rawValue)=\($0)" } }
    return parts.isEmpty ? "none" : parts.joined(separator: " ")
  }
}
