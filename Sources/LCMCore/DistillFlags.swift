import ArgumentParser
import DiffusionModels
import Foundation
import LCMTraining
import Torch
import WebDataset

/// What `lcm distill` and `lcm distill-lora` share: the option groups of the scripts' common
/// flags, their checks, and the settings they make. Each command adds its method's flags (S1:
/// the guidance embedding and EMA; S2: the LoRA) and says how they configure the trainer.
protocol DistillFlags: ParsableCommand {
  // the model to train from (the scripts name it differently: --pretrained_teacher_model,
  // --pretrained_model_name_or_path)
  var pretrainedTeacherModel: String { get }
  var pretrainedVAE: String? { get }
  var teacherRevision: String? { get }
  var revision: String? { get }
  var general: GeneralOptions { get }
  var logging: LoggingOptions { get }
  var checkpointing: CheckpointingOptions { get }
  var imageProcessing: ImageProcessingOptions { get }
  var dataloader: DataloaderOptions { get }
  var batchAndSteps: BatchAndStepsOptions { get }
  var learningRateOptions: LearningRateOptions { get }
  var optimizer: OptimizerOptions { get }
  var diffusionTraining: DiffusionTrainingOptions { get }
  var precision: MixedPrecisionOptions { get }
  var optimizations: TrainingOptimizationOptions { get }
  var distributed: DistributedTrainingOptions { get }
  var validation: ValidationOptions { get }
  var hub: HubOptions { get }
  var accelerate: AccelerateOptions { get }
  var swiftLCM: SwiftLCMOptions { get }
  // the LCD flags, whose group differs between the scripts
  var wMin: Double { get }
  var wMax: Double { get }
  var numDDIMTimesteps: Int { get }
  var lossType: String { get }
  var huberC: Double { get }
  var vaeEncodeBatchSize: Int { get }
  var timestepScalingFactor: Double { get }
  var emaDecay: Double { get }
  /// The method's part of the trainer's settings.
  func configureMethod(_ c: inout LCDTrainingConfig)
  /// The method's own refusals.
  var methodProblems: [String] { get }
}

/// The distillation scripts' model flags (`--pretrained_teacher_model`, ...).
protocol TeacherModelFlags {
  var modelLoading: ModelLoadingOptions { get }
}

extension DistillFlags where Self: TeacherModelFlags {
  var pretrainedTeacherModel: String { modelLoading.pretrainedTeacherModel }
  var pretrainedVAE: String? { modelLoading.pretrainedVAE }
  var teacherRevision: String? { modelLoading.teacherRevision }
  var revision: String? { modelLoading.revision }
}

