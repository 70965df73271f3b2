import DiffusionModels
import Foundation
import Torch
import TorchNN

/// What one step feeds the UNets besides the latents: the prompt embeddings and, for SDXL, the
/// added conditions (pooled text embeddings and time ids).
public struct Conditioning {
  public var promptEmbeds: Tensor
  public var addedConditions: UNet2DConditionModel.AddedConditions?

  public init(promptEmbeds: Tensor, addedConditions: UNet2DConditionModel.AddedConditions? = nil) {
    self.promptEmbeds = promptEmbeds
    self.addedConditions = addedConditions
  }

  /// In `dtype` (prompt embeddings and added conditions).
  public func to(_ dtype: DType) throws -> Conditioning {
    Conditioning(
      promptEmbeds: try promptEmbeds.to(dtype),
      addedConditions: try addedConditions.map { .init(textEmbeds: try $0.textEmbeds.to(dtype), timeIds: try $0.timeIds.to(dtype)) })
  }

  /// `self` then `other` along the batch: one call for the teacher's two predictions.
  public func batched(with other: Conditioning) throws -> Conditioning {
    var added: UNet2DConditionModel.AddedConditions?
    if let a = addedConditions, let b = other.addedConditions {
      added = .init(textEmbeds: try Tensor.cat([a.textEmbeds, b.textEmbeds]), timeIds: try Tensor.cat([a.timeIds, b.timeIds]))
    }
    return Conditioning(promptEmbeds: try Tensor.cat([promptEmbeds, other.promptEmbeds]), addedConditions: added)
  }
}

/// One distillation recipe: who plays the online student, the target and the teacher of the LCD
/// step, what trains, what a checkpoint and the final output hold. LatentConsistencyDistillation
/// runs the step's maths over it; the trainer runs the loop. Full-UNet (S1) and LoRA (S2) are
/// one type each; SDXL variants differ only in their conditioning.
public protocol DistillationMethod: AnyObject {
  /// time_cond_proj_dim of the student's w-embedding; nil: no w input (w only in the teacher's CFG).
  var guidanceEmbeddingDim: Int? { get }
  /// The parameters the optimizer trains (and the gradients clipped).
  var trainableParameters: [Parameter] { get }
  /// The dtype the teacher's inputs are cast to (its weights').
  var teacherDType: DType { get }
  /// The UNets behind the roles (one object for several roles where the method shares it).
  var studentUNet: UNet2DConditionModel { get }
  var targetUNet: UNet2DConditionModel { get }
  var teacherUNet: UNet2DConditionModel { get }

  /// The online prediction (records gradients), before any cast.
  func student(_ x: Tensor, timestep: Tensor, conditioning: Conditioning, timestepCond: Tensor?) throws -> Tensor
  /// The teacher's prediction, under no-grad.
  func teacher(_ x: Tensor, timestep: Tensor, conditioning: Conditioning) throws -> Tensor
  /// The target's prediction, under no-grad, in the dtype the script's target returns.
  func target(_ x: Tensor, timestep: Tensor, conditioning: Conditioning, timestepCond: Tensor?) throws -> Tensor
  /// After every step (optimizer step taken or skipped): the EMA update of a target.
  func afterStep(emaDecay: Double) throws

  /// The models of a checkpoint, into `dir` and back.
  func writeCheckpointModels(to dir: String) throws
  func loadCheckpointModels(from dir: String) throws
  /// The final outputs in `dir`; returns the paths written.
  func saveFinal(to dir: String) throws -> [String]
  /// The UNets validation renders, by name, in order, and the guidance scale they run at (an LCM
  /// UNet embeds it as w; a base UNet with an LCM-LoRA runs without CFG at 1.0).
  var validationUNets: [(name: String, unet: UNet2DConditionModel)] { get }
  var validationGuidanceScale: Double { get }
  /// Dropout and friends follow this store's training flag.
  var trainingStore: ParameterStore { get }
}

/// S1 (train_lcm_distill_sd_wds.py): a frozen teacher UNet; the student is the teacher's config
/// with a guidance embedding (time_cond_proj_dim) and the teacher's weights; the target is an
/// EMA copy of the student.
public final class FullUNetDistillation: DistillationMethod {
  public let teacherUNet: UNet2DConditionModel
  public let studentUNet: UNet2DConditionModel
  public let targetUNet: UNet2DConditionModel

  public init(teacher: UNet2DConditionModel, student: UNet2DConditionModel, target: UNet2DConditionModel) throws {
    guard student.config.timeCondProjDim != nil else {
      throw ConfigError("student UNet", "needs time_cond_proj_dim for the guidance embedding")
    }
    (teacherUNet, studentUNet, targetUNet) = (teacher, student, target)
  }

