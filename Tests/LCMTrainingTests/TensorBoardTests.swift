import Foundation
import ImageCodecs
import Testing

@testable import LCMTraining

@Suite("TensorBoard event files")
struct TensorBoardTests {
  @Test func crc32cKnownValue() {
    // RFC 3720's test vector: 32 bytes of zeros
    #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
  }

  /// The tensorboard package reads back what the writer wrote: scalars, and PNG images that PIL
  /// decodes to the stored size.
  @Test func tensorboardReadsScalarsAndImages() throws {
    let dir = NSTemporaryDirectory() + "tb-\(UInt32.random(in: 0...UInt32.max))"
    let writer = try TensorBoardWriter(logDir: dir)
    for step in 1...3 {
      try writer.scalar("loss", 1.0 / Double(step), step: step)
      try writer.scalar("lr", 1e-4, step: step)
    }
    let image = RGBImage.grid((0..<3).map { i in RGBImage(width: 5, height: 4, pixels: .init(repeating: UInt8(40 * i), count: 60)) }, columns: 3)
    try writer.image("validation/target/a cat", png: try image.pngData(), width: image.width, height: image.height, step: 7)
    try writer.flush()
    let r = try runCommand(pythonPath, ["\(repoRoot)/scripts/fixtures/read_tensorboard.py", dir])
    #expect(r.status == 0, "\(r.output)")
    let data = r.stdout
    let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let scalars = try #require(json["scalars"] as? [String: [[Double]]])
    let images = try #require(json["images"] as? [String: [[Int]]])
    #expect(images["validation/target/a cat"] == [[7, 15, 4]])
    #expect(scalars["loss"]?.map { $0[0] } == [1, 2, 3])
    #expect(scalars["loss"]?.map { Float($0[1]) } == [1, 0.5, Float(1.0 / 3.0)])
    #expect(scalars["lr"]?.count == 3)
  }
}
