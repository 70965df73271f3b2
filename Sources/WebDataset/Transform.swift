import ImageCodecs

/// `--interpolation_type`, mapped to PIL's filters as torchvision does for PIL images.
public enum Interpolation: String, Sendable, CaseIterable, Codable {
  case bilinear, bicubic, nearest, lanczos, box, hamming

  public var filter: ResampleFilter {
    switch self {
    case .bilinear: .bilinear
    case .bicubic: .bicubic
    case .nearest: .nearest
    case .lanczos: .lanczos
    case .box: .box
    case .hamming: .hamming
    }
  }
}

/// The scripts' per-sample transform: resize the shorter side to `resolution`, crop a square
/// (random, or centred with `--center_crop`), flip with `--random_flip` (p = 0.5), ToTensor +
/// Normalize([0.5], [0.5]).
public struct ImageTransform: Sendable, Codable, Equatable {
  public var resolution: Int
  public var interpolation: Interpolation
  public var centerCrop: Bool
  public var randomFlip: Bool

  public init(resolution: Int, interpolation: Interpolation = .bilinear, centerCrop: Bool = false, randomFlip: Bool = false) {
    self.resolution = resolution
    self.interpolation = interpolation
    self.centerCrop = centerCrop
    self.randomFlip = randomFlip
  }

  /// torchvision's `_compute_resized_output_size` for an int size: (height, width).
  public func resizedSize(height h: Int, width w: Int) -> (height: Int, width: Int) {
    let short = min(h, w), long = max(h, w)
    let newLong = Int(Double(resolution * long) / Double(short))
    return w <= h ? (newLong, resolution) : (resolution, newLong)
  }

  /// The crop's top-left in the resized image and the flip, drawn from `rng` (random crop: top then
  /// left, like `RandomCrop.get_params`; then the flip).
  public func placement(resizedHeight h: Int, resizedWidth w: Int, rng: inout DataRNG) -> Placement {
    let top: Int, left: Int
    if centerCrop {
      // torchvision's CenterCrop: int(round((h - th) / 2.0)) with Python's round-half-to-even.
      top = Int((Double(h - resolution) / 2).rounded(.toNearestOrEven))
      left = Int((Double(w - resolution) / 2).rounded(.toNearestOrEven))
    } else if h == resolution && w == resolution {
      (top, left) = (0, 0)
    } else {
      top = rng.below(h - resolution + 1)
      left = rng.below(w - resolution + 1)
    }
    let flip = randomFlip && rng.unit() < 0.5
    return Placement(top: top, left: left, flipped: flip)
  }

  public struct Placement: Sendable, Equatable, Codable {
    public var top: Int
    public var left: Int
    public var flipped: Bool
    public init(top: Int, left: Int, flipped: Bool) {
      self.top = top
      self.left = left
      self.flipped = flipped
    }
  }

  /// The transformed square, still 8-bit RGB (HWC), and where it was cut from.
  public func apply(_ image: RGBImage, rng: inout DataRNG) -> (image: RGBImage, placement: Placement) {
    let size = resizedSize(height: image.height, width: image.width)
    let p = placement(resizedHeight: size.height, resizedWidth: size.width, rng: &rng)
    return (apply(image, placement: p), p)
  }

  /// The same with a given placement (parity tests feed the crop coordinates to torchvision).
  public func apply(_ image: RGBImage, placement p: Placement) -> RGBImage {
    let size = resizedSize(height: image.height, width: image.width)
    let square = image.resizedCrop(
      width: size.width, height: size.height, filter: interpolation.filter,
      top: p.top, left: p.left, cropHeight: resolution, cropWidth: resolution)
    return p.flipped ? square.flippedHorizontally() : square
  }
}
