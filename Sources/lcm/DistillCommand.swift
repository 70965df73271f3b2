import ArgumentParser
import Foundation
import LCMTraining
import Torch
import WebDataset

/// `lcm distill`: every flag of train_lcm_distill_sd_wds.py, same names, types and defaults (the
/// run itself is in DistillRun.swift). Extras: --train_data_dir, --validation_prompts, --device.
struct Distill: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Distill an SD 1.x / 2.x teacher into an LCM (full UNet + EMA target), as train_lcm_distill_sd_wds.py.")

  // model loading
  @Option(name: .customLong("pretrained_teacher_model")) var pretrainedTeacherModel: String
  @Option(name: .customLong("pretrained_vae_model_name_or_path"), help: "A VAE folder or hub id used instead of the teacher's (in the mixed-precision dtype).")
  var pretrainedVAE: String?
  @Option(name: .customLong("teacher_revision")) var teacherRevision: String?
  @Option(name: .customLong("revision"), help: "Revision of the validation pipeline (must match --teacher_revision: validation reuses the loaded teacher).")
  var revision: String?
  @Option(name: .customLong("cache_dir"), help: "The Hugging Face hub cache to find hub ids in.") var cacheDir: String?
  // general
  @Option(name: .customLong("output_dir")) var outputDir = "lcm-xl-distilled"
  @Option(name: .customLong("seed"), help: "Seed for reproducible training (random when absent).") var seed: UInt64?
  @Option(name: .customLong("logging_dir"), help: "TensorBoard logs, under --output_dir.") var loggingDir = "logs"
  @Option(name: .customLong("report_to")) var reportTo = "tensorboard"
  @Option(name: .customLong("tracker_project_name"), help: "TensorBoard run folder under --logging_dir.") var trackerProjectName = "text2image-fine-tune"
  // checkpointing
  @Option(name: .customLong("checkpointing_steps")) var checkpointingSteps = 500
  @Option(name: .customLong("checkpoints_total_limit")) var checkpointsTotalLimit: Int?
  @Option(name: .customLong("resume_from_checkpoint"), help: "latest, or a checkpoint folder.") var resumeFromCheckpoint: String?
  @Flag(name: .customLong("overwrite_output_dir"), help: "Start a fresh run in an --output_dir that holds checkpoints of an earlier run (they are removed).")
  var overwriteOutputDir = false
  // data
  @Option(name: .customLong("train_shards_path_or_url")) var trainShards: String?
  @Option(name: .customLong("train_data_dir"), help: "An image folder instead of shards.") var trainDataDir: String?
  @Option(name: .customLong("resolution")) var resolution = 512
  @Option(name: .customLong("interpolation_type")) var interpolationType = "bilinear"
  @Flag(name: .customLong("center_crop")) var centerCrop = false
  @Flag(name: .customLong("random_flip")) var randomFlip = false
  @Option(name: .customLong("dataloader_num_workers")) var dataloaderNumWorkers = 0
  @Option(name: .customLong("proportion_empty_prompts")) var proportionEmptyPrompts = 0.0
  @Option(name: .customLong("vae_encode_batch_size")) var vaeEncodeBatchSize = 32
  // batch size and steps
  @Option(name: .customLong("train_batch_size")) var trainBatchSize = 16
  @Option(name: .customLong("num_train_epochs")) var numTrainEpochs = 100
  @Option(name: .customLong("max_train_steps")) var maxTrainSteps: Int?
  @Option(name: .customLong("max_train_samples"), help: "Nominal dataset size for the epoch arithmetic.") var maxTrainSamples: Int?
  @Option(name: .customLong("gradient_accumulation_steps")) var gradientAccumulationSteps = 1
  // learning rate and optimizer
  @Option(name: .customLong("learning_rate")) var learningRate = 1e-4
  @Flag(name: .customLong("scale_lr"), help: "Multiply the learning rate by accumulation steps × batch size × processes.") var scaleLR = false
  @Option(name: .customLong("lr_scheduler")) var lrScheduler = "constant"
  @Option(name: .customLong("lr_warmup_steps")) var lrWarmupSteps = 500
  @Flag(name: .customLong("use_8bit_adam")) var use8bitAdam = false
  @Option(name: .customLong("adam_beta1")) var adamBeta1 = 0.9
  @Option(name: .customLong("adam_beta2")) var adamBeta2 = 0.999
  @Option(name: .customLong("adam_weight_decay")) var adamWeightDecay = 1e-2
  @Option(name: .customLong("adam_epsilon")) var adamEpsilon = 1e-8
  @Option(name: .customLong("max_grad_norm")) var maxGradNorm = 1.0
  // LCD
  @Option(name: .customLong("w_min")) var wMin = 5.0
  @Option(name: .customLong("w_max")) var wMax = 15.0
  @Option(name: .customLong("num_ddim_timesteps")) var numDDIMTimesteps = 50
  @Option(name: .customLong("loss_type")) var lossType = "l2"
  @Option(name: .customLong("huber_c")) var huberC = 0.001
  @Option(name: .customLong("unet_time_cond_proj_dim")) var unetTimeCondProjDim = 256
  @Option(name: .customLong("timestep_scaling_factor")) var timestepScalingFactor = 10.0
  @Option(name: .customLong("ema_decay")) var emaDecay = 0.95
  // precision and performance
  @Option(name: .customLong("mixed_precision"), help: "no, fp16 or bf16.") var mixedPrecision: String?
  @Flag(name: .customLong("allow_tf32")) var allowTF32 = false
  @Flag(name: .customLong("cast_teacher_unet")) var castTeacherUNet = false
  @Flag(name: .customLong("enable_xformers_memory_efficient_attention"), help: "Accepted: attention is already memory-efficient (SDPA).")
  var enableXformers = false
  @Flag(name: .customLong("gradient_checkpointing")) var gradientCheckpointing = false
  @Option(name: .customLong("local_rank")) var localRank = -1
  // validation
  @Option(name: .customLong("validation_steps")) var validationSteps = 200
  @Option(name: .customLong("validation_prompts"), parsing: .upToNextOption, help: "Prompts for validation (default: the script's four).")
  var validationPrompts: [String] = []
  // hub
  @Flag(name: .customLong("push_to_hub")) var pushToHub = false
  @Option(name: .customLong("hub_token")) var hubToken: String?
  @Option(name: .customLong("hub_model_id")) var hubModelID: String?
  // swift-lcm
  @Option(name: .customLong("device"), help: "cpu or cuda[:N] (default: cuda when a GPU is present, else cpu).") var device: String?

  /// Flags that name a network service: each is a warning, and the run goes on without it.
  static let offlineTrackers: Set<String> = ["wandb", "comet_ml", "all", "mlflow", "aim", "clearml", "dvclive"]

  /// Every refusal and every warning of the flags, found together before anything loads.
  func flagReport() -> (problems: [String], warnings: [String]) {
    var p: [String] = [], w: [String] = []
    func need(_ ok: Bool, _ message: @autoclosure () -> String) { if !ok { p.append(message()) } }
    need((trainShards == nil) != (trainDataDir == nil), "give exactly one of --train_shards_path_or_url and --train_data_dir")
    need(resolution > 0 && resolution % 8 == 0, "--resolution must be a positive multiple of 8, got \(resolution)")
    need(["l2", "huber"].contains(lossType), "--loss_type must be l2 or huber, got '\(lossType)'")
    need(trainBatchSize > 0, "--train_batch_size must be positive")
    need((maxTrainSteps ?? 1) > 0, "--max_train_steps must be positive")
    need(maxTrainSteps != nil || maxTrainSamples != nil,
         "give --max_train_steps, or --max_train_samples so that --num_train_epochs (\(numTrainEpochs)) sets the step count")
    need((maxTrainSamples ?? 1) > 0, "--max_train_samples must be positive")
    need(numTrainEpochs > 0, "--num_train_epochs must be positive")
    if Self.offlineTrackers.contains(reportTo) {
      w.append("--report_to \(reportTo): swift-lcm uses no network service; logging to TensorBoard event files in \(outputDir)/\(loggingDir) instead")
    } else {
      need(["tensorboard", "none"].contains(reportTo), "--report_to must be tensorboard, none, or a tracker (\(Self.offlineTrackers.sorted().joined(separator: ", "))), got '\(reportTo)'")
    }
    if pushToHub {
      w.append("--push_to_hub: swift-lcm does not upload (no network); the command that uploads \(outputDir) is printed at the end")
    } else if hubModelID != nil || hubToken != nil {
      w.append("--hub_model_id / --hub_token are used only with --push_to_hub (as in the script)")
    }
    need(mixedPrecision == nil || ["no", "fp16", "bf16"].contains(mixedPrecision!), "--mixed_precision must be no, fp16 or bf16, got '\(mixedPrecision ?? "")'")
    need((checkpointsTotalLimit ?? 1) > 0, "--checkpoints_total_limit must be positive")
    need(gradientAccumulationSteps > 0, "--gradient_accumulation_steps must be positive")
    need((0...1).contains(proportionEmptyPrompts), "--proportion_empty_prompts must be in [0, 1]")
    need(checkpointingSteps > 0 && validationSteps > 0, "--checkpointing_steps and --validation_steps must be positive")
    need(wMin <= wMax, "--w_min (\(wMin)) must not exceed --w_max (\(wMax))")
    need(numDDIMTimesteps > 0 && vaeEncodeBatchSize > 0, "--num_ddim_timesteps and --vae_encode_batch_size must be positive")
    need(device.map { Device(parsing: $0) != nil } ?? true, "--device must be cpu or cuda[:N], got '\(device ?? "")'")
    need(Interpolation(rawValue: interpolationType) != nil,
         "--interpolation_type must be one of \(Interpolation.allCases.map(\.rawValue).joined(separator: ", "))")
    if let revision, revision != (teacherRevision ?? "main") {
      p.append("--revision \(revision) differs from --teacher_revision: validation reuses the teacher loaded at --teacher_revision")
    }
    if let world = ProcessInfo.processInfo.environment["WORLD_SIZE"], (Int(world) ?? 1) > 1 {
      p.append("WORLD_SIZE=\(world): multi-process training is not available yet (a later issue); run one process")
    }
    return (p, w)
  }

  /// All refusals in one error line (the warnings shown first), before any model loads.
  func validate() throws {
    let (problems, warnings) = flagReport()
    guard problems.isEmpty else {
      for warning in warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
      throw ValidationError(problems.joined(separator: "; "))
    }
  }

  /// --device, else CUDA when a GPU is present (accelerate's default), else the CPU.
  var runDevice: Device { device.flatMap { Device(parsing: $0) } ?? (CUDA.isAvailable ? .cuda(0) : .cpu) }

  /// The first line of a run: the device and why.
  var deviceLine: String {
    let d = runDevice
    let why = device != nil ? "--device" : d.isCUDA ? "a GPU is present; --device cpu to train on the CPU" : "no CUDA GPU found"
    let name = d.isCUDA ? (try? CUDA.deviceInfo(d.index ?? 0)).map { " (\($0.name))" } ?? "" : ""
    return "device: \(d)\(name), \(why)"
  }

  /// What --push_to_hub would have uploaded, as a command (the token is never printed).
  var uploadCommand: String {
    let repo = hubModelID ?? (outputDir as NSString).lastPathComponent
    return "hf upload \(repo) \(outputDir) --exclude 'step_*' --exclude 'epoch_*' --commit-message 'End of training'"
      + (hubToken != nil ? " --token \"$HF_TOKEN\"" : "")
  }

  var autocastDType: DType? {
    switch mixedPrecision {
    case "fp16": .float16
    case "bf16": .bfloat16
    default: nil
    }
  }

  /// The step count and the epochs it spans (the script's arithmetic, §5.4 of the reference).
  func stepsAndEpochs() -> (steps: Int, epochs: Int?) {
    guard let samples = maxTrainSamples else { return (maxTrainSteps!, nil) }
    let math = EpochMath(maxTrainSamples: samples, globalBatchSize: trainBatchSize, numWorkers: dataloaderNumWorkers)
    let perEpoch = (math.numBatches + gradientAccumulationSteps - 1) / gradientAccumulationSteps
    let steps = maxTrainSteps ?? numTrainEpochs * perEpoch
    return (steps, (steps + perEpoch - 1) / perEpoch)
  }

  /// The trainer's settings from the flags.
  func trainingConfig(seed: UInt64) -> LCDTrainingConfig {
    var c = LCDTrainingConfig(teacher: pretrainedTeacherModel)
    c.revision = teacherRevision
    c.outputDir = outputDir
    c.seed = seed
    c.device = runDevice
    c.maxTrainSteps = stepsAndEpochs().steps
    // the script parses --scale_lr but never applies it; here it does what it says (1 process)
    c.learningRate = scaleLR ? learningRate * Double(gradientAccumulationSteps * trainBatchSize) : learningRate
    (c.lrScheduler, c.lrWarmupSteps) = (lrScheduler, lrWarmupSteps)
    (c.adamBeta1, c.adamBeta2, c.adamWeightDecay, c.adamEpsilon, c.maxGradNorm) = (adamBeta1, adamBeta2, adamWeightDecay, adamEpsilon, maxGradNorm)
    (c.unetTimeCondProjDim, c.vaeEncodeBatchSize, c.gradientCheckpointing) = (unetTimeCondProjDim, vaeEncodeBatchSize, gradientCheckpointing)
    (c.lcd.wMin, c.lcd.wMax, c.lcd.numDDIMTimesteps, c.lcd.huberC) = (wMin, wMax, numDDIMTimesteps, huberC)
    (c.lcd.timestepScalingFactor, c.lcd.emaDecay) = (timestepScalingFactor, emaDecay)
    c.lcd.lossType = lossType == "l2" ? .l2 : .huber
    (c.gradientAccumulationSteps, c.proportionEmptyPrompts) = (gradientAccumulationSteps, proportionEmptyPrompts)
    (c.mixedPrecision, c.castTeacherUNet, c.vaePath) = (autocastDType, castTeacherUNet, pretrainedVAE)
    c.use8bitAdam = use8bitAdam
    return c
  }

  /// The run's settings, as the scripts' tracker config (output_dir/run_config.json): every option
  /// (property names; JSON numbers, strings, booleans, lists and null; no hub token) and the
  /// derived seed, steps, epochs and device.
  func writeRunConfig(seed: UInt64) throws {
    var config: [String: Any] = [:]
    for child in Mirror(reflecting: self).children {
      guard var name = child.label else { continue }
      if name.hasPrefix("_") { name.removeFirst() }
      config[name] = jsonValue((child.value as? any ParsedArgument)?.parsedValue ?? child.value)
    }
    let (steps, epochs) = stepsAndEpochs()
    config["resolvedSeed"] = seed
    config["resolvedMaxTrainSteps"] = steps
    config["resolvedNumTrainEpochs"] = epochs ?? NSNull()
    config["resolvedDevice"] = "\(runDevice)"
    config.removeValue(forKey: "hubToken")
    let data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
    try fileOperation("writing the run configuration", "\(outputDir)/run_config.json") {
      try data.write(to: URL(fileURLWithPath: "\(outputDir)/run_config.json"), options: .atomic)
    }
  }
}

/// An @Option / @Flag wrapper's value, for run_config.json.
protocol ParsedArgument { var parsedValue: Any { get } }
extension Option: ParsedArgument { var parsedValue: Any { wrappedValue } }
extension Flag: ParsedArgument { var parsedValue: Any { wrappedValue } }

/// A Swift value as a JSON value: numbers, strings and booleans as they are, nil as null,
/// arrays element by element, anything else as its description.
func jsonValue(_ value: Any) -> Any {
  let mirror = Mirror(reflecting: value)
  if mirror.displayStyle == .optional { return mirror.children.first.map { jsonValue($0.value) } ?? NSNull() }
  switch value {
  case let v as Bool: return v
  case let v as Int: return v
  case let v as UInt64: return v
  case let v as Double: return v.isFinite ? v : "\(v)"
  case let v as String: return v
  case let v as [Any]: return v.map(jsonValue)
  default: return "\(value)"
  }
}
