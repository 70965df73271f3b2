import ImageCodecs
import SyntheticShapes
import Testing
import WebDataset

/// The detector `lcm eval` scores with reads the data set's own renders back: ≥ 99% right per
/// attribute and all together, at the resolutions the teacher is trained and sampled at.
@Suite("shapes detector")
struct ShapeDetectorTests {
  @Test(arguments: [32, 64])
  func readsBackTheRendersItsDataSetDraws(resolution: Int) {
    var rng = DataRNG(seed: 7, stream: [UInt64(resolution)])
    let count = 600
    var right: [String: Int] = [:], allRight = 0
    var wrong: [String] = []
    for _ in 0..<count {
      let scene = ShapeScene.random({ rng.unit() }, includeHeldOut: true)
      let found = ShapeDetector.detect(ShapeRenderer.render(scene, resolution: resolution))
      let m = found.matches(scene.labels)
      for (k, ok) in m where ok { right[k, default: 0] += 1 }
      if m.values.allSatisfy({ $0 }) { allRight += 1 } else if wrong.count < 8 { wrong.append("\(scene.labels.caption) → \(found)") }
    }
    for attribute in ["shape", "color", "position", "size", "background"] {
      #expect(Double(right[attribute, default: 0]) >= 0.99 * Double(count), "\(attribute): \(right[attribute, default: 0]) of \(count); \(wrong)")
    }
    #expect(Double(allRight) >= 0.99 * Double(count), "all attributes: \(allRight) of \(count); \(wrong)")
  }

  /// Blurred (3 × 3 box) and noisy (±12 per channel) renders, as a VAE's decodes look, at the
  /// built-in teacher's 64 px: still read right ≥ 95% of the time, so `lcm eval` scores what a
  /// model drew more than its softness. (At 32 px blur erases small shapes' detail: ~89%.)
  @Test(arguments: [64]) func readsBlurredNoisyRenders(n: Int) {
    var rng = DataRNG(seed: 11)
    let count = 300
    var allRight = 0
    var missed: [String: Int] = [:]
    for _ in 0..<count {
      let scene = ShapeScene.random({ rng.unit() }, includeHeldOut: true)
      let image = ShapeRenderer.render(scene, resolution: n)
      var out = image.pixels
      for y in 0..<n {
        for x in 0..<n {
          for c in 0..<3 {
            var s = 0, k = 0
            for dy in -1...1 { for dx in -1...1 where (0..<n).contains(x + dx) && (0..<n).contains(y + dy) { s += Int(image.pixels[((y + dy) * n + x + dx) * 3 + c]); k += 1 } }
            out[(y * n + x) * 3 + c] = UInt8(clamping: s / k + rng.below(25) - 12)
          }
        }
      }
      let found = ShapeDetector.detect(RGBImage(width: n, height: n, pixels: out))
      let m = found.matches(scene.labels)
      if m.values.allSatisfy({ $0 }) { allRight += 1 }
      for (k, ok) in m where !ok { missed[k, default: 0] += 1 }
    }
    #expect(Double(allRight) >= 0.95 * Double(count), "\(allRight) of \(count); missed: \(missed)")
  }

  /// A picture without a shape (a plain background) names no shape, colour or place.
  @Test func aBlankImageShowsNoShape() {
    let blank = RGBImage(width: 32, height: 32, pixels: [UInt8](repeating: 128, count: 32 * 32 * 3))
    let found = ShapeDetector.detect(blank)
    #expect(found.shape == nil && found.color == nil && found.position == nil && found.background == .gray)
  }

  @Test func captionsParseBackToTheirLabels() {
    var rng = DataRNG(seed: 1)
    for _ in 0..<200 {
      let labels = ShapeScene.random({ rng.unit() }, includeHeldOut: true).labels
      #expect(ShapeLabels(caption: labels.caption) == labels, "\(labels.caption)")
    }
    #expect(ShapeLabels(caption: "a cat on a sofa") == nil)
    #expect(ShapeLabels.heldOut.count == 54 && Set(ShapeLabels.heldOut).count == 54)
  }
}
