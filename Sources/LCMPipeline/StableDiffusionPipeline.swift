import CLIPTokenizer
import DiffusionModels
import Foundation
import Schedulers
import Torch
import TorchNN

/// A diffusers SD 1.x / 2.x pipeline folder driven the way diffusers' LatentConsistencyModelPipeline
/// (LCM UNets: guidance embedding, no CFG), StableDiffusionPipeline + LCMScheduler (LCM-LoRA)
/// and StableDiffusionPipeline + DDIMScheduler (the teacher) run it.
public final class StableDiffusionPipeline {
  public enum SchedulerKind: String, Sendable { case lcm, ddim }

  public let tokenizer: CLIPTokenizer
  public let textEncoder: CLIPTextModel
  public let unet: UNet2DConditionModel
  public let vae: AutoencoderKL
  public let folder: DiffusersPipelineFolder
  public let device: Device
  public let dtype: DType
  /// Messages diffusers would log (prompt truncation, scheduler notes).
  public private(set) var warnings: [String] = []
  /// SD: one CLIP encoder; SDXL (a `text_encoder_2` component): both, with pooled embeddings.
  let text: PipelineTextEncoder
  /// SDXL's second tokenizer and encoder.
  public let tokenizer2: CLIPTokenizer?
  public let textEncoder2: CLIPTextModel?

  /// `unetFolder`: a UNet used instead of the pipeline's own (a distilled `unet_target/` in its
  /// teacher's pipeline, as diffusers users swap it in).
  public init(
    _ idOrPath: String, revision: String? = nil, device: Device = .cpu, dtype: DType = .float32, variant: String? = nil,
    unetFolder: String? = nil
  ) throws {
    folder = try DiffusersPipelineFolder(idOrPath, revision: revision)
    tokenizer = try CLIPTokenizer(directory: try folder.component("tokenizer"))
    textEncoder = try CLIPTextModel.load(folder: try folder.component("text_encoder"), device: device, dtype: dtype, variant: variant)
    if folder.has("text_encoder_2") {
      let tokenizer2 = try CLIPTokenizer(directory: try folder.component("tokenizer_2"))
      let textEncoder2 = try CLIPTextModel.load(folder: try folder.component("text_encoder_2"), device: device, dtype: dtype, variant: variant)
      (self.tokenizer2, self.textEncoder2) = (tokenizer2, textEncoder2)
      text = SDXLPromptEncoder(
        tokenizers: [tokenizer, tokenizer2], encoders: [textEncoder, textEncoder2],
        forceZerosForEmptyPrompt: try folder.modelIndexValue("force_zeros_for_empty_prompt") as? Bool ?? true)
    } else {
      (tokenizer2, textEncoder2) = (nil, nil)
      text = CLIPPromptEncoder(tokenizer: tokenizer, textEncoder: textEncoder)
    }
    unet = try UNet2DConditionModel.load(folder: try unetFolder ?? folder.component("unet"), device: device, dtype: dtype, variant: unetFolder == nil ? variant : nil)
    vae = try AutoencoderKL.load(folder: try folder.component("vae"), device: device, dtype: dtype, variant: variant)
    // StableDiffusionXL(Img2Img)Pipeline: an fp16 VAE with force_upcast encodes and decodes in fp32
    if textEncoder2 != nil, dtype == .float16, vae.config.forceUpcast { try vae.store.to(device: device, dtype: .float32) }
    self.device = device
    self.dtype = dtype
  }

  /// A pipeline over models already in memory (a trainer's validation): `folder` supplies the
  /// scheduler config; `dtype` is the dtype inputs are cast to.
  public init(
    folder: DiffusersPipelineFolder, tokenizer: CLIPTokenizer, textEncoder: CLIPTextModel, unet: UNet2DConditionModel,
    vae: AutoencoderKL, device: Device, dtype: DType, tokenizer2: CLIPTokenizer? = nil, textEncoder2: CLIPTextModel? = nil
  ) throws {
    (self.folder, self.tokenizer, self.textEncoder, self.unet, self.vae) = (folder, tokenizer, textEncoder, unet, vae)
    (self.device, self.dtype) = (device, dtype)
    (self.tokenizer2, self.textEncoder2) = (tokenizer2, textEncoder2)
    if let tokenizer2, let textEncoder2 {
      text = SDXLPromptEncoder(
        tokenizers: [tokenizer, tokenizer2], encoders: [textEncoder, textEncoder2],
        forceZerosForEmptyPrompt: try folder.modelIndexValue("force_zeros_for_empty_prompt") as? Bool ?? true)
    } else {
      text = CLIPPromptEncoder(tokenizer: tokenizer, textEncoder: textEncoder)
    }
  }

  public var vaeScaleFactor: Int { 1 << (vae.config.blockOutChannels.count - 1) }

  /// An SDXL pipeline (a second text encoder): StableDiffusionXL(Img2Img)Pipeline's rules.
  public var isSDXL: Bool { textEncoder2 != nil }

