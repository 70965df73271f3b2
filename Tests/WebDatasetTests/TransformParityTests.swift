import Foundation
import ImageCodecs
import Testing
import WebDataset

/// torchvision (Resize on PIL → crop → hflip → ToTensor → Normalize) against ours, on the same
/// decoded images and the same crop coordinates (ours, handed to the script).
@Suite struct TransformParityTests {
  struct Case {
    var file: String
    var transform: ImageTransform
    var placement: ImageTransform.Placement
  }

  static func cases(dir: String) throws -> [Case] {
    var rng = DataRNG(seed: 7)
    var out: [Case] = []
    let files = ["q420.jpg", "rgb.png", "lossy.webp", "q444.jpg", "gray.jpg"]
    for (i, file) in files.enumerated() {
      let image = try ImageDecoder.decode(try readBytes(dir + "/" + file))
      for interpolation in Interpolation.allCases {
        // Downscale, odd sizes, and upscale (resolution above the shorter side).
        for resolution in [32, 47, 130] {
          let center = (i + resolution) % 3 == 0
          let t = ImageTransform(resolution: resolution, interpolation: interpolation, centerCrop: center, randomFlip: true)
          let size = t.resizedSize(height: image.height, width: image.width)
          out.append(Case(file: file, transform: t, placement: t.placement(resizedHeight: size.height, resizedWidth: size.width, rng: &rng)))
        }
      }
    }
    return out
  }

  @Test func matchesTorchvision() throws {
    let dir = try referenceImages.get()
    let tmp = try TempDir()
    let cases = try Self.cases(dir: dir)
    let json = cases.map { c -> [String: Any] in
      [
        "file": dir + "/" + c.file, "resolution": c.transform.resolution, "interpolation": c.transform.interpolation.rawValue,
        "top": c.placement.top, "left": c.placement.left, "flip": c.placement.flipped, "center_crop": c.transform.centerCrop,
      ]
    }
    try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: tmp.file("cases.json")))
    try runPython("scripts/fixtures/image_parity.py", ["transform", tmp.file("cases.json"), tmp.file("out")])
    var worstResize: (diff: Float, what: String) = (0, "")
    for (i, c) in cases.enumerated() {
      let expected = try readBytes(tmp.file("out/\(i).f32")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
      let image = try ImageDecoder.decode(try readBytes(dir + "/" + c.file))
      let ours = c.transform.apply(image, placement: c.placement).normalizedCHW()
      try #require(ours.count == expected.count, "case \(i): \(ours.count) values, torchvision \(expected.count)")
      var diff: Float = 0
      var at = 0
      for k in 0..<ours.count where abs(ours[k] - expected[k]) > diff { diff = abs(ours[k] - expected[k]); at = k }
      let what = "\(c.file) \(c.transform.interpolation) res \(c.transform.resolution) \(c.placement) center \(c.transform.centerCrop): max diff \(diff * 127.5)/255 at \(at)"
      if diff > worstResize.diff { worstResize = (diff, what) }
      // [-1, 1] spans 255 steps of 2/255: 2/255 in pixels is 4/255 here.
      #expect(diff <= 4 / 255 + 1e-6, "\(what)")
    }
    print("transform parity: \(cases.count) cases, largest difference \(worstResize.diff * 127.5)/255 (\(worstResize.what))")
  }

  /// Crop, flip and normalize alone (no resize: the image's shorter side is the resolution) are exact.
  @Test func cropFlipNormalizeExact() throws {
    let dir = try referenceImages.get()
    let tmp = try TempDir()
    let image = try ImageDecoder.decode(try readBytes(dir + "/q420.jpg"))  // 233 x 157
    let t = ImageTransform(resolution: 157, randomFlip: true)
    let placements = [ImageTransform.Placement(top: 0, left: 0, flipped: false), .init(top: 0, left: 76, flipped: true), .init(top: 0, left: 33, flipped: false)]
    let json = placements.map { p -> [String: Any] in
      ["file": dir + "/q420.jpg", "resolution": 157, "interpolation": "bilinear", "top": p.top, "left": p.left, "flip": p.flipped]
    }
    try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: tmp.file("cases.json")))
    try runPython("scripts/fixtures/image_parity.py", ["transform", tmp.file("cases.json"), tmp.file("out")])
    for (i, p) in placements.enumerated() {
      let expected = try readBytes(tmp.file("out/\(i).f32")).withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
      #expect(t.apply(image, placement: p).normalizedCHW() == expected, "placement \(p)")
    }
  }

  @Test func resizedSizeAndCenterCrop() {
    let t = ImageTransform(resolution: 512, centerCrop: true)
    #expect(t.resizedSize(height: 600, width: 800) == (512, 682))
    #expect(t.resizedSize(height: 1000, width: 333) == (1537, 512))
    var rng = DataRNG(seed: 0)
    // (683 - 512) / 2 = 85.5 → 86 (half to even); (681 - 512) / 2 = 84.5 → 84.
    #expect(t.placement(resizedHeight: 512, resizedWidth: 683, rng: &rng).left == 86)
    #expect(t.placement(resizedHeight: 512, resizedWidth: 681, rng: &rng).left == 84)
  }
}
