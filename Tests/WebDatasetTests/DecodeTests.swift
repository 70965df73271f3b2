import Foundation
import ImageCodecs
import Testing

/// Every format and mode the pipeline accepts, decoded by us and by PIL (`convert("RGB")`).
let referenceImageNames = [
  "q420.jpg", "q444.jpg", "q422.jpg", "odd420.jpg", "progressive.jpg", "gray.jpg", "cmyk.jpg",
  "rgb.png", "rgba.png", "gray.png", "la.png", "palette.png", "palette_trns.png", "bits1.png", "bits4.png",
  "interlaced.png", "gray16.png", "rgb16.png", "lossy.webp", "lossless.webp", "alpha.webp",
]

@Suite struct DecodeTests {
  @Test(arguments: referenceImageNames)
  func decodeMatchesPIL(name: String) throws {
    let dir = try referenceImages.get()
    let manifest = try referenceManifest()
    let expected = try readBytes(dir + "/" + name + ".rgb")
    let image = try ImageDecoder.decode(try readBytes(dir + "/" + name))
    #expect([image.width, image.height] == manifest[name])
    try #require(image.pixels.count == expected.count)
    var worst = 0, count = 0
    for (a, b) in zip(image.pixels, expected) where a != b {
      worst = max(worst, abs(Int(a) - Int(b)))
      count += 1
    }
    // JPEG and lossy WebP must match PIL's libjpeg-turbo / libwebp exactly; tolerance 0.
    #expect(worst == 0, "\(name): \(count) bytes differ, largest difference \(worst)/255")
    #expect(try ImageDecoder.size(of: try readBytes(dir + "/" + name)) == (image.width, image.height))
  }

  @Test func faults() throws {
    let dir = try referenceImages.get()
    let jpeg = try readBytes(dir + "/q420.jpg")
    let png = try readBytes(dir + "/rgb.png")
    let webp = try readBytes(dir + "/lossy.webp")
    func kind(_ bytes: [UInt8], maxPixels: Int = ImageDecoder.defaultMaxPixels) -> ImageDecodeError.Kind? {
      do {
        _ = try ImageDecoder.decode(bytes, maxPixels: maxPixels)
        return nil
      } catch { return error.kind }
    }
    #expect(kind([]) == .empty)
    #expect(kind(Array("hello, not an image".utf8)) == .unknownFormat)
    #expect(kind(Array(jpeg.prefix(jpeg.count / 2))) == .corrupt)
    #expect(kind(Array(jpeg.prefix(10))) == .corrupt)
    #expect(kind(Array(png.prefix(png.count / 2))) == .corrupt)
    #expect(kind(Array(webp.prefix(webp.count / 2))) == .corrupt)
    var badCRC = png
    badCRC[30] ^= 0xFF  // inside IHDR: libpng rejects the chunk's CRC
    #expect(kind(badCRC) == .corrupt)
    #expect(kind(jpeg, maxPixels: 100) == .tooManyPixels)
    #expect(kind(png, maxPixels: 100) == .tooManyPixels)
    #expect(kind(webp, maxPixels: 100) == .tooManyPixels)
  }
}
