import Foundation
import ImageCodecs

/// An image folder of `count` random PNGs (40..60 × 48 px) with `.txt` captions, for the
/// end-to-end distillation tests.
func randomImageFolder(_ prefix: String, count: Int = 6) throws -> String {
  let dir = NSTemporaryDirectory() + "\(prefix)-\(UInt32.random(in: 0...UInt32.max))"
  try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
  var rng = SystemRandomNumberGenerator()
  for i in 0..<count {
    let (w, h) = (40 + 4 * i, 48)
    let image = RGBImage(width: w, height: h, pixels: (0..<(w * h * 3)).map { _ in UInt8.random(in: 0...255, using: &rng) })
    try image.writePNG(to: "\(dir)/\(i).png")
    try "a photo number \(i)".write(toFile: "\(dir)/\(i).txt", atomically: true, encoding: .utf8)
  }
  return dir
}
