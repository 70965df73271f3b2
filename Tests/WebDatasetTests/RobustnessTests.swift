import Foundation
import ImageCodecs
import Testing

@testable import WebDataset

/// Inputs found by the outside fuzz campaign (issue 11): each once trapped, aborted or cost
/// gigabytes; each must now be a counted skip or a bounded decode.
@Suite struct RobustnessTests {
  /// A pax header with malformed records ("1 x", "2 ab\n"), and other shapes that once trapped.
  @Test(arguments: ["1 x", "2 ab\n", "0 \n", "5 a=b\n", "99 path=x\n", " 9 a=b\n", "-5 a=b\n", "8 =value\n",
    "99999999999999999999999 a=b\n", "12 size=-4\n", "13 size=abc\n"])
  func malformedPaxIsACorruptShard(records: String) throws {
    var tar = TarWriter()
    tar.entry("PaxHeaders/x", Array(records.utf8), type: "x")
    tar.file("a.txt", Array("caption".utf8))
    do {
      let samples = try readAll(tar.finished())
      Issue.record("expected corrupt_tar, read \(samples.count) samples")
    } catch let error as DataError {
      #expect(error.fault == .corruptTar && error.description.contains("pax"), "\(error)")
    }
  }

  @Test func wellFormedPaxStillReads() throws {
    var tar = TarWriter()
    tar.entry("PaxHeaders/x", Array("29 path=a-long-name-here.txt\n".utf8), type: "x")
    tar.file("short.txt", Array("caption".utf8))
    let samples = try readAll(tar.finished())
    #expect(samples.map(\.key) == ["a-long-name-here"])
  }

  /// A size field near the member limit in a stream that ends early: the read fails as truncated
  /// and the memory held stays near what the stream had, not the declared size.
  @Test func declaredSizeBeyondTheStreamCostsLittle() throws {
    var tar = TarWriter()
    tar.file("a.jpg", [UInt8](repeating: 7, count: 4096))
    var bytes = tar.bytes
    let declared = TarReader.defaultMaxMemberSize - 1
    let digits = String(declared, radix: 8)
    let field = Array((String(repeating: "0", count: 11 - digits.count) + digits).utf8)
    for (i, b) in field.enumerated() { bytes[124 + i] = b }
    for i in 148..<156 { bytes[i] = UInt8(ascii: " ") }
    let sum = bytes[0..<512].reduce(0) { $0 + Int($1) }
    for (i, b) in Array(String(format: "%06o\0", sum).utf8).enumerated() { bytes[148 + i] = b }
    let before = peakRSS()
    do {
      _ = try readAll(bytes)
      Issue.record("expected truncation")
    } catch let error as DataError {
      #expect(error.fault == .truncatedTar, "\(error)")
    }
    #expect(peakRSS() - before < 128 << 20, "reading a truncated 256 MiB member raised the peak RSS by \(peakRSS() - before) bytes")
  }

  /// 50,000,000 × 1 under the pixel limit: refused from the header (it once asked for 25.6 GB).
  @Test func stripImageOverTheSideLimitIsRefused() throws {
    do {
      _ = try ImageDecoder.decode(pngHeader(width: 50_000_000, height: 1))
      Issue.record("expected a refusal")
    } catch {
      #expect(error.kind == .tooManyPixels && error.message.contains("side"), "\(error)")
    }
  }

  /// The longest accepted strip, resized so its short side is 512: only the crop's columns are
  /// computed, so the memory is that of the image and the crop (it once held ~1 GB of weights).
  @Test(arguments: [Interpolation.bilinear, .nearest, .lanczos])
  func stripImageTransformIsBounded(interpolation: Interpolation) throws {
    let width = ImageDecoder.maxSide
    let strip = RGBImage(width: width, height: 1, pixels: (0..<(width * 3)).map { UInt8(truncatingIfNeeded: $0 / 3) })
    let transform = ImageTransform(resolution: 512, interpolation: interpolation, centerCrop: true)
    let before = peakRSS()
    var rng = DataRNG(seed: 1)
    let (square, placement) = transform.apply(strip, rng: &rng)
    #expect(square.width == 512 && square.height == 512)
    #expect(peakRSS() - before < 128 << 20, "peak RSS rose by \(peakRSS() - before) bytes")
    // Every row of an upscaled 1-pixel-high strip is the same; the columns are the strip's.
    let row = Array(square.pixels[0..<(512 * 3)])
    #expect((0..<512).allSatisfy { Array(square.pixels[($0 * 512 * 3)..<(($0 + 1) * 512 * 3)]) == row })
    // The window equals a small resize of the same region, computed independently: source x
    // of output column c is about (left + c) / 512.
    let src = (placement.left + 256) / 512
    #expect(abs(Int(row[256 * 3]) - Int(UInt8(truncatingIfNeeded: src))) <= 1)
  }

  /// The windowed resample equals resizing everything and cropping after, for every filter.
  @Test(arguments: ResampleFilter.allCases)
  func windowedResizeEqualsFullResize(filter: ResampleFilter) {
    let image = RGBImage(width: 37, height: 23, pixels: (0..<(37 * 23 * 3)).map { UInt8(truncatingIfNeeded: $0 &* 2654435761 >> 7) })
    let full = image.resized(width: 71, height: 13, filter: filter)
    let window = image.resizedCrop(width: 71, height: 13, filter: filter, top: 3, left: 29, cropHeight: 7, cropWidth: 31)
    #expect(window == full.cropped(top: 3, left: 29, height: 7, width: 31))
  }
}

/// This process's peak resident set size in bytes.
func peakRSS() -> Int {
  var usage = rusage()
  getrusage(RUSAGE_SELF.rawValue, &usage)
  return usage.ru_maxrss * 1024
}