  /// The dtype the VAE runs in: fp32 for SDXL's force_upcast in fp16, else the pipeline's.
  var vaeDType: DType { isSDXL && dtype == .float16 && vae.config.forceUpcast ? .float32 : dtype }

  /// The encoder hidden states for each prompt (diffusers' encode_prompt, clip_skip None).
  public func encodePrompt(_ prompts: [String]) throws -> Tensor {
    try text.encode(prompts, warnings: &warnings).hidden
  }

  public struct Options {
    public var prompts: [String]
    public var negativePrompts: [String]? = nil
    public var height: Int? = nil
    public var width: Int? = nil
    public var numInferenceSteps = 4
    public var originalInferenceSteps: Int? = nil
    public var guidanceScale = 8.0
    public var numImagesPerPrompt = 1
    public var seed: UInt64 = 0
    public var scheduler: SchedulerKind = .lcm
    /// img2img: an image [1, 3, H, W] in [-1, 1] and the strength.
    public var initImage: Tensor? = nil
    public var strength = 0.8

    public init(prompts: [String]) { self.prompts = prompts }
  }

  /// Generates images; returns [N, 3, H, W] in [0, 1] (N = prompts × images per prompt).
  public func callAsFunction(_ o: Options) throws -> Tensor {
    try Torch.noGrad { try generate(o) }
  }

  func generate(_ o: Options) throws -> Tensor {
    guard !o.prompts.isEmpty else { throw ConfigError("--prompt", "at least one prompt is needed") }
    let factor = vaeScaleFactor
    let defaultSize = (unet.config.sampleSize ?? 64) * factor
    var height = o.height ?? defaultSize, width = o.width ?? defaultSize
    if let image = o.initImage, o.height == nil, o.width == nil { (height, width) = (image.size(2), image.size(3)) }
    guard height % 8 == 0, width % 8 == 0 else {
      throw ConfigError("--height/--width", "must be multiples of 8, got \(height)×\(width)")
    }
    let n = o.prompts.count * o.numImagesPerPrompt
    // a CPU generator, as diffusers' torch.Generator("cpu").manual_seed(seed)
    let generator = try Generator(seed: o.seed)
    let encoded = try text.encode(o.prompts, warnings: &warnings)
    var prompt = try encoded.hidden.repeatInterleave(o.numImagesPerPrompt, dim: 0)
    var pooled = try encoded.pooled?.repeatInterleave(o.numImagesPerPrompt, dim: 0)
    let lcmUNet = unet.config.timeCondProjDim != nil
    let cfg = !lcmUNet && o.guidanceScale > 1
    if cfg {
      var uncond: (hidden: Tensor, pooled: Tensor?)
      if o.negativePrompts == nil, let zeros = try text.defaultNegative(like: prompt, pooled: pooled) {
        uncond = zeros
      } else {
        let negative = o.negativePrompts ?? Array(repeating: "", count: o.prompts.count)
        guard negative.count == o.prompts.count else {
          throw ConfigError("--negative_prompt", "give one negative prompt, or one per prompt (\(o.prompts.count))")
        }
        let e = try text.encode(negative, warnings: &warnings)
        uncond = (try e.hidden.repeatInterleave(o.numImagesPerPrompt, dim: 0), try e.pooled?.repeatInterleave(o.numImagesPerPrompt, dim: 0))
      }
      prompt = try Tensor.cat([uncond.hidden, prompt], dim: 0)
      if let p = pooled, let u = uncond.pooled { pooled = try Tensor.cat([u, p], dim: 0) }
    }
    // SDXL's micro-conditioning: original size, crop top-left, target size ((H, W), (0, 0), (H, W))
    let added = try pooled.map { p in
      let ids = try Tensor([Float(height), Float(width), 0, 0, Float(height), Float(width)], shape: [1, 6])
      return UNet2DConditionModel.AddedConditions(
        textEmbeds: p, timeIds: try ids.expand([p.size(0), 6]).contiguous().to(p.device, p.dtype))
    }
    let timestepCond = try unet.config.timeCondProjDim.map { dim in
      try guidanceScaleEmbedding(w: Tensor.full([n], o.guidanceScale - 1), embeddingDim: dim).to(device, dtype)
    }

    let schedulerFolder = try folder.component("scheduler")
    do {
      return try denoise(o, n: n, height: height, width: width, generator: generator, prompt: prompt, added: added, cfg: cfg,
                         lcmUNet: lcmUNet, timestepCond: timestepCond, schedulerFolder: schedulerFolder)
    } catch let error as SchedulerError {
      // the schedule's limits come from its config: name it beside the problem
      throw ConfigError("\(schedulerFolder)/scheduler_config.json", error.message)
    }
  }

