import CLIPTokenizer
import DiffusionModels
import Foundation
import Logging
import SafeTensors
import Schedulers
import Torch
import TorchNN

/// Settings of a full-UNet distillation run (the script's flags that this trainer implements).
public struct LCDTrainingConfig: Sendable {
  public var teacher: String
  public var revision: String?
  public var outputDir = "lcm-model"
  public var seed: UInt64 = 0
  public var device: Device = .cpu
  public var maxTrainSteps = 1000
  public var learningRate = 1e-4
  public var adamBeta1 = 0.9, adamBeta2 = 0.999, adamWeightDecay = 1e-2, adamEpsilon = 1e-8
  public var maxGradNorm = 1.0
  public var lrScheduler = "constant"
  public var lrWarmupSteps = 500
  public var unetTimeCondProjDim = 256
  public var vaeEncodeBatchSize = 32
  public var gradientCheckpointing = false
  /// Micro-batches per optimizer step; the loss is divided by it (as accelerate's backward).
  public var gradientAccumulationSteps = 1
  /// Captions replaced by "" with this probability (the flag S1/S2 accept but ignore; honoured here).
  public var proportionEmptyPrompts = 0.0
  /// --mixed_precision fp16|bf16 (nil: fp32). The text encoder runs in it; the student's and the
  /// target's weights stay fp32 under autocast; fp16 adds dynamic loss scaling.
  public var mixedPrecision: TensorDType? = nil
  /// --cast_teacher_unet: the teacher's weights in the mixed-precision dtype (else fp32).
  public var castTeacherUNet = false
  /// --pretrained_vae_model_name_or_path: a VAE folder used instead of the teacher's, in the
  /// mixed-precision dtype; the teacher's own VAE stays fp32.
  public var vaePath: String? = nil
  /// --use_8bit_adam: bitsandbytes' AdamW8bit algorithm (8-bit block-wise moments) instead of AdamW.
  public var use8bitAdam = false
  /// SDXL's --use_fix_crop_and_size: time_ids (R, R, 0, 0, R, R) for every sample.
  public var useFixCropAndSize = false
  /// LoRA distillation (S2) with these settings; nil: the full UNet (S1).
  public var lora: LoRASettings? = nil
  public var lcd = LCDConfig()
  /// Set: train the pipeline's UNet with train_text_to_image.py's step instead of distilling it.
  public var textToImage: TextToImageConfig? = nil
  /// Data-parallel training (a c10d process group of WORLD_SIZE ranks); nil: one process.
  public var parallel: DataParallel? = nil
  public init(teacher: String) { self.teacher = teacher }
}

/// One batch of training data as host buffers: B × 3 × R × R pixels in [-1, 1] and captions.
public struct TrainingBatch: Sendable {
  public var pixels: [Float]
  public var resolution: Int
  public var captions: [String]
  /// Per sample, before the transform: (height, width); and the crop's (top, left) — SDXL's
  /// micro-conditioning. Empty: the image was exactly resolution² with no crop.
  public var originalSizes: [(height: Int, width: Int)] = []
  public var cropTopLefts: [(top: Int, left: Int)] = []
  public init(pixels: [Float], resolution: Int, captions: [String]) {
    self.pixels = pixels
    self.resolution = resolution
    self.captions = captions
  }
}

/// The loop of train_lcm_distill_sd_wds.py for one process: frozen teacher, VAE and text encoder;
/// student = teacher config + time_cond_proj_dim; EMA target; AdamW, clipping, LR schedule.
public final class LCDTrainer {
  public let config: LCDTrainingConfig
  public let tokenizer: CLIPTokenizer
  public let textEncoder: CLIPTextModel
  /// SDXL teachers' second tokenizer and text encoder (with projection).
  public let tokenizer2: CLIPTokenizer?
  public let textEncoder2: CLIPTextModel?
  public let vae: AutoencoderKL
  /// What the loop optimises.
  public let objective: any TrainingObjective
  /// The objective when it is latent consistency distillation.
  public var lcd: LatentConsistencyDistillation? { objective as? LatentConsistencyDistillation }
  public let optimizer: any Optimizer
  public let schedule: LRSchedule
  public private(set) var globalStep = 0
  /// Optimizer steps taken (global steps minus fp16 skips): the LR schedule's position.
  public private(set) var stepsTaken = 0
  let logger: Logger
  /// Draws on the training device (VAE posterior sample, solver indices, noise, cond_proj init).
  public let generator: Generator
  /// Draws on the CPU (w, empty-prompt drops); the same generator when training on the CPU.
  public let hostGenerator: Generator
  /// fp16 runs: dynamic loss scaling (torch.amp.GradScaler defaults).
  public internal(set) var scaler: GradScaler?
  public let pipelineFolder: DiffusersPipelineFolder
  /// The step's inputs: latents of the pixels, conditioning of the captions.
  public let latentSource: LatentSource
  public let conditioningSource: ConditioningSource
  /// Data-parallel runs: c10d's Reducer averages the trainable gradients over the ranks.
  let reducer: GradientReducer?
  /// The dtype of latents, text embeddings and the mixed-precision UNet compute.
  public var weightDType: TensorDType { config.mixedPrecision ?? .float32 }

