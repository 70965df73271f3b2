import ArgumentParser
import Foundation
import DiffusionModels
import LCMTraining

/// `lcm distill-lora`: every flag of train_lcm_distill_lora_sd_wds.py, same names, types and
/// defaults; an LCM-LoRA for an SD 1.x / 2.x base.
struct DistillLoRA: DistillFlags, TeacherModelFlags {
  static let configuration = CommandConfiguration(
    commandName: "distill-lora",
    abstract: "Distill an LCM-LoRA for an SD 1.x / 2.x base, as train_lcm_distill_lora_sd_wds.py.")

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
  @OptionGroup(title: "Latent Consistency Distillation (LCD)") var lcd: LoRALCDOptions
  @OptionGroup(title: "Mixed precision") var precision: MixedPrecisionOptions
  @OptionGroup(title: "Training optimizations") var optimizations: TrainingOptimizationOptions
  @OptionGroup(title: "Distributed training") var distributed: DistributedTrainingOptions
  @OptionGroup(title: "Validation") var validation: ValidationOptions
  @OptionGroup(title: "Hugging Face Hub") var hub: HubOptions
  @OptionGroup(title: "Accelerate") var accelerate: AccelerateOptions
  @OptionGroup(title: "swift-lcm") var swiftLCM: SwiftLCMOptions
  @OptionGroup(title: "swift-lcm LoRA") var loraExtras: LoRAExtraOptions

  var wMin: Double { lcd.wMin ?? (isSDXLTeacher ? 3.0 : 5.0) }
  var wMax: Double { lcd.wMax }
  var numDDIMTimesteps: Int { lcd.numDDIMTimesteps }
  var lossType: String { lcd.lossType }
  var huberC: Double { lcd.huberC }
  var vaeEncodeBatchSize: Int { lcd.vaeEncodeBatchSize ?? (isSDXLTeacher ? 8 : 32) }
  var timestepScalingFactor: Double { lcd.timestepScalingFactor }
  var emaDecay: Double { loraExtras.emaDecay }

  /// The script splits on "," and strips each name.
  var targetModules: [String] {
    lcd.loraTargetModules.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } }
      ?? LoRASettings.defaultTargetModules
  }

  var exportFormats: [LoRAWriter.Format] {
    switch loraExtras.loraExportFormat {
    case "kohya": [.kohya]
    case "diffusers": [.diffusers]
    default: [.diffusers, .kohya]
    }
  }

  var methodProblems: [String] {
    var p: [String] = []
    if lcd.loraRank <= 0 { p.append("--lora_rank must be positive, got \(lcd.loraRank)") }
    if !(0..<1).contains(lcd.loraDropout) { p.append("--lora_dropout must be in [0, 1), got \(lcd.loraDropout)") }
    if targetModules.isEmpty { p.append("--lora_target_modules names no module") }
    if !["kohya", "diffusers", "both"].contains(loraExtras.loraExportFormat) {
      p.append("--lora_export_format must be kohya, diffusers or both, got '\(loraExtras.loraExportFormat)'")
    }
    if !(0...1).contains(emaDecay) { p.append("--ema_decay must be in [0, 1], got \(emaDecay)") }
    return p
  }

  func configureMethod(_ c: inout LCDTrainingConfig) {
    var s = LoRASettings()
    (s.rank, s.alpha, s.dropout, s.targetModules) = (lcd.loraRank, Double(lcd.loraAlpha), lcd.loraDropout, targetModules)
    (s.useTargetModel, s.exportFormats) = (loraExtras.useTargetModel, exportFormats)
    c.lora = s
  }

  func validate() throws { try validateFlags() }

  func run() throws {
    let files = exportFormats.map { $0 == .kohya ? "pytorch_lora_weights_kohya.safetensors" : "pytorch_lora_weights.safetensors" }
    try runDistillation(outputs: (files + ["adapter_model.safetensors"]).map { "\(outputDir)/\($0)" }.joined(separator: ", "))
  }
}
