import DiffusionModels
import Foundation
import Logging
import Torch
import WebDataset

/// What a run reports as it goes: the executable draws progress from it; tests can listen.
public protocol TrainingObserver: AnyObject {
  /// A training step finished; `clock` has the rates so far.
  func stepped(_ result: LCDTrainer.StepResult, clock: TrainingClock)
  /// A line for the user (checkpoints, pruning, validation, resume).
  func message(_ text: String)
  /// The run ends (finished, or stopped by a signal).
  func finishing()
}

/// CLOCK_MONOTONIC in seconds.
public func monotonicSeconds() -> Double {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Training time only: from the end of the first step (warm-up left out) to the end of the latest,
/// without the checkpoints and validation in between (nor those after the last step).
public struct TrainingClock: Sendable {
  public let batch: Int
  public private(set) var began = monotonicSeconds()
  public private(set) var firstStepEnd: Double?
  public private(set) var last: Double = 0
  public private(set) var done = 0
  public private(set) var paused = 0.0
  var pausedAtFirst = 0.0, pausedAtLast = 0.0

  public init(batch: Int) { self.batch = batch }

  mutating func stepEnded() {
    done += 1
    last = monotonicSeconds()
    pausedAtLast = paused
    if done == 1 { (firstStepEnd, pausedAtFirst) = (last, paused) }
  }

  mutating func pause(_ seconds: Double) { paused += seconds }

  /// Seconds per step over all steps of this process (for the ETA).
  public var secondsPerStep: Double { done > 0 ? (last - began - pausedAtLast) / Double(done) : .nan }

  /// Training seconds from the end of the first step to the end of the latest.
  public var trainingSeconds: Double? {
    guard let f = firstStepEnd, done > 1 else { return nil }
    return last - f - (pausedAtLast - pausedAtFirst)
  }

  /// Samples per second over the steps after the first.
  public var samplesPerSecond: Double? {
    guard let t = trainingSeconds, t > 0 else { return nil }
    return Double(batch * (done - 1)) / t
  }
}

/// The run's settings that are not the trainer's: the output folder, cadences, resume, logs.
public struct RunSettings {
  public var outputDir: String
  public var maxTrainSteps: Int
  public var checkpointingSteps: Int
  public var checkpointsTotalLimit: Int?
  public var resumeFromCheckpoint: String?
  public var overwriteOutputDir = false
  public var validationSteps: Int
  public var validationPrompts: [String]
  /// S5 also validates once after the last step (its "test" run).
  public var validateAtEnd = false
  /// Data-parallel runs: rank 0 owns the output folder (checkpoints, validation, logs, final
  /// UNets); the other ranks train and meet it at a barrier after each of those.
  public var parallel: DataParallel?
  /// TensorBoard event folder (nil: no logs).
  public var tensorBoardDir: String?
  /// Written as output_dir/run_config.json (the scripts' tracker config).
  public var runConfig: [String: Any] = [:]
  public var gradientAccumulationSteps = 1
  public var seed: UInt64
  /// For the out-of-memory message.
  public var trainBatchSize: Int
  public var resolution: Int

  public init(
    outputDir: String, maxTrainSteps: Int, checkpointingSteps: Int, validationSteps: Int, validationPrompts: [String],
    seed: UInt64, trainBatchSize: Int, resolution: Int
  ) {
    (self.outputDir, self.maxTrainSteps, self.checkpointingSteps, self.validationSteps) = (outputDir, maxTrainSteps, checkpointingSteps, validationSteps)
    (self.validationPrompts, self.seed, self.trainBatchSize, self.resolution) = (validationPrompts, seed, trainBatchSize, resolution)
  }
}

/// How a run ended.
public enum RunOutcome: Equatable {
  case finished
  /// A signal before the first batch arrived: nothing was written.
  case stoppedBeforeStart(signal: Int32)
  /// A signal during training: a checkpoint of the last complete step was written.
  case stopped(signal: Int32, step: Int)
}

/// The loop of the distillation scripts around a trainer: the output folder (locked, leftovers
/// removed, an earlier run's checkpoints never overwritten), resume, the data stream (the first
/// batch before the models load), steps, checkpoints with pruning, validation, TensorBoard, the
/// final save, and stopping at a signal. `makeTrainer` builds the method's trainer.
public final class DistillationRun {
  public let settings: RunSettings
  public let data: DataConfig
  let logger: Logger
  let observer: TrainingObserver
  let shouldStop: @Sendable () -> Int32
  let makeTrainer: () throws -> LCDTrainer
  /// The trainer, once built (for the caller's summary).
  public private(set) var trainer: LCDTrainer?
  public private(set) var clock: TrainingClock

  public init(
    settings: RunSettings, data: DataConfig, logger: Logger, observer: TrainingObserver,
    shouldStop: @escaping @Sendable () -> Int32, makeTrainer: @escaping () throws -> LCDTrainer
  ) {
    (self.settings, self.data, self.logger, self.observer, self.shouldStop, self.makeTrainer) = (settings, data, logger, observer, shouldStop, makeTrainer)
    clock = TrainingClock(batch: data.batchSize * settings.gradientAccumulationSteps)
  }

  public func run() throws -> RunOutcome {
    guard let parallel = settings.parallel else { return try runLeader() }
    // a rank that freezes or vanishes without closing its connections ends the others too
    try parallel.group.watchPeers(stallSeconds: parallel.peerTimeout, agentStore: parallel.agentStore)
    defer { try? parallel.group.watchPeers(stallSeconds: 0, agentStore: parallel.agentStore) }
    do {
      return try parallel.rank == 0 ? runLeader() : runFollower(parallel)
    } catch {
      throw parallel.explain(error)  // a peer that died shows here as a failed collective
    }
  }

  /// A single process, or rank 0 of a data-parallel run.
  func runLeader() throws -> RunOutcome {
    let s = settings
    let log = logger
    // the output folder: locked for the run (an existing one at once), leftovers of a killed run
    // removed, the checkpoint to resume found; an earlier run's checkpoints are never overwritten
    let folder = try OutputFolder(s.outputDir)
    let leftovers = folder.removeLeftovers()
    if !leftovers.isEmpty {
      observer.message("removed \(leftovers.count) temporary file(s) left by an interrupted run: \(leftovers.map { ($0 as NSString).lastPathComponent }.joined(separator: ", "))")
    }
    var checkpointDir: String?
    if let resume = s.resumeFromCheckpoint {
      // as the script: "latest" or a folder name looked up inside --output_dir (a full path also works)
      checkpointDir = try folder.resolveCheckpoint(resume)
      if checkpointDir == nil { observer.message("no checkpoint in \(s.outputDir) to resume (--resume_from_checkpoint latest): starting a new training run") }
    } else if let newest = folder.checkpointSteps.last, !s.overwriteOutputDir {
      throw ConfigError(s.outputDir, "holds checkpoints of an earlier run (newest checkpoint-\(newest)): resume it with --resume_from_checkpoint latest, "
        + "or pass --overwrite_output_dir to start afresh (removes them), or choose another --output_dir")
    }
    // data-parallel: the other ranks resume from the same checkpoint, each at its own position
    if let parallel = s.parallel { _ = try parallel.broadcast(checkpointDir) }
    var resumeData: DataPosition?
    if let checkpointDir, LCDTrainer.isUpstreamCheckpoint(checkpointDir) {
      log.warning("\(checkpointDir) was written by the Python script: its unet/, unet_target/ and step are restored; the optimizer, LR scheduler, loss scaler and random states restart fresh (accelerate's pickles are never read) and the data stream starts from its beginning")
    } else if let checkpointDir {
      let positionPath = "\(checkpointDir)/data_position.json"
      if let bytes = FileManager.default.contents(atPath: positionPath) {
        resumeData = try DataPosition.decode(bytes)
      } else {
        log.warning("\(positionPath) is missing: the data stream restarts from its beginning instead of where the checkpoint left it (the weights, optimizer and step are restored)")
      }
    }
    let stream = try DataPipeline(config: data, resumeFrom: resumeData, onFault: { event in log.warning("\(event)") })
    defer { stream.stop() }
    // a signal ends a wait for data within 0.2 s, in every phase; in data-parallel runs the ranks
    // stop together at a step boundary instead (all-reduced flag): a rank leaving a wait on its
    // own would meet the others' collectives with different ones
    let stop = shouldStop
    let interruptible = s.parallel == nil
    func nextBatches() throws -> [TrainingBatch] {
      try (0..<s.gradientAccumulationSteps).map { _ in
        TrainingBatch(try stream.next(shouldStop: { interruptible && stop() != 0 }))
      }
    }
    // the first batch before the models load and before anything is written: bad data fails fast
    var pending: [TrainingBatch]?
    do { pending = try nextBatches() } catch DataError.interrupted { return .stoppedBeforeStart(signal: stop()) }
    let trainer = try makeTrainer()
    self.trainer = trainer
    try folder.create()
    if checkpointDir == nil, s.overwriteOutputDir {
      let removed = try folder.removeCheckpoints()
      if !removed.isEmpty { observer.message("--overwrite_output_dir: removed the earlier run's \(removed.joined(separator: ", "))") }
    }
    if let checkpointDir {
      _ = try trainer.loadCheckpoint(checkpointDir)
      observer.message("resumed from \(checkpointDir) at step \(trainer.globalStep)")
    }
    let board = try s.tensorBoardDir.map { dir in try fileOperation("opening the TensorBoard log in", dir) { try TensorBoardWriter(logDir: dir) } }
    try writeRunConfig()
    let device = trainer.config.device
    if device.kind == .cuda { try CUDA.resetPeakMemoryStats(device.index ?? 0) }

    var lastCheckpoint = trainer.globalStep
    // pruned only once the new checkpoint is complete: a failed write leaves the earlier ones
    func checkpoint(position: DataPosition? = nil) throws {
      let mine = try (position ?? stream.position).encoded()
      let others = try s.parallel.map { try $0.gather([UInt8](mine)).dropFirst().map { Data($0) } } ?? []
      let path = try trainer.saveCheckpoint(in: folder, dataPosition: mine, otherPositions: others)
      lastCheckpoint = trainer.globalStep
      observer.message("saved \(path)")
      if let limit = s.checkpointsTotalLimit {
        for dir in folder.prune(keep: limit) { observer.message("removed \(dir) (--checkpoints_total_limit \(limit))") }
      }
    }
    var stepStartPosition: DataPosition?
    var stopRequested = false  // here or, in data-parallel runs, on any rank
    while trainer.globalStep < s.maxTrainSteps {
      if try s.parallel?.any(stop() != 0) ?? (stop() != 0) { stopRequested = true; break }
      // the position before this step's batches: a checkpoint after an interrupted wait resumes here
      stepStartPosition = stream.position
      let micro: [TrainingBatch]
      do { micro = try pending ?? nextBatches() } catch DataError.interrupted { break }
      pending = nil
      stepStartPosition = nil
      let r: LCDTrainer.StepResult
      do { r = try trainer.step(micro) } catch let e as TorchError where e.message.contains("out of memory") {
        throw ConfigError("step \(trainer.globalStep + 1)", "out of memory at --train_batch_size \(s.trainBatchSize), --resolution \(s.resolution): "
          + "lower them, or add --gradient_checkpointing / --mixed_precision fp16")
      }
      clock.stepEnded()
      observer.stepped(r, clock: clock)
      var scalars = [("loss", r.loss), ("lr", r.lr), ("grad_norm", r.gradNorm), ("skipped_samples", Double(stream.faults.total))]
      if let rate = clock.samplesPerSecond { scalars.append(("samples_per_second", rate)) }
      if let scale = r.lossScale { scalars.append(("loss_scale", scale)) }
      for (tag, value) in scalars { try board?.scalar(tag, value, step: r.step) }
      if r.skipped { observer.message("step \(r.step): inf/NaN gradients under fp16, step skipped, loss scale now \(trainer.scaler!.scale)") }
      let pauseStart = monotonicSeconds()
      if r.step % s.checkpointingSteps == 0 { try checkpoint(); try s.parallel?.group.barrier() }
      if r.step % s.validationSteps == 0 {
        let paths = try trainer.writeValidation(prompts: s.validationPrompts, seed: s.seed, board: board) { [observer] in observer.message($0) }
        observer.message("validation images: \(paths.joined(separator: ", "))")
        try s.parallel?.group.barrier()
      }
      clock.pause(monotonicSeconds() - pauseStart)
    }
    try board?.flush()
    let sig = stop() != 0 ? stop() : stopRequested ? SIGTERM : 0
    if sig != 0 {
      if lastCheckpoint != trainer.globalStep { try checkpoint(position: stepStartPosition) }
      observer.finishing()
      return .stopped(signal: sig, step: trainer.globalStep)
    }
    try trainer.save(to: s.outputDir)
    if s.validateAtEnd && trainer.globalStep % s.validationSteps != 0 {
      let paths = try trainer.writeValidation(prompts: s.validationPrompts, seed: s.seed, board: board) { [observer] in observer.message($0) }
      try board?.flush()
      observer.message("final validation images: \(paths.joined(separator: ", "))")
    }
    try s.parallel?.group.barrier()
    if let parallel = s.parallel { try checkWeightsAgree(parallel, trainer) }
    observer.finishing()
    return .finished
  }

  /// The end of a data-parallel run: every rank's trainable weights are the same (the reduced
  /// gradients keep them so), checked rather than trusted.
  func checkWeightsAgree(_ parallel: DataParallel, _ trainer: LCDTrainer) throws {
    guard try parallel.sameOnEveryRank(trainer.objective.trainableParameters.map(\.tensor)) else {
      throw ConfigError("the end of training", "the ranks' weights differ after step \(trainer.globalStep): the gradient reduction went wrong (please report it)")
    }
    if parallel.rank == 0 { observer.message("the trainable weights agree on all \(parallel.worldSize) ranks") }
  }

  /// A rank other than 0: the same steps on its share of each global batch, no files; it meets
  /// rank 0 at the barriers after checkpoints, validation and the final save.
  func runFollower(_ parallel: DataParallel) throws -> RunOutcome {
    let s = settings, log = logger
    let checkpointDir = try parallel.broadcast(nil)
    var resumeData: DataPosition?
    if let checkpointDir, let bytes = FileManager.default.contents(atPath: "\(checkpointDir)/\(DataParallel.positionFile(rank: parallel.rank))") {
      resumeData = try DataPosition.decode(bytes)
    }
    let stream = try DataPipeline(config: data, resumeFrom: resumeData, onFault: { event in log.warning("rank \(parallel.rank): \(event)") })
    defer { stream.stop() }
    let stop = shouldStop
    let trainer = try makeTrainer()
    self.trainer = trainer
    if let checkpointDir { _ = try trainer.loadCheckpoint(checkpointDir) }
    var lastCheckpoint = trainer.globalStep
    func checkpoint() throws {
      _ = try parallel.gather([UInt8](try stream.position.encoded()))
      lastCheckpoint = trainer.globalStep
    }
    var stopRequested = false
    while trainer.globalStep < s.maxTrainSteps {
      if try parallel.any(stop() != 0) { stopRequested = true; break }
      let micro = try (0..<s.gradientAccumulationSteps).map { _ in TrainingBatch(try stream.next()) }
      _ = try trainer.step(micro)
      clock.stepEnded()
      if trainer.globalStep % s.checkpointingSteps == 0 { try checkpoint(); try parallel.group.barrier() }
      if trainer.globalStep % s.validationSteps == 0 { try parallel.group.barrier() }
    }
    if stopRequested {
      if lastCheckpoint != trainer.globalStep { try checkpoint() }  // rank 0 writes the stop checkpoint
      return .stopped(signal: stop() != 0 ? stop() : SIGTERM, step: trainer.globalStep)
    }
    try parallel.group.barrier()
    try checkWeightsAgree(parallel, trainer)
    return .finished
  }

  func writeRunConfig() throws {
    let path = "\(settings.outputDir)/run_config.json"
    let data = try JSONSerialization.data(withJSONObject: settings.runConfig, options: [.prettyPrinted, .sortedKeys])
    try fileOperation("writing the run configuration", path) { try data.write(to: URL(fileURLWithPath: path), options: .atomic) }
  }

  /// The benchmark line (scripts/bench_distill.sh reads it): s/step, samples/s and peak memory
  /// after the first step, training time only.
  public func summary() -> String {
    let steps = max(clock.done - 1, 0)
    let perStep = clock.trainingSeconds.map { $0 / Double(steps) } ?? .nan
    var peak = 0.0
    if let device = trainer?.config.device, device.kind == .cuda, let stats = try? CUDA.memoryStats(device.index ?? 0) {
      peak = Double(stats.peakAllocated) / Double(1 << 20)
    } else {
      var usage = rusage()
      getrusage(RUSAGE_SELF.rawValue, &usage)
      peak = Double(usage.ru_maxrss) / 1024
    }
    return "summary: steps=\(steps) seconds_per_step=\(String(format: "%.4f", perStep)) "
      + "samples_per_second=\(String(format: "%.2f", clock.samplesPerSecond ?? .nan)) peak_memory_mib=\(String(format: "%.0f", peak))"
  }
}

extension TrainingBatch {
  /// The trainer's view of a data pipeline batch: pixels, captions, SDXL's sizes and crops.
  init(_ batch: Batch) {
    self.init(pixels: batch.pixels, resolution: batch.resolution, captions: batch.captions)
    originalSizes = batch.originalSizes.map { (height: $0.height, width: $0.width) }
    cropTopLefts = zip(batch.cropTops, batch.cropLefts).map { (top: $0, left: $1) }
  }
}
