import DiffusionModels
import LCMPipeline
import Torch
import TorchNN

/// What a training run optimises, apart from the loop: the models that train, a micro-batch's
/// loss from its latents and conditioning, what happens after each step (an EMA update), what a
/// checkpoint and the final output hold, and how validation samples. `LCDTrainer` runs the loop
/// (data, mixed precision, accumulation, clipping, the optimizer, the LR schedule, loss scaling,
/// the c10d Reducer, checkpoints) for any objective: latent consistency distillation
/// (`LatentConsistencyDistillation`, `lcm distill` / `distill-lora`) is one.
public protocol TrainingObjective: AnyObject {
  /// Recorded in checkpoints: a run resumes only a checkpoint of its own kind.
  var kind: String { get }
  /// The parameters the optimizer trains (and the gradients clipped and reduced).
  var trainableParameters: [Parameter] { get }
  /// Dropout and friends follow this store's training flag.
  var trainingStore: ParameterStore { get }
  /// Whether `loss` reads the unconditional (empty-prompt) conditioning (LCD's teacher CFG).
  var usesUnconditional: Bool { get }
  /// One micro-batch's loss (recording gradients); the step's random draws come from the two
  /// generators, made for the global batch and sliced to this rank's rows in data-parallel runs.
  func loss(latents: Tensor, conditioning: Conditioning, unconditional: Conditioning,
            generator: Generator, hostGenerator: Generator, parallel: DataParallel?) throws -> Tensor
  /// After every step (optimizer step taken or skipped).
  func afterStep() throws
  func writeCheckpointModels(to dir: String) throws
  func loadCheckpointModels(from dir: String) throws
  /// The final outputs in `dir`; returns the paths written.
  func saveFinal(to dir: String) throws -> [String]
  /// How validation images are drawn.
  var validation: ValidationSampling { get }
}

/// The UNets validation renders, by name and in order, and the sampler they run with.
public struct ValidationSampling {
  public var unets: [(name: String, unet: UNet2DConditionModel)]
  public var scheduler: StableDiffusionPipeline.SchedulerKind
  public var steps: Int
  public var guidanceScale: Double

  public init(unets: [(name: String, unet: UNet2DConditionModel)], scheduler: StableDiffusionPipeline.SchedulerKind, steps: Int, guidanceScale: Double) {
    (self.unets, self.scheduler, self.steps, self.guidanceScale) = (unets, scheduler, steps, guidanceScale)
  }
}

/// LCD (the scripts' step over a `DistillationMethod`): validation with the LCM scheduler, 4 steps.
extension LatentConsistencyDistillation: TrainingObjective {
  public var kind: String { method is LoRADistillation ? "lora" : "full_unet" }
  public var trainableParameters: [Parameter] { method.trainableParameters }
  public var trainingStore: ParameterStore { method.trainingStore }
  public var usesUnconditional: Bool { true }

  public func loss(latents: Tensor, conditioning: Conditioning, unconditional: Conditioning,
                   generator: Generator, hostGenerator: Generator, parallel: DataParallel?) throws -> Tensor {
    let randomness = try draw(latents: latents, generator: generator, hostGenerator: hostGenerator, parallel: parallel)
    return try loss(latents: latents, conditioning: conditioning, unconditional: unconditional, randomness: randomness).loss
  }

  public func afterStep() throws { try method.afterStep(emaDecay: config.emaDecay) }
  public func writeCheckpointModels(to dir: String) throws { try method.writeCheckpointModels(to: dir) }
  public func loadCheckpointModels(from dir: String) throws { try method.loadCheckpointModels(from: dir) }
  public func saveFinal(to dir: String) throws -> [String] { try method.saveFinal(to: dir) }

  public var validation: ValidationSampling {
    ValidationSampling(unets: method.validationUNets, scheduler: .lcm, steps: 4, guidanceScale: method.validationGuidanceScale)
  }
}