  func denoise(
    _ o: Options, n: Int, height: Int, width: Int, generator: Generator, prompt: Tensor,
    added: UNet2DConditionModel.AddedConditions?, cfg: Bool, lcmUNet: Bool, timestepCond: Tensor?, schedulerFolder: String
  ) throws -> Tensor {
    var latents: Tensor
    var timesteps: [Int]
    var stepFn: (Tensor, Int, Tensor) throws -> (prev: Tensor, denoised: Tensor)
    switch o.scheduler {
    case .lcm:
      let s = try LCMScheduler(config: LCMSchedulerConfig(reader: .schedulerConfig(path: "\(schedulerFolder)/scheduler_config.json")))
      if o.initImage != nil && (!lcmUNet || isSDXL) {
        // a base UNet (LCM-LoRA) runs in StableDiffusionImg2ImgPipeline + LCMScheduler, and any
        // SDXL UNet in StableDiffusionXLImg2ImgPipeline (diffusers has no LCM SDXL img2img): the
        // full schedule, its last int(steps × strength) steps (4 at 0.5: [499, 259]), begin index set
        try s.setTimesteps(numInferenceSteps: o.numInferenceSteps, originalInferenceSteps: o.originalInferenceSteps)
        let initTimestep = min(Int(Double(o.numInferenceSteps) * o.strength), o.numInferenceSteps)
        let start = max(o.numInferenceSteps - initTimestep, 0)
        guard start < s.timesteps.count else {
          throw ConfigError("--strength", "\(o.strength) × \(o.numInferenceSteps) steps leaves no step to run (diffusers raises too); raise --strength or --num_inference_steps")
        }
        s.setBeginIndex(start)
        timesteps = Array(s.timesteps[start...])
      } else {
        // LatentConsistencyModelImg2ImgPipeline: the schedule itself is drawn from the strength-cut grid
        try s.setTimesteps(numInferenceSteps: o.numInferenceSteps, originalInferenceSteps: o.originalInferenceSteps,
                           strength: o.initImage == nil ? 1 : o.strength)
        timesteps = s.timesteps
      }
      warnings += s.warnings
      stepFn = { out, t, x in
        let r = try s.step(modelOutput: out, timestep: t, sample: x, generator: generator)
        return (r.prevSample, r.denoised)
      }
      latents = try prepareLatents(o, n: n, height: height, width: width, timesteps: timesteps, generator: generator) {
        try s.addNoise(originalSamples: $0, noise: $1, timesteps: $2)
      }
    case .ddim:
      guard o.initImage == nil else { throw ConfigError("--scheduler", "ddim supports text-to-image only") }
      let s = try DDIMScheduler(config: DDIMSchedulerConfig(reader: .schedulerConfig(path: "\(schedulerFolder)/scheduler_config.json")))
      try s.setTimesteps(o.numInferenceSteps)
      timesteps = s.timesteps
      stepFn = { out, t, x in
        let r = try s.step(modelOutput: out, timestep: t, sample: x)
        return (r.prevSample, r.prevSample)
      }
      latents = try prepareLatents(o, n: n, height: height, width: width, timesteps: timesteps, generator: generator, addNoise: nil)
    }

    var denoised = latents
    for t in timesteps {
      let input = cfg ? try Tensor.cat([latents, latents], dim: 0) : latents
      let tt = try Tensor.full([input.size(0)], Double(t), dtype: .int64, device: device)
      var out = try unet(input.to(dtype), timestep: tt, encoderHiddenStates: prompt, timestepCond: timestepCond, addedConditions: added)
      if cfg {
        let parts = try out.chunk(2, dim: 0)
        out = try parts[0] + (parts[1] - parts[0]) * o.guidanceScale
      }
      (latents, denoised) = try stepFn(out, t, latents)
    }
    let image = try vae.decode((denoised.to(vaeDType) / vae.config.scalingFactor))
    return try (image.to(.float32) / 2.0 + 0.5).clamp(min: 0, max: 1)
  }

  /// Initial latents: noise drawn from the generator (text-to-image), or the init image's
  /// posterior sample scaled and noised to the first timestep (img2img), as diffusers draws them.
  func prepareLatents(
    _ o: Options, n: Int, height: Int, width: Int, timesteps: [Int], generator: Generator,
    addNoise: ((Tensor, Tensor, Tensor) throws -> Tensor)?
  ) throws -> Tensor {
    let shape = [n, unet.config.inChannels, height / vaeScaleFactor, width / vaeScaleFactor]
    guard let image = o.initImage, let addNoise else {
      return try Tensor.randn(shape, generator: generator).to(device, dtype)
    }
    var initLatents = try vae.encode(image.to(device, vaeDType)).sample(generator: generator).to(dtype) * vae.config.scalingFactor
    if initLatents.size(0) < n { initLatents = try initLatents.repeat([n / initLatents.size(0), 1, 1, 1]) }
    let noise = try Tensor.randn(initLatents.shape, generator: generator).to(device, dtype)
    let t = try Tensor.full([n], Double(timesteps[0]), dtype: .int64, device: device)
    return try addNoise(initLatents, noise, t)
  }
}
