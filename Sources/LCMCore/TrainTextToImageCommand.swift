import ArgumentParser
import Foundation
import LCMTraining
import Schedulers

/// train_text_to_image.py's model flags.
struct TextToImageModelOptions: ParsableArguments {
  @Option(name: .customLong("pretrained_model_name_or_path"), help: "The pipeline whose UNet trains: a diffusers SD 1.x / 2.x folder or a hub id in the local cache.")
  var pretrainedModelNameOrPath: String
  @Option(name: .customLong("revision"), help: "Revision of the pipeline on the hub cache.") var revision: String?
  @Option(name: .customLong("unet_config"), help: "swift-lcm: train a UNet of this config (config.json or its folder) from scratch (torch's default init after --seed), not the pipeline's.")
  var unetConfig: String?
}

/// train_text_to_image.py's flags that change the step.
struct TextToImageStepOptions: ParsableArguments {
  @Option(name: .customLong("prediction_type"), help: "epsilon or v_prediction (default: the pipeline scheduler's).") var predictionType: String?
  @Option(name: .customLong("snr_gamma"), help: "Min-SNR loss weighting with this gamma (5.0 is the paper's); absent: plain MSE.") var snrGamma: Double?
  @Option(name: .customLong("noise_offset"), help: "Scale of the offset noise added per sample and channel.") var noiseOffset = 0.0
  @Flag(name: .customLong("use_ema"), help: "Keep an EMA of the UNet (diffusers' EMAModel); it is what is validated and saved.") var useEMA = false
}

/// `lcm train-text-to-image`: the UNet of a pipeline trained with the ordinary diffusion loss, as
/// diffusers' train_text_to_image.py (its step's flags by their names; the data, optimizer,
/// schedule, precision, checkpoint and validation flags are the distillation commands', which the
/// scripts share). Writes a pipeline folder: the trained (EMA) UNet beside the base's components.
struct TrainTextToImage: DistillFlags {
  static let configuration = CommandConfiguration(
    commandName: "train-text-to-image",
    abstract: "Train a pipeline's UNet with the diffusion loss, as diffusers' train_text_to_image.py (--use_ema, --snr_gamma, ...).")

  @OptionGroup(title: "Model") var model: TextToImageModelOptions
  @OptionGroup(title: "Text-to-image step") var step: TextToImageStepOptions
  @OptionGroup(title: "General training") var general: GeneralOptions
  @OptionGroup(title: "Logging") var logging: LoggingOptions
  @OptionGroup(title: "Checkpointing") var checkpointing: CheckpointingOptions
  @OptionGroup(title: "Image processing") var imageProcessing: ImageProcessingOptions
  @OptionGroup(title: "Dataloader") var dataloader: DataloaderOptions
  @OptionGroup(title: "Batch size and training steps") var batchAndSteps: BatchAndStepsOptions
  @OptionGroup(title: "Learning rate") var learningRateOptions: LearningRateOptions
  @OptionGroup(title: "Optimizer (Adam)") var optimizer: OptimizerOptions
  @OptionGroup(title: "Caption dropout (for classifier-free guidance)") var diffusionTraining: DiffusionTrainingOptions
  @OptionGroup(title: "Mixed precision") var precision: MixedPrecisionOptions
  @OptionGroup(title: "Training optimizations") var optimizations: TrainingOptimizationOptions
  @OptionGroup(title: "Distributed training") var distributed: DistributedTrainingOptions
  @OptionGroup(title: "Validation") var validation: ValidationOptions
  @OptionGroup(title: "Hugging Face Hub") var hub: HubOptions
  @OptionGroup(title: "Accelerate") var accelerate: AccelerateOptions
  @OptionGroup(title: "swift-lcm") var swiftLCM: SwiftLCMOptions

  var pretrainedTeacherModel: String { model.pretrainedModelNameOrPath }
  var pretrainedVAE: String? { nil }
  var teacherRevision: String? { model.revision }
  var revision: String? { model.revision }
  // no distillation here: the LCD values the shared checks read are their defaults
  var wMin: Double { 5 }
  var wMax: Double { 15 }
  var numDDIMTimesteps: Int { 50 }
  var lossType: String { "l2" }
  var huberC: Double { 0.001 }
  var vaeEncodeBatchSize: Int { 32 }
  var timestepScalingFactor: Double { 10 }
  var emaDecay: Double { 0.9999 }

  var methodProblems: [String] {
    var p: [String] = []
    if let t = step.predictionType, !["epsilon", "v_prediction"].contains(t) { p.append("--prediction_type must be epsilon or v_prediction, got '\(t)'") }
    if let g = step.snrGamma, !(g > 0) { p.append("--snr_gamma must be positive, got \(g)") }
    if !(step.noiseOffset >= 0) { p.append("--noise_offset must not be negative, got \(step.noiseOffset)") }
    if let u = model.unetConfig, !FileManager.default.fileExists(atPath: u.hasSuffix(".json") ? u : "\(u)/config.json") {
      p.append("--unet_config \(u): no config.json there")
    }
    if isSDXLTeacher { p.append("\(pretrainedTeacherModel) is an SDXL pipeline: train-text-to-image trains SD 1.x / 2.x UNets (train_text_to_image.py)") }
    return p
  }

  func configureMethod(_ c: inout LCDTrainingConfig) {
    var t = TextToImageConfig()
    t.predictionType = step.predictionType.flatMap(PredictionType.init(rawValue:))
    (t.snrGamma, t.noiseOffset, t.useEMA, t.unetConfig) = (step.snrGamma, step.noiseOffset, step.useEMA, model.unetConfig)
    c.textToImage = t
  }

  func validate() throws { try validateFlags() }

  func run() throws { try runDistillation(outputs: "the pipeline in \(outputDir) (unet/\(step.useEMA ? " with the EMA weights" : ""))") }
}