  public init(config c: LCDTrainingConfig, logger: Logger) throws {
    config = c
    self.logger = logger
    let generator = try Generator(device: c.device, seed: c.seed)
    self.generator = generator
    hostGenerator = c.device.kind == .cpu ? generator : try Generator(seed: c.seed &+ 1)
    let pipe = try DiffusersPipelineFolder(c.teacher, revision: c.revision)
    pipelineFolder = pipe
    let wd = c.mixedPrecision ?? .float32
    // each failure names the component as well as its file
    func load<T>(_ what: String, _ component: String, _ body: (String) throws -> T) throws -> T {
      let folder = try pipe.component(component)
      return try fileOperation("loading the teacher's \(what) from", folder) { try body(folder) }
    }
    tokenizer = try load("tokenizer", "tokenizer") { try CLIPTokenizer(directory: $0) }
    textEncoder = try load("text encoder", "text_encoder") { try CLIPTextModel.load(folder: $0, device: c.device, dtype: wd) }
    if pipe.has("text_encoder_2") {
      tokenizer2 = try load("second tokenizer", "tokenizer_2") { try CLIPTokenizer(directory: $0) }
      textEncoder2 = try load("second text encoder", "text_encoder_2") { try CLIPTextModel.load(folder: $0, device: c.device, dtype: wd) }
      try textEncoder2!.store.setTrainable(false)
    } else {
      (tokenizer2, textEncoder2) = (nil, nil)
    }
    if let vaePath = c.vaePath {
      vae = try fileOperation("loading the VAE (--pretrained_vae_model_name_or_path) from", vaePath) {
        try AutoencoderKL.load(folder: try ModelLocator.resolve(vaePath, revision: c.revision), device: c.device, dtype: wd)
      }
    } else {
      vae = try load("VAE", "vae") { try AutoencoderKL.load(folder: $0, device: c.device) }
    }
    let teacher: UNet2DConditionModel
    if let config = c.textToImage?.unetConfig {
      // from scratch: torch's default initialisations, drawn after seeding as torch.manual_seed
      let path = config.hasSuffix(".json") ? config : "\(config)/config.json"
      let unetConfig = try UNet2DConditionConfig(path: path)
      try Torch.manualSeed(c.seed)
      teacher = try UNet2DConditionModel(config: unetConfig, store: ParameterStore(device: c.device))
    } else {
      teacher = try load("UNet", "unet") { try UNet2DConditionModel.load(folder: $0, device: c.device, dtype: c.castTeacherUNet ? wd : .float32) }
    }
    for store in [textEncoder.store, vae.store, teacher.store] { try store.setTrainable(false) }
    let scheduler = try DDPMScheduler(config: DDPMSchedulerConfig(path: "\(try pipe.component("scheduler"))/scheduler_config.json"))

    if var t2i = c.textToImage {
      // the pipeline's UNet trains (fp32 weights, autocast in the mixed-precision dtype)
      try teacher.store.setTrainable(true)
      teacher.gradientCheckpointing = c.gradientCheckpointing
      t2i.autocast = c.mixedPrecision
      let training = try TextToImageTraining(unet: teacher, noiseScheduler: scheduler, config: t2i)
      training.basePipeline = pipe
      objective = training
    } else {
      let method: DistillationMethod
      if let lora = c.lora {
        // one UNet: the teacher's weights are the LoRA's base, the teacher is it with adapters off
        teacher.gradientCheckpointing = c.gradientCheckpointing
        method = try LoRADistillation(unet: teacher, settings: lora, generator: generator, baseModel: c.teacher)
      } else {
        method = try FullUNetDistillation(
          teacher: teacher, timeCondProjDim: c.unetTimeCondProjDim, gradientCheckpointing: c.gradientCheckpointing, generator: generator)
      }
      var lcdConfig = c.lcd
      lcdConfig.autocast = c.mixedPrecision
      objective = try LatentConsistencyDistillation(method: method, noiseScheduler: scheduler, config: lcdConfig, device: c.device)
    }
    let params = objective.trainableParameters, betas = (c.adamBeta1, c.adamBeta2)
    optimizer = c.use8bitAdam
      ? try AdamW8bit(params, lr: c.learningRate, betas: betas, eps: c.adamEpsilon, weightDecay: c.adamWeightDecay)
      : try AdamW(params, lr: c.learningRate, betas: betas, eps: c.adamEpsilon, weightDecay: c.adamWeightDecay, fused: c.device.kind == .cuda)
    schedule = try LRSchedule(name: c.lrScheduler, warmupSteps: c.lrWarmupSteps, trainingSteps: c.maxTrainSteps, baseLR: c.learningRate)
    try optimizer.setLR(try schedule.learningRate(step: 0))
    scaler = c.mixedPrecision == .float16 ? GradScaler() : nil
    if let parallel = c.parallel {
      // rank 0's starting weights everywhere (they are equal already: same files, same seed)
      for p in params { try Torch.noGrad { try parallel.group.broadcast(p.tensor, root: 0) } }
      reducer = try GradientReducer(group: parallel.group, parameters: params.map(\.tensor))
    } else {
      reducer = nil
    }
    latentSource = VAELatents(vae: vae, device: c.device, sliceSize: c.vaeEncodeBatchSize, dtype: wd)
    if let tokenizer2, let textEncoder2 {
      conditioningSource = SDXLConditioning(
        tokenizers: [tokenizer, tokenizer2], encoders: [textEncoder, textEncoder2], device: c.device, fixCropAndSize: c.useFixCropAndSize)
    } else {
      conditioningSource = CLIPConditioning(tokenizer: tokenizer, textEncoder: textEncoder)
    }
  }

