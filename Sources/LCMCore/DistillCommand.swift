import ArgumentParser
import Foundation
import LCMTraining
import Torch
import WebDataset

/// `lcm distill`: every flag of train_lcm_distill_sd_wds.py, same names, types and defaults (the
/// run itself is in DistillRun.swift). Extras: --train_data_dir, --validation_prompts, --device.
struct Distill: DistillFlags, TeacherModelFlags {
  static let configuration = CommandConfiguration(
    abstract: "Distill an SD 1.x / 2.x teacher into an LCM (full UNet + EMA target), as train_lcm_distill_sd_wds.py.")

  @OptionGroup(title: "Model checkpoint loading") var modelLoading: ModelLoadingOptions
  @OptionGroup(title: "General training") var general: GeneralOptions
  @OptionGroup(title: "Logging") var logging: LoggingOptions
  @OptionGroup(title: "Checkpointing") var checkpointing: CheckpointingOptions
  @OptionGroup(title: "Image processing") var imageProcessing: ImageProcessingOptions
  @OptionGroup(title: "Dataloader") var dataloader: DataloaderOptions
  @OptionGroup(title: "Batch size and training steps") var batchAndSteps: BatchAndStepsOptions
  @OptionGroup(title: "Learning rate") var learningRateOptions: LearningRateOptions
  @OptionGroup(title: "Optimizer (Adam)") var optimizer: OptimizerOptions
  @OptionGroup(title: "Diffusion training") var diffusionTraining: DiffusionTrainingOptions
  @OptionGroup(title: "Latent Consistency Distillation (LCD)") var lcd: LCDOptions
  @OptionGroup(title: "Exponential moving average (EMA)") var ema: EMAOptions
  @OptionGroup(title: "Mixed precision") var precision: MixedPrecisionOptions
  @OptionGroup(title: "Training optimizations") var optimizations: TrainingOptimizationOptions
  @OptionGroup(title: "Distributed training") var distributed: DistributedTrainingOptions
  @OptionGroup(title: "Validation") var validation: ValidationOptions
  @OptionGroup(title: "Hugging Face Hub") var hub: HubOptions
  @OptionGroup(title: "Accelerate") var accelerate: AccelerateOptions
  @OptionGroup(title: "swift-lcm") var swiftLCM: SwiftLCMOptions

  // the method's flags
  var wMin: Double { lcd.wMin ?? (isSDXLTeacher ? 3.0 : 5.0) }
  var wMax: Double { lcd.wMax }
  var numDDIMTimesteps: Int { lcd.numDDIMTimesteps }
  var lossType: String { lcd.lossType }
  var huberC: Double { lcd.huberC }
  var unetTimeCondProjDim: Int { lcd.unetTimeCondProjDim }
  var vaeEncodeBatchSize: Int { lcd.vaeEncodeBatchSize ?? (isSDXLTeacher ? 8 : 32) }
  var timestepScalingFactor: Double { lcd.timestepScalingFactor }
  var emaDecay: Double { ema.emaDecay }

  func configureMethod(_ c: inout LCDTrainingConfig) {
    c.unetTimeCondProjDim = unetTimeCondProjDim
  }

  var methodProblems: [String] { [] }

  func validate() throws { try validateFlags() }

  func run() throws { try runDistillation(outputs: "\(outputDir)/unet and \(outputDir)/unet_target") }
}