extension DistillFlags {
  // the shared flags by their names, for the run code
  var outputDir: String { general.outputDir }
  var cacheDir: String? { general.cacheDir }
  var seed: UInt64? { general.seed }
  var overwriteOutputDir: Bool { general.overwriteOutputDir }
  var loggingDir: String { logging.loggingDir }
  var reportTo: String { logging.reportTo }
  var checkpointingSteps: Int { checkpointing.checkpointingSteps }
  var checkpointsTotalLimit: Int? { checkpointing.checkpointsTotalLimit }
  var resumeFromCheckpoint: String? { checkpointing.resumeFromCheckpoint }
  var trainShards: String? { imageProcessing.trainShards }
  var trainDataDir: String? { imageProcessing.trainDataDir }
  var datasetName: String? { imageProcessing.datasetName }
  var resolution: Int { imageProcessing.resolution ?? (isSDXLTeacher ? 1024 : 512) }
  var useFixCropAndSize: Bool { imageProcessing.useFixCropAndSize }
  /// Processes of a data-parallel launch (1 without one; bad variables are refused by flagReport).
  var launcherWorldSize: Int { ((try? DistributedEnvironment.from()) ?? nil)?.worldSize ?? 1 }
  /// The run is S5's (train_lcm_distill_lora_sdxl.py): an SDXL LoRA on a dataset or image folder.
  var isS5: Bool { self is DistillLoRA && isSDXLTeacher && trainShards == nil }
  /// S3/S4 filter their shards (and take the original size from the json); S1/S2 never do.
  var webdatasetFilter: WebdatasetFilter? {
    let i = imageProcessing
    guard trainShards != nil, i.wdsFilter == "on" || (i.wdsFilter == "auto" && isSDXLTeacher) else { return nil }
    return WebdatasetFilter(minSize: i.wdsMinSize, maxPWatermark: i.wdsMaxPWatermark, widthKey: i.wdsJSONWidthKey, heightKey: i.wdsJSONHeightKey)
  }
  /// The SDXL scripts' defaults apply to a teacher with a second text encoder (read from its
  /// model_index.json; an unreadable teacher counts as SD, and fails later with its own error).
  var isSDXLTeacher: Bool {
    ((try? DiffusersPipelineFolder(pretrainedTeacherModel, revision: teacherRevision))?.has("text_encoder_2")) ?? false
  }
  var interpolationType: String { imageProcessing.interpolationType }
  var centerCrop: Bool { imageProcessing.centerCrop }
  var randomFlip: Bool { imageProcessing.randomFlip }
  var dataloaderNumWorkers: Int { dataloader.dataloaderNumWorkers }
  var trainBatchSize: Int { batchAndSteps.trainBatchSize }
  var numTrainEpochs: Int { batchAndSteps.numTrainEpochs }
  var maxTrainSteps: Int? { batchAndSteps.maxTrainSteps }
  var maxTrainSamples: Int? { batchAndSteps.maxTrainSamples }
  var learningRate: Double { learningRateOptions.learningRate }
  var scaleLR: Bool { learningRateOptions.scaleLR }
  var lrScheduler: String { learningRateOptions.lrScheduler }
  var lrWarmupSteps: Int { learningRateOptions.lrWarmupSteps }
  var gradientAccumulationSteps: Int { learningRateOptions.gradientAccumulationSteps }
  var use8bitAdam: Bool { optimizer.use8bitAdam }
  var adamBeta1: Double { optimizer.adamBeta1 }
  var adamBeta2: Double { optimizer.adamBeta2 }
  var adamWeightDecay: Double { optimizer.adamWeightDecay }
  var adamEpsilon: Double { optimizer.adamEpsilon }
  var maxGradNorm: Double { optimizer.maxGradNorm }
  var proportionEmptyPrompts: Double { diffusionTraining.proportionEmptyPrompts }
  var mixedPrecision: String? { precision.mixedPrecision }
  var allowTF32: Bool { precision.allowTF32 }
  var castTeacherUNet: Bool { precision.castTeacherUNet }
  var enableXformers: Bool { optimizations.enableXformers }
  var gradientCheckpointing: Bool { optimizations.gradientCheckpointing }
  var localRank: Int { distributed.localRank }
  var validationSteps: Int { validation.validationSteps }
  var validationPrompts: [String] { validation.validationPrompts }
  var pushToHub: Bool { hub.pushToHub }
  var hubToken: String? { hub.hubToken }
  var hubModelID: String? { hub.hubModelID }
  var trackerProjectName: String { accelerate.trackerProjectName }
  var device: String? { swiftLCM.device }


  /// Flags that name a network service: each is a warning, and the run goes on without it.
  static var offlineTrackers: Set<String> { ["wandb", "comet_ml", "all", "mlflow", "aim", "clearml", "dvclive"] }

  /// Every refusal and every warning of the flags, found together before anything loads.
  func flagReport() -> (problems: [String], warnings: [String]) {
    var p: [String] = [], w: [String] = []
    func need(_ ok: Bool, _ message: @autoclosure () -> String) { if !ok { p.append(message()) } }
    let sources = [trainShards, datasetName, trainDataDir].compactMap { $0 }.count
    need(sources == 1, "give exactly one of --train_shards_path_or_url, --dataset_name and --train_data_dir")
    if let datasetName, sources == 1 {
      do { _ = try DatasetLocator.locate(datasetName, config: imageProcessing.datasetConfigName, cacheDir: cacheDir) } catch {
        p.append("\(error)")
      }
    }
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
    do {
      if let env = try DistributedEnvironment.from() {
        if runDevice.isCUDA {
          if ProcessGroup.ncclLibrary() == nil {
            p.append("WORLD_SIZE=\(env.worldSize) on CUDA needs libLCMNCCL.so (NCCL's process group, built by scripts/setup.sh where the torch wheel brings NCCL) beside lcm-core or at $SWIFT_LCM_NCCL_LIBRARY; or give --device cpu (Gloo)")
          }
          if CUDA.isAvailable, let i = runDevice.index, i >= CUDA.deviceCount {
            p.append("rank \(env.rank) would train on cuda:\(i) (LOCAL_RANK \(env.localRank)) but this machine has \(CUDA.deviceCount) GPU(s): lower --nproc_per_node")
          }
        }
      }
    } catch { p.append("\(error)") }
    need(["auto", "on", "off"].contains(imageProcessing.wdsFilter), "--wds_filter must be auto, on or off, got '\(imageProcessing.wdsFilter)'")
    if imageProcessing.wdsFilter == "on" && trainShards == nil { w.append("--wds_filter acts on --train_shards_path_or_url only") }
    if pretrainedTeacherModel.contains("playground") && !precision.teacherNoAutocast && mixedPrecision.map({ $0 != "no" }) == true {
      w.append("S4 runs a teacher whose name contains 'playground' outside autocast; here that is --teacher_no_autocast (not given: the teacher runs under autocast)")
    }
    if useFixCropAndSize && !isSDXLTeacher { w.append("--use_fix_crop_and_size acts on SDXL teachers' micro-conditioning only; this teacher has none") }
    p += methodProblems
    return (p, w)
  }

