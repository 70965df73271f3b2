import Foundation
import ImageCodecs
import Torch

/// Pipeline images ↔ 8-bit RGB.
public enum PipelineImages {
  /// [N, 3, H, W] in [0, 1] → RGB images, rounded as diffusers' numpy_to_pil ((x · 255).round()).
  public static func rgbImages(_ images: Tensor) throws -> [RGBImage] {
    let n = images.size(0), h = images.size(2), w = images.size(3)
    let bytes = try (images.to(.cpu, .float32) * 255.0).round().permute([0, 2, 3, 1]).contiguous().to(.uint8).toArray(UInt8.self)
    return (0..<n).map { i in RGBImage(width: w, height: h, pixels: Array(bytes[(i * h * w * 3)..<((i + 1) * h * w * 3)])) }
  }

  /// An RGB image → [1, 3, H, W] in [-1, 1] (diffusers' VaeImageProcessor.preprocess).
  public static func tensor(_ image: RGBImage) throws -> Tensor {
    let t = try Tensor(image.pixels, shape: [1, image.height, image.width, 3]).permute([0, 3, 1, 2]).to(.float32)
    return try t / 255.0 * 2.0 - 1.0
  }
}

/// PNG files with tEXt chunks (prompt, seed, steps, ...), inserted after IHDR.
public enum PNGText {
  public static func write(_ image: RGBImage, to path: String, text: [(String, String)]) throws {
    let tmp = path + ".tmp-\(getpid())"
    try image.writePNG(to: tmp)
    var data = try Data(contentsOf: URL(fileURLWithPath: tmp))
    try? FileManager.default.removeItem(atPath: tmp)
    // 8-byte signature, then IHDR: 4 length + 4 type + 13 data + 4 CRC
    let insertAt = 8 + 25
    var chunks = Data()
    for (key, value) in text {
      let latin1 = { (s: String) in Data(s.unicodeScalars.map { $0.value < 256 ? UInt8($0.value) : UInt8(ascii: "?") }) }
      var body = Data("tEXt".utf8)
      body += latin1(String(key.prefix(79))) + Data([0]) + latin1(value)
      var length = UInt32(body.count - 4).bigEndian
      chunks += Data(bytes: &length, count: 4) + body
      var crc = crc32(body).bigEndian
      chunks += Data(bytes: &crc, count: 4)
    }
    data.insert(contentsOf: chunks, at: insertAt)
    try data.write(to: URL(fileURLWithPath: path), options: .atomic)
  }

  static let table: [UInt32] = (0..<256).map { n -> UInt32 in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
  }

  static func crc32(_ data: Data) -> UInt32 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in data { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
    return c ^ 0xFFFF_FFFF
  }
}