  public struct StepResult: Sendable {
    public let step: Int
    public let loss: Double
    public let gradNorm: Double
    public let lr: Double
    /// fp16: the step was skipped (inf/NaN gradients) and the loss scale backed off.
    public let skipped: Bool
    public let lossScale: Double?
  }

  /// One optimizer step on one batch (gradient_accumulation_steps 1).
  public func step(_ batch: TrainingBatch) throws -> StepResult { try step([batch]) }

  /// One optimizer step over micro-batches: each micro-batch's loss / count is backpropagated, then
  /// clipping, AdamW, the LR schedule and the EMA update run once (accelerate's sync step).
  /// The reported loss is the last micro-batch's, as the script logs it.
  public func step(_ batches: [TrainingBatch]) throws -> StepResult {
    var lastLoss: Tensor?
    // data-parallel: the gradients are reduced in the last micro-batch's backward (DDP's no_sync before)
    for (i, batch) in batches.enumerated() {
      lastLoss = try backward(batch, scale: 1 / Double(batches.count), sync: i == batches.count - 1)
    }
    let params = objective.trainableParameters.map(\.tensor)
    let lossScale = scaler?.scale
    // as accelerate: unscale before clipping; a step with inf/NaN gradients is skipped and does
    // not advance the LR schedule, but still counts as a step (EMA, global step)
    var foundInf = try scaler?.unscale(params) ?? false
    // every rank skips the step when any found inf/NaN
    if let parallel = config.parallel, scaler != nil { foundInf = try parallel.any(foundInf) }
    let normTensor = try clipGradNorm_(params, maxNorm: config.maxGradNorm)
    // one host sync per step, once backward and clipping are queued
    let values = try Tensor.stack([lastLoss!.to(.float64), normTensor.to(.float64)]).toArray(Double.self)
    var (loss, norm) = (values[0], values[1])
    // the logged loss is the global batch's (the ranks' mean)
    if let parallel = config.parallel { loss = try parallel.mean(loss) }
    // fp16: a non-finite loss gives non-finite gradients and the scaler skips the step
    guard loss.isFinite || scaler != nil else {
      throw ConfigError("step \(globalStep + 1)", "the loss is \(loss) (not finite); lower --learning_rate or check the data")
    }
    let lr = optimizer.lr
    if !foundInf {
      try optimizer.step()
      stepsTaken += 1
      try optimizer.setLR(try schedule.learningRate(step: stepsTaken))
    }
    scaler?.update(foundInf: foundInf)
    globalStep += 1
    try optimizer.zeroGrad()
    try objective.afterStep()
    return StepResult(step: globalStep, loss: loss, gradNorm: norm, lr: lr, skipped: foundInf, lossScale: lossScale)
  }

