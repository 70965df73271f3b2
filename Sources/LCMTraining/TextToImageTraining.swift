import DiffusionModels
import Foundation
import LCMPipeline
import Schedulers
import Torch
import TorchNN

/// The flags of diffusers' train_text_to_image.py that change the step's maths.
public struct TextToImageConfig: Sendable {
  /// --prediction_type: nil keeps the noise scheduler's.
  public var predictionType: PredictionType? = nil
  /// --snr_gamma: min-SNR loss weighting (Hang et al. 2023); nil is the plain MSE.
  public var snrGamma: Double? = nil
  public var noiseOffset = 0.0
  /// --use_ema: an EMA copy of the UNet (diffusers' EMAModel defaults) is what the run saves.
  public var useEMA = false
  public var emaMaxDecay = 0.9999
  /// A UNet config (config.json or its folder) to train from scratch instead of the pipeline's UNet.
  public var unetConfig: String? = nil
  public var autocast: DType? = nil

  public init() {}
}

/// The draws of one text-to-image step: noise ~ N(0, 1) like the latents, the offset noise
/// (B, C, 1, 1), timesteps ~ U{0..T-1}, in the script's order.
public struct TextToImageRandomness {
  public var noise: Tensor
  public var offsetNoise: Tensor?
  public var timesteps: Tensor
}

/// train_text_to_image.py's step as a `TrainingObjective`: the UNet predicts the noise (or v) of
/// DDPM-noised latents; MSE, or the min-SNR-weighted MSE with --snr_gamma; --noise_offset; and
/// with --use_ema, diffusers' EMAModel (decay min(0.9999, (1 + n) / (10 + n)) at its n-th update,
/// 0 at the first) over the UNet, which validation and the final pipeline use.
public final class TextToImageTraining: TrainingObjective {
  public let unet: UNet2DConditionModel
  public let ema: UNet2DConditionModel?
  public let noiseScheduler: DDPMScheduler
  public let config: TextToImageConfig
  /// The base pipeline: the final output is it with the trained UNet (nil: the UNet alone).
  public var basePipeline: DiffusersPipelineFolder?
  /// EMAModel.optimization_step: the EMA updates so far.
  public internal(set) var emaSteps = 0
  let alphasCumprod: Tensor

  public init(unet: UNet2DConditionModel, noiseScheduler: DDPMScheduler, config: TextToImageConfig) throws {
    (self.unet, self.noiseScheduler, self.config) = (unet, noiseScheduler, config)
    alphasCumprod = try noiseScheduler.alphasCumprodTensor.to(unet.store.device, .float32)
    unet.store.isTraining = true
    if config.useEMA {
      let store = ParameterStore(device: unet.store.device)
      let copy = try UNet2DConditionModel(config: unet.config, store: store)
      try store.load(Dictionary(uniqueKeysWithValues: unet.store.stateDict()), source: "unet")
      try store.setTrainable(false)
      ema = copy
    } else {
      ema = nil
    }
  }

  public var kind: String { "text_to_image" }
  public var trainableParameters: [Parameter] { unet.store.trainableParameters }
  public var trainingStore: ParameterStore { unet.store }
  public var usesUnconditional: Bool { false }
  public var predictionType: PredictionType { config.predictionType ?? noiseScheduler.config.predictionType }

  public func draw(latents: Tensor, generator: Generator, parallel: DataParallel? = nil) throws -> TextToImageRandomness {
    let shape = parallel?.global(latents.shape) ?? latents.shape
    var noise = try Tensor.randn(shape, dtype: latents.dtype, device: latents.device, generator: generator)
    var offset = config.noiseOffset != 0 ? try Tensor.randn([shape[0], shape[1], 1, 1], dtype: latents.dtype, device: latents.device, generator: generator) : nil
    var t = try Tensor.randint(0, noiseScheduler.config.numTrainTimesteps, [shape[0]], device: latents.device, generator: generator)
    if let parallel {
      (noise, t) = (try parallel.rows(noise), try parallel.rows(t))
      offset = try offset.map { try parallel.rows($0) }
    }
    return TextToImageRandomness(noise: noise, offsetNoise: offset, timesteps: t)
  }

  /// SNR(t) = ᾱ_t / (1 − ᾱ_t), as diffusers' training_utils.compute_snr.
  public func snr(_ timesteps: Tensor) throws -> Tensor {
    let a = try alphasCumprod.indexSelect(dim: 0, index: timesteps)
    return try a / (1.0 - a)
  }