  /// All refusals in one error line (the warnings shown first), before any model loads.
  func validateFlags() throws {
    let (problems, warnings) = flagReport()
    guard problems.isEmpty else {
      for warning in warnings { FileHandle.standardError.write(Data("warning: \(warning)\n".utf8)) }
      throw ValidationError(problems.joined(separator: "; "))
    }
  }

  /// --device, else CUDA when a GPU is present (accelerate's default), else the CPU. Under a
  /// launcher, `cuda` (or no --device) means cuda:LOCAL_RANK.
  var runDevice: Device {
    let localRank = (try? DistributedEnvironment.from())??.localRank ?? 0
    guard let d = device.flatMap({ Device(parsing: $0) }) else { return CUDA.isAvailable ? .cuda(localRank) : .cpu }
    return d.isCUDA && d.index == nil ? .cuda(localRank) : d
  }

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
    // the scripts' global batch: per-process batch × processes
    let math = EpochMath(maxTrainSamples: samples, globalBatchSize: trainBatchSize * launcherWorldSize, numWorkers: dataloaderNumWorkers)
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
    c.learningRate = scaleLR ? learningRate * Double(gradientAccumulationSteps * trainBatchSize * launcherWorldSize) : learningRate
    (c.lrScheduler, c.lrWarmupSteps) = (lrScheduler, lrWarmupSteps)
    (c.adamBeta1, c.adamBeta2, c.adamWeightDecay, c.adamEpsilon, c.maxGradNorm) = (adamBeta1, adamBeta2, adamWeightDecay, adamEpsilon, maxGradNorm)
    (c.vaeEncodeBatchSize, c.gradientCheckpointing) = (vaeEncodeBatchSize, gradientCheckpointing)
    (c.lcd.wMin, c.lcd.wMax, c.lcd.numDDIMTimesteps, c.lcd.huberC) = (wMin, wMax, numDDIMTimesteps, huberC)
    (c.lcd.timestepScalingFactor, c.lcd.emaDecay) = (timestepScalingFactor, emaDecay)
    c.lcd.lossType = lossType == "l2" ? .l2 : .huber
    (c.gradientAccumulationSteps, c.proportionEmptyPrompts) = (gradientAccumulationSteps, proportionEmptyPrompts)
    (c.mixedPrecision, c.castTeacherUNet, c.vaePath) = (autocastDType, castTeacherUNet, pretrainedVAE)
    c.use8bitAdam = use8bitAdam
    c.useFixCropAndSize = useFixCropAndSize
    c.lcd.teacherAutocast = !precision.teacherNoAutocast
    configureMethod(&c)
    return c
  }

  /// The run's settings, as the scripts' tracker config (output_dir/run_config.json): every option
  /// (property names; JSON numbers, strings, booleans, lists and null; no hub token) and the
  /// derived seed, steps, epochs and device.
  func runConfig(seed: UInt64) -> [String: Any] {
    var config: [String: Any] = [:]
    for group in Mirror(reflecting: self).children {
      guard let options = (group.value as? any ParsedArgument)?.parsedValue else { continue }
      for child in Mirror(reflecting: options).children {
        guard var name = child.label else { continue }
        if name.hasPrefix("_") { name.removeFirst() }
        config[name] = jsonValue((child.value as? any ParsedArgument)?.parsedValue ?? child.value)
      }
    }
    let (steps, epochs) = stepsAndEpochs()
    config["resolvedSeed"] = seed
    config["resolvedMaxTrainSteps"] = steps
    config["resolvedNumTrainEpochs"] = epochs ?? NSNull()
    config["resolvedDevice"] = "\(runDevice)"
    // the defaults that depend on the teacher's kind (SD or SDXL)
    (config["resolvedResolution"], config["resolvedWMin"], config["resolvedVaeEncodeBatchSize"]) = (resolution, wMin, vaeEncodeBatchSize)
    config.removeValue(forKey: "hubToken")
    return config
  }
}


/// An @Option / @Flag wrapper's value, for run_config.json.
protocol ParsedArgument { var parsedValue: Any { get } }
extension Option: ParsedArgument { var parsedValue: Any { wrappedValue } }
extension Flag: ParsedArgument { var parsedValue: Any { wrappedValue } }
extension OptionGroup: ParsedArgument { var parsedValue: Any { wrappedValue } }

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