  /// Forward and backward of one micro-batch; returns its (unscaled) loss, still on the device.
  func backward(_ batch: TrainingBatch, scale: Double, sync: Bool = true) throws -> Tensor {
    // the scripts' draw order: the VAE posterior sample, the caption drops, then the step's draws
    let parallel = config.parallel
    let latents = try latentSource.latents(batch, generator: generator, parallel: parallel)
    let conditioning = try conditioningSource.conditioning(try dropCaptions(batch.captions), batch: batch)
    let unconditional = objective.usesUnconditional ? try conditioningSource.unconditional(like: conditioning) : conditioning
    let loss = try objective.loss(
      latents: latents, conditioning: conditioning, unconditional: unconditional, generator: generator, hostGenerator: hostGenerator, parallel: parallel)
    var scaled = scale == 1 ? loss : try loss * scale
    if let scaler { scaled = try scaler.scaled(scaled) }
    if sync, let reducer { try reducer.prepare(loss: scaled) }
    try scaled.backward()
    return try loss.detach()
  }

  /// --proportion_empty_prompts: each caption becomes "" with that probability (seeded draws).
  func dropCaptions(_ captions: [String]) throws -> [String] {
    guard config.proportionEmptyPrompts > 0 else { return captions }
    let n = captions.count * (config.parallel?.worldSize ?? 1)
    var u = try Tensor.rand([n], dtype: .float64, generator: hostGenerator).toArray(Double.self)
    if let parallel = config.parallel { u = parallel.rows(u) }
    return zip(captions, u).map { $1 < config.proportionEmptyPrompts ? "" : $0 }
  }

  /// Writes `unet/` (the online student) and `unet_target/` (the EMA target) in diffusers layout.
  public func save(to dir: String) throws {
    _ = try objective.saveFinal(to: dir)
  }
}

// MARK: checkpoints

extension LCDTrainer {
  /// Writes a checkpoint's files into `dir` (OutputFolder.writeCheckpoint makes it appear
  /// complete or not at all): student `unet/`, EMA `unet_target/`, optimizer and generator
  /// states, the step, and the caller's data position.
  public func writeCheckpointFiles(to dir: String, dataPosition: Data?, otherPositions: [Data] = []) throws {
    try objective.writeCheckpointModels(to: dir)
    try writeSafeTensors(try optimizer.stateDict(), to: "\(dir)/optimizer.safetensors")
    try writeSafeTensors(
      [("generator", try generator.state()), ("host_generator", try hostGenerator.state())], to: "\(dir)/random_states.safetensors")
    var state: [String: Any] = [
      "global_step": globalStep, "optimizer_steps": stepsTaken, "lr": optimizer.lr, "optimizer": optimizer.kind, "method": methodKind,
      "world_size": config.parallel?.worldSize ?? 1,
    ]
    if let scaler { state["scaler"] = scaler.state }
    try JSONSerialization.data(withJSONObject: state, options: [.sortedKeys]).write(to: URL(fileURLWithPath: "\(dir)/trainer_state.json"))
    if let dataPosition { try dataPosition.write(to: URL(fileURLWithPath: "\(dir)/data_position.json")) }
    // data-parallel: ranks 1... each have their own position in the stream
    for (i, p) in otherPositions.enumerated() { try p.write(to: URL(fileURLWithPath: "\(dir)/\(DataParallel.positionFile(rank: i + 1))")) }
  }

  /// Writes `checkpoint-<step>/` in `folder`; returns its path.
  public func saveCheckpoint(in folder: OutputFolder, dataPosition: Data?, otherPositions: [Data] = []) throws -> String {
    try folder.writeCheckpoint(step: globalStep) { try writeCheckpointFiles(to: $0, dataPosition: dataPosition, otherPositions: otherPositions) }
  }

