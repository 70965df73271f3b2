import Foundation
import ImageCodecs

/// One transformed training example, as plain host buffers for the training thread.
public struct TrainingSample: Sendable {
  /// CHW float32 in [-1, 1], 3 × resolution × resolution.
  public var pixels: [Float]
  public var caption: String
  /// The decoded image's size before the resize, (height, width) (SDXL's original_size).
  public var originalSize: Size
  /// Top-left of the crop in the resized image, before any flip (SDXL's crops_coords_top_left).
  public var cropTop: Int
  public var cropLeft: Int
  public var flipped: Bool
  /// The sample's `json` member, raw (WebdatasetFilter reads width/height/pwatermark from it).
  public var json: [UInt8]?
  public var key: String
  public var shard: String

  public struct Size: Sendable, Equatable, Codable {
    public var height: Int
    public var width: Int
  }

  /// The S5 script's crop_top_left: (top, resolution - left) when flipped.
  public func scriptCropTopLeft(resolution: Int) -> (top: Int, left: Int) {
    (cropTop, flipped ? resolution - cropLeft : cropLeft)
  }
}

/// The scripts' `rename(image="jpg;png;jpeg;webp", text="text;txt;caption")`, decoding and transform.
public struct SampleDecoder: Sendable {
  public static let imageSuffixes = ["jpg", "png", "jpeg", "webp"]
  public static let textSuffixes = ["text", "txt", "caption"]

  public var transform: ImageTransform
  public var maxPixels: Int

  public init(transform: ImageTransform, maxPixels: Int = ImageDecoder.defaultMaxPixels) {
    self.transform = transform
    self.maxPixels = maxPixels
  }

  public struct Skip: Error, Sendable {
    public var fault: DataFault
    public var message: String
  }

  public func decode(_ raw: RawSample, rng: inout DataRNG) throws(Skip) -> TrainingSample {
    guard let imageSuffix = Self.imageSuffixes.first(where: { raw.files[$0] != nil }) else {
      throw Skip(fault: .missingImage, message: "no image member (\(Self.imageSuffixes.joined(separator: ";"))); has \(raw.files.keys.sorted())")
    }
    guard let textSuffix = Self.textSuffixes.first(where: { raw.files[$0] != nil }) else {
      throw Skip(fault: .missingCaption, message: "no caption member (\(Self.textSuffixes.joined(separator: ";"))); has \(raw.files.keys.sorted())")
    }
    guard let caption = String(validating: raw.files[textSuffix]!, as: UTF8.self) else {
      throw Skip(fault: .badCaption, message: ".\(textSuffix) is not UTF-8")
    }
    let json = raw.files["json"]
    if let json, (try? JSONSerialization.jsonObject(with: Data(json), options: [.fragmentsAllowed])) == nil {
      throw Skip(fault: .badMetadata, message: ".json does not parse")
    }
    let image: RGBImage
    do {
      image = try ImageDecoder.decode(raw.files[imageSuffix]!, maxPixels: maxPixels)
    } catch {
      let fault: DataFault =
        switch error.kind {
        case .empty: .emptyImage
        case .unknownFormat: .notAnImage
        case .corrupt: .corruptImage
        case .tooManyPixels: .tooManyPixels
        }
      throw Skip(fault: fault, message: ".\(imageSuffix): \(error.message)")
    }
    return finish(image, caption: caption, json: json, key: raw.key, shard: raw.shard, rng: &rng)
  }

  func finish(_ image: RGBImage, caption: String, json: [UInt8]?, key: String, shard: String, rng: inout DataRNG) -> TrainingSample {
    let (square, p) = transform.apply(image, rng: &rng)
    return TrainingSample(
      pixels: square.normalizedCHW(), caption: caption, originalSize: .init(height: image.height, width: image.width),
      cropTop: p.top, cropLeft: p.left, flipped: p.flipped, json: json, key: key, shard: shard)
  }
}
