import Foundation

/// Writes TensorBoard event files (TFRecord framing of `Event` protobufs) for scalar summaries,
/// as torch.utils.tensorboard's SummaryWriter does; TensorBoard itself reads them.
public final class TensorBoardWriter {
  public let path: String
  let handle: FileHandle

  public init(logDir: String) throws {
    try FileManager.default.createDirectory(atPath: logDir, withIntermediateDirectories: true)
    let host = ProcessInfo.processInfo.hostName
    path = "\(logDir)/events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(host).\(getpid())"
    guard FileManager.default.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
      throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
    }
    handle = h
    var event = Protobuf()
    event.double(1, Date().timeIntervalSince1970)
    event.string(3, "brain.Event:2")
    try write(event.bytes)
  }

  deinit { try? handle.close() }

  /// One scalar (tag, value) at a step.
  public func scalar(_ tag: String, _ value: Double, step: Int) throws {
    var v = Protobuf()
    v.string(1, tag)
    v.float(2, Float(value))
    try write(summaryValue: v, step: step)
  }

  /// One PNG-encoded RGB image (Summary.Image), as SummaryWriter.add_image(s) writes it.
  public func image(_ tag: String, png: [UInt8], width: Int, height: Int, step: Int) throws {
    var image = Protobuf()
    image.varint(1, UInt64(height))
    image.varint(2, UInt64(width))
    image.varint(3, 3)
    image.lengthDelimited(4, png)
    var v = Protobuf()
    v.string(1, tag)
    v.message(4, image)
    try write(summaryValue: v, step: step)
  }

  public func flush() throws { try handle.synchronize() }

  /// An Event at `step` holding a Summary with one value.
  func write(summaryValue v: Protobuf, step: Int) throws {
    var summary = Protobuf()
    summary.message(1, v)
    var event = Protobuf()
    event.double(1, Date().timeIntervalSince1970)
    event.varint(2, UInt64(bitPattern: Int64(step)))
    event.message(5, summary)
    try write(event.bytes)
  }

  func write(_ data: [UInt8]) throws {
    var record = [UInt8]()
    let length = withUnsafeBytes(of: UInt64(data.count).littleEndian, Array.init)
    record += length
    record += withUnsafeBytes(of: CRC32C.masked(length).littleEndian, Array.init)
    record += data
    record += withUnsafeBytes(of: CRC32C.masked(data).littleEndian, Array.init)
    try handle.write(contentsOf: record)
  }
}

/// The few protobuf encodings an Event needs.
struct Protobuf {
  var bytes: [UInt8] = []

  mutating func key(_ field: Int, _ wire: UInt8) { putVarint(UInt64(field << 3) | UInt64(wire)) }

  mutating func putVarint(_ v: UInt64) {
    var v = v
    while v >= 0x80 {
      bytes.append(UInt8(v & 0x7F) | 0x80)
      v >>= 7
    }
    bytes.append(UInt8(v))
  }

  mutating func varint(_ field: Int, _ v: UInt64) {
    key(field, 0)
    putVarint(v)
  }

  mutating func double(_ field: Int, _ v: Double) {
    key(field, 1)
    bytes += withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init)
  }

  mutating func float(_ field: Int, _ v: Float) {
    key(field, 5)
    bytes += withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init)
  }

  mutating func string(_ field: Int, _ s: String) { lengthDelimited(field, Array(s.utf8)) }

  mutating func message(_ field: Int, _ m: Protobuf) { lengthDelimited(field, m.bytes) }

  mutating func lengthDelimited(_ field: Int, _ data: [UInt8]) {
    key(field, 2)
    putVarint(UInt64(data.count))
    bytes += data
  }
}

/// CRC-32C (Castagnoli), masked as TFRecord files store it.
enum CRC32C {
  static let table: [UInt32] = (0..<256).map { n -> UInt32 in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 != 0 ? 0x82F6_3B78 ^ (c >> 1) : c >> 1 }
    return c
  }

  static func checksum(_ data: [UInt8]) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in data { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
    return c ^ 0xFFFF_FFFF
  }

  static func masked(_ data: [UInt8]) -> UInt32 {
    let c = checksum(data)
    return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
  }
}