  /// Restores a checkpoint written by saveCheckpoint; returns its data position, if it has one.
  /// Each failure names the file and what was being read.
  public func loadCheckpoint(_ dir: String) throws -> Data? {
    if Self.isUpstreamCheckpoint(dir) {
      try loadUNets(from: dir)
      guard let step = Self.checkpointStep(dir) else {
        throw FileOperationError("resuming", dir, "an upstream checkpoint is named checkpoint-<step>; its step cannot be read from the name")
      }
      // as the script: global_step from the folder name; the LR schedule resumes at that step
      (globalStep, stepsTaken) = (step, step)
      try optimizer.setLR(try schedule.learningRate(step: stepsTaken))
      return nil
    }
    let statePath = "\(dir)/trainer_state.json"
    guard let data = FileManager.default.contents(atPath: statePath) else {
      throw FileOperationError("reading the trainer state", statePath, "missing or unreadable")
    }
    guard let state = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any], let step = state["global_step"] as? Int, step >= 0 else {
      throw FileOperationError("reading the trainer state", statePath, "not a JSON object with a global_step (truncated or corrupt)")
    }
    let method = state["method"] as? String ?? "full_unet"
    guard method == methodKind else {
      let names = ["lora": "LoRA (lcm distill-lora)", "full_unet": "full-UNet (lcm distill)", "text_to_image": "text-to-image (lcm train-text-to-image)"]
      let runs = ["lora": "LoRA distillation", "full_unet": "full-UNet distillation", "text_to_image": "text-to-image training"]
      throw FileOperationError("resuming", dir, "it is a \(names[method] ?? method) checkpoint; this run is \(runs[methodKind] ?? methodKind)")
    }
    let world = state["world_size"] as? Int ?? 1, now = config.parallel?.worldSize ?? 1
    guard world == now else {
      throw FileOperationError("resuming", dir, "it was written by \(world) process(es); this run has \(now): resume with WORLD_SIZE=\(world) (each rank's data position is in the checkpoint)")
    }
    let kind = state["optimizer"] as? String ?? "adamw"
    guard kind == optimizer.kind else {
      let flag = { (k: String) in k == "adamw8bit" ? "with --use_8bit_adam" : "without --use_8bit_adam" }
      throw FileOperationError(
        "resuming", dir, "its optimizer state is \(kind) (a run \(flag(kind))); this run uses \(optimizer.kind): give the same optimizer flags")
    }
    try loadUNets(from: dir)
    let optPath = "\(dir)/optimizer.safetensors"
    try fileOperation("loading the optimizer state from", optPath) {
      let opt = try openSafeTensorsFile(optPath)
      try optimizer.loadStateDict(Dictionary(uniqueKeysWithValues: try opt.keys.map { ($0, try Tensor.load($0, from: opt)) }))
    }
    let rngPath = "\(dir)/random_states.safetensors"
    try fileOperation("loading the random states from", rngPath) {
      let rng = try openSafeTensorsFile(rngPath)
      try generator.setState(try Tensor.load("generator", from: rng))
      if hostGenerator !== generator { try hostGenerator.setState(try Tensor.load("host_generator", from: rng)) }
    }
    globalStep = step
    stepsTaken = state["optimizer_steps"] as? Int ?? step
    if let scaler, let s = state["scaler"] as? [String: Double] { scaler.load(state: s) }
    try optimizer.setLR(try schedule.learningRate(step: stepsTaken))
    return FileManager.default.contents(atPath: "\(dir)/\(DataParallel.positionFile(rank: config.parallel?.rank ?? 0))")
  }
}

extension LCDTrainer {
  /// "full_unet" or "lora", recorded in checkpoints.
  var methodKind: String { objective.kind }

  /// A checkpoint of the upstream script (accelerate's save_state with the script's model hooks):
  /// diffusers-layout `unet/` and `unet_target/` beside accelerate's pickles, no trainer_state.json.
  public static func isUpstreamCheckpoint(_ dir: String) -> Bool {
    let fm = FileManager.default
    guard !fm.fileExists(atPath: "\(dir)/trainer_state.json"), fm.fileExists(atPath: "\(dir)/unet/config.json"),
      fm.fileExists(atPath: "\(dir)/unet_target/config.json")
    else { return false }
    let accelerateFiles = ["optimizer.bin", "scheduler.bin", "random_states_0.pkl", "scaler.pt", "optimizer.safetensors"]
    return accelerateFiles.contains { fm.fileExists(atPath: "\(dir)/\($0)") }
  }

  /// N of a `checkpoint-N` folder.
  static func checkpointStep(_ dir: String) -> Int? {
    let name = (dir as NSString).lastPathComponent
    guard name.hasPrefix("checkpoint-"), let n = Int(name.dropFirst(11)), n >= 0 else { return nil }
    return n
  }

  /// The method's models of a checkpoint (S1: student `unet/`, EMA `unet_target/`), strictly.
  func loadUNets(from dir: String) throws {
    try objective.loadCheckpointModels(from: dir)
  }
}

func openSafeTensorsFile(_ path: String) throws -> SafeTensorsFile { try SafeTensorsFile(path: path) }