  /// The student and target made from the teacher: `timeCondProjDim` when the teacher has no
  /// guidance embedding, whose cond_proj keeps nn.Linear's default init drawn from `generator`
  /// (so the run does not depend on the process-wide RNG).
  public convenience init(teacher: UNet2DConditionModel, timeCondProjDim: Int, gradientCheckpointing: Bool, generator: Generator) throws {
    let device = teacher.store.device
    var cfg = teacher.config
    if cfg.timeCondProjDim == nil { cfg.timeCondProjDim = timeCondProjDim }
    let studentStore = ParameterStore(device: device)
    let student = try UNet2DConditionModel(config: cfg, store: studentStore)
    try studentStore.load(
      Dictionary(uniqueKeysWithValues: teacher.store.stateDict()), source: "teacher unet",
      keepMissing: ["time_embedding.cond_proj.weight"])
    if teacher.config.timeCondProjDim == nil, let condProj = studentStore["time_embedding.cond_proj.weight"] {
      let bound = 1 / Double(cfg.timeCondProjDim!).squareRoot()
      _ = try Torch.noGrad { () throws(TorchError) in try condProj.tensor.uniform_(-bound, bound, generator: generator) }
    }
    studentStore.isTraining = true
    student.gradientCheckpointing = gradientCheckpointing
    let targetStore = ParameterStore(device: device)
    let target = try UNet2DConditionModel(config: cfg, store: targetStore)
    try targetStore.load(Dictionary(uniqueKeysWithValues: studentStore.stateDict()), source: "student unet")
    try targetStore.setTrainable(false)
    try self.init(teacher: teacher, student: student, target: target)
  }

  public var guidanceEmbeddingDim: Int? { studentUNet.config.timeCondProjDim }
  public var trainableParameters: [Parameter] { studentUNet.store.trainableParameters }
  public var teacherDType: DType { teacherUNet.store.dtype }
  public var trainingStore: ParameterStore { studentUNet.store }

  public func student(_ x: Tensor, timestep: Tensor, conditioning c: Conditioning, timestepCond: Tensor?) throws -> Tensor {
    try studentUNet(x, timestep: timestep, encoderHiddenStates: c.promptEmbeds, timestepCond: timestepCond, addedConditions: c.addedConditions)
  }

  public func teacher(_ x: Tensor, timestep: Tensor, conditioning c: Conditioning) throws -> Tensor {
    try teacherUNet(x, timestep: timestep, encoderHiddenStates: c.promptEmbeds, addedConditions: c.addedConditions)
  }

  /// The script's target UNet is not accelerate-prepared: its output stays in the autocast dtype.
  public func target(_ x: Tensor, timestep: Tensor, conditioning c: Conditioning, timestepCond: Tensor?) throws -> Tensor {
    try targetUNet(x, timestep: timestep, encoderHiddenStates: c.promptEmbeds, timestepCond: timestepCond, addedConditions: c.addedConditions)
  }

  public func afterStep(emaDecay: Double) throws {
    try updateEMA(target: targetUNet.store, source: studentUNet.store, rate: emaDecay)
  }

  public func writeCheckpointModels(to dir: String) throws {
    try studentUNet.save(folder: "\(dir)/unet")
    try targetUNet.save(folder: "\(dir)/unet_target")
  }

  public func loadCheckpointModels(from dir: String) throws {
    for (store, name) in [(studentUNet.store, "unet"), (targetUNet.store, "unet_target")] {
      try fileOperation("loading the checkpoint's \(name == "unet" ? "student" : "EMA target") UNet from", "\(dir)/\(name)") {
        try store.load(safetensors: try ModelFiles.weights(in: "\(dir)/\(name)", base: "diffusion_pytorch_model"))
      }
    }
  }

  /// `unet/` (the online student) and `unet_target/` (the EMA target) in diffusers layout.
  public func saveFinal(to dir: String) throws -> [String] {
    try fileOperation("saving the final student UNet to", "\(dir)/unet") { try studentUNet.save(folder: "\(dir)/unet") }
    try fileOperation("saving the final EMA target UNet to", "\(dir)/unet_target") { try targetUNet.save(folder: "\(dir)/unet_target") }
    return ["\(dir)/unet", "\(dir)/unet_target"]
  }

  public var validationUNets: [(name: String, unet: UNet2DConditionModel)] { [("target", targetUNet), ("online", studentUNet)] }
  /// log_validation's pipeline default (7.5, embedded as w = 6.5).
  /// The pipeline's default guidance: SD's 7.5 (embedded as w = 6.5, S1), SDXL's 5.0 (w = 4.0, S3).
  public var validationGuidanceScale: Double { studentUNet.config.additionEmbedType == "text_time" ? 5.0 : 7.5 }
}
