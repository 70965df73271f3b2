import Foundation

/// The SDXL scripts' `WebdatasetFilter` (S3/S4, reference §5.3), on each raw sample before the
/// shuffle: keep it iff it has a json member with `width` and `height` ≥ `minSize` and
/// `pwatermark` ≤ `maxPWatermark` (a missing or null width / pwatermark counts as 0); anything the
/// script's `try` would fail on (no json, bad json, a null or non-numeric height) drops it. Drops
/// are counted as the `filtered` fault. The same json gives S3/S4's original size.
public struct WebdatasetFilter: Sendable, Equatable, CustomStringConvertible {
  public var minSize: Double
  public var maxPWatermark: Double
  public var widthKey: String
  public var heightKey: String

  /// The scripts' constants: MIN_SIZE 700, max_pwatermark 0.5, WDS_JSON_WIDTH/HEIGHT.
  public init(minSize: Double = 700, maxPWatermark: Double = 0.5, widthKey: String = "width", heightKey: String = "height") {
    self.minSize = minSize
    self.maxPWatermark = maxPWatermark
    self.widthKey = widthKey
    self.heightKey = heightKey
  }

  public var description: String {
    "json \(widthKey)/\(heightKey) >= \(minSize), pwatermark <= \(maxPWatermark)"
  }

  /// A JSON number as Python sees it (booleans are 0 / 1); nil for anything else.
  static func number(_ v: Any?) -> Double? {
    guard let n = v as? NSNumber, !(v is String) else { return nil }
    return n.doubleValue
  }

  static func object(_ json: [UInt8]?) -> [String: Any]? {
    guard let json else { return nil }
    return try? JSONSerialization.jsonObject(with: Data(json), options: [.fragmentsAllowed]) as? [String: Any]
  }

  /// Why the script would drop the sample, or nil when it keeps it.
  public func dropReason(_ json: [UInt8]?) -> String? {
    guard json != nil else { return "no json member" }
    guard let o = Self.object(json) else { return "json is not an object" }
    // `(j.get(W, 0.0) or 0.0)`: missing or null is 0; a string raises in the comparison
    let w: Double
    if o[widthKey] == nil || o[widthKey] is NSNull { w = 0 } else {
      guard let v = Self.number(o[widthKey]) else { return "json \(widthKey) is not a number" }
      w = v
    }
    // `j.get(H, 0)`: missing is 0; null raises
    let h: Double
    if o[heightKey] == nil { h = 0 } else {
      guard let v = Self.number(o[heightKey]) else { return "json \(heightKey) is not a number" }
      h = v
    }
    let p: Double
    if o["pwatermark"] == nil || o["pwatermark"] is NSNull { p = 0 } else {
      guard let v = Self.number(o["pwatermark"]) else { return "json pwatermark is not a number" }
      p = v
    }
    if !(w >= minSize && h >= minSize) { return "json size \(Int(w))x\(Int(h)) under \(Int(minSize))" }
    if !(p <= maxPWatermark) { return "pwatermark \(p) over \(maxPWatermark)" }
    return nil
  }

  /// S3/S4's original size: the json's (height, width), truncated to integers as `int(...)`.
  public func originalSize(_ json: [UInt8]?) -> TrainingSample.Size? {
    guard let o = Self.object(json), let w = Self.number(o[widthKey]), let h = Self.number(o[heightKey]),
      w.isFinite, h.isFinite, abs(w) < 1e9, abs(h) < 1e9
    else { return nil }
    return TrainingSample.Size(height: Int(h), width: Int(w))
  }
}

/// A source whose samples pass the filter; the dropped ones are counted faults. A source that
/// yields only dropped samples fails after `hopeless` in a row rather than spinning.
final class FilteredSource: RawSampleSource {
  let inner: RawSampleSource
  let filter: WebdatasetFilter
  let faults: FaultCounters
  var keptEver = false
  static let hopeless = 10_000

  init(_ inner: RawSampleSource, filter: WebdatasetFilter, faults: FaultCounters) {
    self.inner = inner
    self.filter = filter
    self.faults = faults
  }

  func next() throws(DataError) -> RawSample {
    var dropped = 0
    while true {
      let s = try inner.next()
      guard let reason = filter.dropReason(s.files["json"]) else {
        keptEver = true
        return s
      }
      faults.record(FaultEvent(fault: .filtered, shard: s.shard, key: s.key, message: "WebdatasetFilter: \(reason)"))
      dropped += 1
      if !keptEver && dropped >= Self.hopeless {
        throw DataError.noSamples("the first \(dropped) samples were all dropped by the WebdatasetFilter (\(filter)); check the shards' json members or the --wds_filter flags")
      }
    }
  }

  func load(_ ref: SampleRef) throws(DataError) -> RawSample? { try inner.load(ref) }
  func save(into position: inout WorkerPosition) { inner.save(into: &position) }
}
