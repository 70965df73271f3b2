import CLIPTokenizer
import DiffusionModels
import Torch

/// Where a step's latents come from: the VAE on the fly now (cached latents later).
public protocol LatentSource: AnyObject {
  /// The batch's latents (scaled, in the run's dtype), drawing the posterior sample from `generator`.
  /// `parallel`: the posterior's noise drawn for the global batch, this rank's rows kept.
  func latents(_ batch: TrainingBatch, generator: Generator, parallel: DataParallel?) throws -> Tensor
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

  public func latents(_ batch: TrainingBatch, generator: Generator, parallel: DataParallel? = nil) throws -> Tensor {
    let b = batch.captions.count, r = batch.resolution
    let pixels = try Tensor(batch.pixels, shape: [b, 3, r, r], device: device).to(vae.store.dtype)
    return try Torch.noGrad {
      let posterior = try vae.encode(pixels, sliceSize: sliceSize)
      guard let parallel else { return try (posterior.sample(generator: generator) * vae.config.scalingFactor).to(dtype) }
      // DiagonalGaussian.sample with the global batch's ε
      let mean = posterior.mean
      let eps = try parallel.rows(Tensor.randn(parallel.global(mean.shape), dtype: mean.dtype, device: mean.device, generator: generator))
      return try ((mean + posterior.std * eps) * vae.config.scalingFactor).to(dtype)
    }
  }
}

/// What the UNets are conditioned on for a batch's captions, and the teacher's unconditional
/// input. SD: CLIP's last hidden state of the prompt and of ""; SDXL adds its pooled embeddings
/// and time ids in its own source.
public protocol ConditioningSource: AnyObject {
  /// The captions' conditioning (the batch supplies SDXL's sizes and crops).
  func conditioning(_ captions: [String], batch: TrainingBatch) throws -> Conditioning
  /// The teacher's unconditional input for a batch conditioned so.
  func unconditional(like conditioning: Conditioning) throws -> Conditioning
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

  public func conditioning(_ captions: [String], batch: TrainingBatch) throws -> Conditioning {
    try encode(captions)
  }

  func encode(_ captions: [String]) throws -> Conditioning {
    Conditioning(promptEmbeds: try Torch.noGrad { try textEncoder.encode(captions, tokenizer: tokenizer).embeddings })
  }

  public func unconditional(like conditioning: Conditioning) throws -> Conditioning {
    let batchSize = conditioning.promptEmbeds.size(0)
    if let (n, c) = unconditionalCache, n == batchSize { return c }
    let c = try encode(Array(repeating: "", count: batchSize))
    unconditionalCache = (batchSize, c)
    return c
  }
}

/// SDXL (S3/S4): both encoders' penultimate hidden states concatenated, the second's pooled
/// projection, and time_ids = original size + crop top-left + target size per sample — the size
/// in (height, width) order, as the SDXL pipelines read it (S3/S4 pass (width, height), §7.2).
/// The unconditional input is zero prompt and pooled embeddings with the same time_ids.
public final class SDXLConditioning: ConditioningSource {
  let tokenizers: [CLIPTokenizer]
  let encoders: [CLIPTextModel]
  let device: Device
  /// --use_fix_crop_and_size: (R, R, 0, 0, R, R) for every sample.
  let fixCropAndSize: Bool

  public init(tokenizers: [CLIPTokenizer], encoders: [CLIPTextModel], device: Device, fixCropAndSize: Bool = false) {
    (self.tokenizers, self.encoders, self.device, self.fixCropAndSize) = (tokenizers, encoders, device, fixCropAndSize)
  }

  public func conditioning(_ captions: [String], batch: TrainingBatch) throws -> Conditioning {
    try Torch.noGrad {
      let (prompt, pooled, _) = try SDXLPromptEncoding.encode(captions, tokenizers: tokenizers, encoders: encoders)
      let r = Float(batch.resolution)
      var ids: [Float] = []
      for i in 0..<captions.count {
        let full = (height: batch.resolution, width: batch.resolution)
        let size = !fixCropAndSize && i < batch.originalSizes.count ? batch.originalSizes[i] : full
        let crop = !fixCropAndSize && i < batch.cropTopLefts.count ? batch.cropTopLefts[i] : (top: 0, left: 0)
        ids += [Float(size.height), Float(size.width), Float(crop.top), Float(crop.left), r, r]
      }
      let timeIds = try Tensor(ids, shape: [captions.count, 6], device: device).to(prompt.dtype)
      return Conditioning(promptEmbeds: prompt, addedConditions: .init(textEmbeds: pooled, timeIds: timeIds))
    }
  }

  public func unconditional(like c: Conditioning) throws -> Conditioning {
    Conditioning(
      promptEmbeds: try c.promptEmbeds.zerosLike(),
      addedConditions: try c.addedConditions.map { .init(textEmbeds: try $0.textEmbeds.zerosLike(), timeIds: $0.timeIds) })
  }
}
