import ArgumentParser
import Foundation
import LCMTraining
import Torch
import WebDataset

/// `lcm distill`: full-UNet latent consistency distillation (train_lcm_distill_sd_wds.py), first
/// version: the step, AdamW, clipping, LR schedules, EMA target, data streaming, final save.
struct Distill: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Distill an SD 1.x / 2.x teacher into an LCM (full UNet + EMA target), as train_lcm_distill_sd_wds.py.")

  @Option(name: .customLong("pretrained_teacher_model")) var pretrainedTeacherModel: String
  @Option(name: .customLong("teacher_revision")) var teacherRevision: String?
  @Option(name: .customLong("output_dir")) var outputDir = "lcm-xl-distilled"
  @Option(name: .customLong("train_shards_path_or_url")) var trainShards: String?
  @Option(name: .customLong("train_data_dir"), help: "An image folder instead of shards.") var trainDataDir: String?
  @Option(name: .customLong("resolution")) var resolution = 512
  @Option(name: .customLong("interpolation_type")) var interpolationType = "bilinear"
  @Flag(name: .customLong("center_crop")) var centerCrop = false
  @Flag(name: .customLong("random_flip")) var randomFlip = false
  @Option(name: .customLong("train_batch_size")) var trainBatchSize = 16
  @Option(name: .customLong("dataloader_num_workers")) var dataloaderNumWorkers = 0
  @Option(name: .customLong("max_train_steps")) var maxTrainSteps = 1000
  @Option(name: .customLong("learning_rate")) var learningRate = 1e-4
  @Option(name: .customLong("lr_scheduler")) var lrScheduler = "constant"
  @Option(name: .customLong("lr_warmup_steps")) var lrWarmupSteps = 500
  @Option(name: .customLong("adam_beta1")) var adamBeta1 = 0.9
  @Option(name: .customLong("adam_beta2")) var adamBeta2 = 0.999
  @Option(name: .customLong("adam_weight_decay")) var adamWeightDecay = 1e-2
  @Option(name: .customLong("adam_epsilon")) var adamEpsilon = 1e-8
  @Option(name: .customLong("max_grad_norm")) var maxGradNorm = 1.0
  @Option(name: .customLong("w_min")) var wMin = 5.0
  @Option(name: .customLong("w_max")) var wMax = 15.0
  @Option(name: .customLong("num_ddim_timesteps")) var numDDIMTimesteps = 50
  @Option(name: .customLong("loss_type")) var lossType = "l2"
  @Option(name: .customLong("huber_c")) var huberC = 0.001
  @Option(name: .customLong("unet_time_cond_proj_dim")) var unetTimeCondProjDim = 256
  @Option(name: .customLong("timestep_scaling_factor")) var timestepScalingFactor = 10.0
  @Option(name: .customLong("ema_decay")) var emaDecay = 0.95
  @Option(name: .customLong("vae_encode_batch_size")) var vaeEncodeBatchSize = 32
  @Flag(name: .customLong("gradient_checkpointing")) var gradientCheckpointing = false
  @Option(name: .customLong("gradient_accumulation_steps")) var gradientAccumulationSteps = 1
  @Option(name: .customLong("proportion_empty_prompts")) var proportionEmptyPrompts = 0.0
  @Option(name: .customLong("checkpointing_steps")) var checkpointingSteps = 500
  @Option(name: .customLong("checkpoints_total_limit")) var checkpointsTotalLimit: Int?
  @Option(name: .customLong("resume_from_checkpoint"), help: "latest, or a checkpoint folder.") var resumeFromCheckpoint: String?
  @Option(name: .customLong("logging_dir"), help: "TensorBoard logs, under --output_dir.") var loggingDir = "logs"
  @Option(name: .customLong("report_to")) var reportTo = "tensorboard"
  @Option(name: .customLong("seed")) var seed: UInt64 = 0
  @Option(name: .customLong("device"), help: "cpu or cuda[:N].") var device = "cpu"

  func validate() throws {
    guard (trainShards == nil) != (trainDataDir == nil) else {
      throw ValidationError("give exactly one of --train_shards_path_or_url and --train_data_dir")
    }
    guard resolution > 0, resolution % 8 == 0 else { throw ValidationError("--resolution must be a positive multiple of 8, got \(resolution)") }
    guard ["l2", "huber"].contains(lossType) else { throw ValidationError("--loss_type must be l2 or huber, got '\(lossType)'") }
    guard trainBatchSize > 0, maxTrainSteps > 0 else { throw ValidationError("--train_batch_size and --max_train_steps must be positive") }
    guard reportTo == "tensorboard" else {
      throw ValidationError("--report_to \(reportTo) is not supported: swift-lcm writes TensorBoard event files (no network services)")
    }
    guard gradientAccumulationSteps > 0 else { throw ValidationError("--gradient_accumulation_steps must be positive") }
    guard (0...1).contains(proportionEmptyPrompts) else { throw ValidationError("--proportion_empty_prompts must be in [0, 1]") }
    guard checkpointingSteps > 0 else { throw ValidationError("--checkpointing_steps must be positive") }
    guard wMin <= wMax else { throw ValidationError("--w_min (\(wMin)) must not exceed --w_max (\(wMax))") }
    guard Device(parsing: device) != nil else { throw ValidationError("--device must be cpu or cuda[:N], got '\(device)'") }
    guard Interpolation(rawValue: interpolationType) != nil else {
      throw ValidationError("--interpolation_type must be one of \(Interpolation.allCases.map(\.rawValue).joined(separator: ", "))")
    }
  }

  /// The run's settings, as the scripts' tracker config (output_dir/run_config.json).
  func writeRunConfig() throws {
    let mirror = Mirror(reflecting: self)
    var config: [String: Any] = [:]
    for child in mirror.children {
      guard var name = child.label else { continue }
      if name.hasPrefix("_") { name.removeFirst() }
      let value = "\(child.value)"
      config[name] = value
    }
    try FileManager.default.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
    let data = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys])
    try data.write(to: URL(fileURLWithPath: "\(outputDir)/run_config.json"))
  }

  func run() throws {
    let log = Log.logger("lcm.distill")
    var c = LCDTrainingConfig(teacher: pretrainedTeacherModel)
    c.revision = teacherRevision
    c.outputDir = outputDir
    c.seed = seed
    c.device = Device(parsing: device)!
    (c.maxTrainSteps, c.learningRate, c.lrScheduler, c.lrWarmupSteps) = (maxTrainSteps, learningRate, lrScheduler, lrWarmupSteps)
    (c.adamBeta1, c.adamBeta2, c.adamWeightDecay, c.adamEpsilon, c.maxGradNorm) = (adamBeta1, adamBeta2, adamWeightDecay, adamEpsilon, maxGradNorm)
    (c.unetTimeCondProjDim, c.vaeEncodeBatchSize, c.gradientCheckpointing) = (unetTimeCondProjDim, vaeEncodeBatchSize, gradientCheckpointing)
    (c.lcd.wMin, c.lcd.wMax, c.lcd.numDDIMTimesteps, c.lcd.huberC) = (wMin, wMax, numDDIMTimesteps, huberC)
    (c.lcd.timestepScalingFactor, c.lcd.emaDecay) = (timestepScalingFactor, emaDecay)
    c.lcd.lossType = lossType == "l2" ? .l2 : .huber
    (c.gradientAccumulationSteps, c.proportionEmptyPrompts) = (gradientAccumulationSteps, proportionEmptyPrompts)
    let trainer = try LCDTrainer(config: c, logger: log)
    var resumeData: DataPosition?
    if let resume = resumeFromCheckpoint {
      let dir = resume == "latest" ? LCDTrainer.latestCheckpoint(in: outputDir) : resume
      if let dir {
        if let position = try trainer.loadCheckpoint(dir) { resumeData = try DataPosition.decode(position) }
        print("resumed from \(dir) at step \(trainer.globalStep)")
      } else {
        print("no checkpoint in \(outputDir): starting a new run")
      }
    }

    let source: DataConfig.Source = trainShards.map { .webDataset($0) }
      ?? .imageFolder(dir: trainDataDir!, imageColumn: "image", captionColumn: "text")
    let transform = ImageTransform(
      resolution: resolution, interpolation: Interpolation(rawValue: interpolationType)!, centerCrop: centerCrop, randomFlip: randomFlip)
    let data = try DataPipeline(
      config: DataConfig(source: source, transform: transform, batchSize: trainBatchSize, numWorkers: dataloaderNumWorkers, seed: seed),
      resumeFrom: resumeData, onFault: { event in log.warning("\(event)") })
    defer { data.stop() }
    let board = try TensorBoardWriter(logDir: "\(outputDir)/\(loggingDir)")
    try writeRunConfig()
    let start = BenchClock.now()
    let first = trainer.globalStep
    while trainer.globalStep < maxTrainSteps {
      let micro = try (0..<gradientAccumulationSteps).map { _ in
        let batch = try data.next()
        return TrainingBatch(pixels: batch.pixels, resolution: batch.resolution, captions: batch.captions)
      }
      let r = try trainer.step(micro)
      let elapsed = BenchClock.now() - start
      let perStep = elapsed / Double(r.step - first)
      print("step \(r.step)/\(maxTrainSteps) loss \(r.loss) grad_norm \(BenchClock.fmt(r.gradNorm)) lr \(r.lr) "
        + "\(BenchClock.fmt(1 / perStep)) it/s ETA \(Int(perStep * Double(maxTrainSteps - r.step))) s")
      for (tag, value) in [("loss", r.loss), ("lr", r.lr), ("grad_norm", r.gradNorm),
                           ("samples_per_second", Double(trainBatchSize * gradientAccumulationSteps) / perStep), ("skipped_samples", Double(data.faults.total))] {
        try board.scalar(tag, value, step: r.step)
      }
      if r.step % checkpointingSteps == 0 {
        let path = try trainer.saveCheckpoint(in: outputDir, dataPosition: try data.position.encoded())
        if let limit = checkpointsTotalLimit { LCDTrainer.pruneCheckpoints(in: outputDir, keep: limit) }
        print("saved \(path)")
      }
    }
    try board.flush()
    try trainer.save(to: outputDir)
    print("saved \(outputDir)/unet and \(outputDir)/unet_target")
  }
}