  /// The step's loss (the UNet records gradients).
  public func loss(latents: Tensor, conditioning: Conditioning, randomness r: TextToImageRandomness) throws -> Tensor {
    var noise = r.noise
    if let offset = r.offsetNoise { noise = try noise + offset * config.noiseOffset }
    let noisy = try noiseScheduler.addNoise(originalSamples: latents, noise: noise, timesteps: r.timesteps)
    let target: Tensor
    switch predictionType {
    case .epsilon: target = noise
    case .vPrediction: target = try noiseScheduler.getVelocity(sample: latents, noise: noise, timesteps: r.timesteps)
    default: throw ConfigError("--prediction_type", "train_text_to_image supports epsilon and v_prediction, got \(predictionType)")
    }
    let forward = { () throws -> Tensor in
      try self.unet(noisy, timestep: r.timesteps, encoderHiddenStates: conditioning.promptEmbeds, addedConditions: conditioning.addedConditions)
    }
    let pred = try (config.autocast.map { dt in try Torch.autocast(latents.device.kind, dtype: dt, forward) } ?? forward()).to(.float32)
    guard let gamma = config.snrGamma else { return try F.mseLoss(pred, target.to(.float32)) }
    let snr = try snr(r.timesteps)
    var weights = try snr.clamp(max: gamma)  // min(snr, gamma)
    weights = predictionType == .epsilon ? try weights / snr : try weights / (snr + 1.0)
    let perSample = try F.mseLoss(pred, target.to(.float32), reduction: .none).mean(Array(1..<pred.shape.count))
    return try (perSample * weights).mean()
  }

  public func loss(latents: Tensor, conditioning: Conditioning, unconditional: Conditioning,
                   generator: Generator, hostGenerator: Generator, parallel: DataParallel?) throws -> Tensor {
    try loss(latents: latents, conditioning: conditioning, randomness: try draw(latents: latents, generator: generator, parallel: parallel))
  }

  /// EMAModel.get_decay for its n-th update (no warm-up, update_after_step 0, min_decay 0).
  public static func emaDecay(update n: Int, maxDecay: Double) -> Double {
    let step = n - 1
    guard step > 0 else { return 0 }
    return min(maxDecay, Double(1 + step) / Double(10 + step))
  }

  public func afterStep() throws {
    guard let ema else { return }
    emaSteps += 1
    try updateEMA(target: ema.store, source: unet.store, rate: Self.emaDecay(update: emaSteps, maxDecay: config.emaMaxDecay))
  }

  public func writeCheckpointModels(to dir: String) throws {
    try unet.save(folder: "\(dir)/unet")
    if let ema { try ema.save(folder: "\(dir)/unet_ema") }
    try JSONSerialization.data(withJSONObject: ["ema_steps": emaSteps]).write(to: URL(fileURLWithPath: "\(dir)/ema_state.json"))
  }

  public func loadCheckpointModels(from dir: String) throws {
    var models = [(unet.store, "unet")]
    if let ema { models.append((ema.store, "unet_ema")) }
    for (store, name) in models {
      try fileOperation("loading the checkpoint's \(name == "unet" ? "" : "EMA ")UNet from", "\(dir)/\(name)") {
        try store.load(safetensors: try ModelFiles.weights(in: "\(dir)/\(name)", base: "diffusion_pytorch_model"))
      }
    }
    let path = "\(dir)/ema_state.json"
    if let data = FileManager.default.contents(atPath: path) {
      guard let state = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let n = state["ema_steps"] as? Int, n >= 0 else {
        throw FileOperationError("reading the EMA state", path, "not a JSON object with ema_steps")
      }
      emaSteps = n
    }
  }

  /// `unet/` (the EMA weights with --use_ema, which the script copies into the UNet it saves)
  /// and the base pipeline's other components: a pipeline folder diffusers loads.
  public func saveFinal(to dir: String) throws -> [String] {
    let final = ema ?? unet
    try fileOperation("saving the trained UNet to", "\(dir)/unet") { try final.save(folder: "\(dir)/unet") }
    guard let basePipeline else { return ["\(dir)/unet"] }
    return try fileOperation("writing the pipeline's other components to", dir) { try PipelineExport.writeBesideUNet(base: basePipeline, in: dir) } + ["\(dir)/unet"]
  }

  /// The script's log_validation samples the EMA UNet (with --use_ema): here with DDIM, 20 steps, CFG 7.5.
  public var validation: ValidationSampling {
    ValidationSampling(unets: [(ema == nil ? "unet" : "ema", ema ?? unet)], scheduler: .ddim, steps: 20, guidanceScale: 7.5)
  }
}
