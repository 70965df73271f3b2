import CLIPTokenizer
import DiffusionModels
import Torch

/// Where a step's latents come from: the VAE on the fly now (cached latents later).
public protocol LatentSource: AnyObject {
  /// The batch's latents (scaled, in the run's dtype), drawing the posterior sample from `generator`.
  func latents(_ batch: TrainingBatch, generator: Generator) throws -> Tensor
}

/// The scripts' way: encode the pixels with the VAE (slices of `sliceSize`), sample the
/// posterior, scale by the VAE's scaling factor, cast to the run's dtype.
public final class VAELatents: LatentSource {
  public let vae: AutoencoderKL
  let device: Device
  let sliceSize: Int
  let dtype: DType

  public init(vae: AutoencoderKL, device: Device, sliceSize: Int, dtype: DType) {
    (self.vae, self.device, self.sliceSize, self.dtype) = (vae, device, sliceSize, dtype)
  }

  public func latents(_ batch: TrainingBatch, generator: Generator) throws -> Tensor {
    let b = batch.captions.count, r = batch.resolution
    let pixels = try Tensor(batch.pixels, shape: [b, 3, r, r], device: device).to(vae.store.dtype)
    return try Torch.noGrad {
      let posterior = try vae.encode(pixels, sliceSize: sliceSize)
      return try (posterior.sample(generator: generator) * vae.config.scalingFactor).to(dtype)
    }
  }
}

/// What the UNets are conditioned on for a batch's captions, and the teacher's unconditional
/// input. SD: CLIP's last hidden state of the prompt and of ""; SDXL adds its pooled embeddings
/// and time ids in its own source.
public protocol ConditioningSource: AnyObject {
  func conditioning(_ captions: [String]) throws -> Conditioning
  func unconditional(batchSize: Int) throws -> Conditioning
}

/// SD 1.x / 2.x: the text encoder's last hidden state (no grad), as the script's encode_prompt;
/// the empty prompt's is computed once per batch size.
public final class CLIPConditioning: ConditioningSource {
  public let tokenizer: CLIPTokenizer
  public let textEncoder: CLIPTextModel
  var unconditionalCache: (Int, Conditioning)?

  public init(tokenizer: CLIPTokenizer, textEncoder: CLIPTextModel) {
    (self.tokenizer, self.textEncoder) = (tokenizer, textEncoder)
  }

  public func conditioning(_ captions: [String]) throws -> Conditioning {
    Conditioning(promptEmbeds: try Torch.noGrad { try textEncoder.encode(captions, tokenizer: tokenizer).embeddings })
  }

  public func unconditional(batchSize: Int) throws -> Conditioning {
    if let (n, c) = unconditionalCache, n == batchSize { return c }
    let c = try conditioning(Array(repeating: "", count: batchSize))
    unconditionalCache = (batchSize, c)
    return c
  }
}
