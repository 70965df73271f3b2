import ArgumentParser
import DiffusionModels
import Foundation
import LCMTraining
import Logging
import Synchronization
import Torch
import WebDataset

/// The signal that asked the run to stop (SIGINT / SIGTERM), 0 while none did.
let stopSignal = Atomic<Int32>(0)

extension Distill {
  func run() throws {
    let log = Log.logger("lcm.distill")
    // a parent may have left them blocked (spawned processes inherit the mask)
    var unblock = sigset_t()
    sigemptyset(&unblock)
    for sig in [SIGINT, SIGTERM] { sigaddset(&unblock, sig) }
    pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
    for sig in [SIGINT, SIGTERM] {
      signal(sig) { s in
        stopSignal.store(s, ordering: .relaxed)
        signal(s, SIG_DFL)  // a second one ends the process at once
      }
    }
    print(deviceLine)
    for warning in flagReport().warnings { log.warning("\(warning)") }
    if let cacheDir { setenv("HF_HUB_CACHE", cacheDir, 1) }
    if enableXformers { log.info("--enable_xformers_memory_efficient_attention: attention already uses torch's memory-efficient SDPA kernels") }
    if localRank >= 0 { log.info("--local_rank \(localRank): single-process run on \(runDevice)") }
    if allowTF32 { try Torch.setAllowTF32(true) }
    let seed = self.seed ?? UInt64.random(in: 0...UInt64(UInt32.max))
    if self.seed == nil { log.info("no --seed: using \(seed)") }
    let (steps, epochs) = stepsAndEpochs()
    if let epochs { log.info("\(steps) steps (\(epochs) epoch(s) of --max_train_samples \(maxTrainSamples!))") }

    let source: DataConfig.Source = trainShards.map { .webDataset($0) }
      ?? .imageFolder(dir: trainDataDir!, imageColumn: "image", captionColumn: "text")
    let transform = ImageTransform(
      resolution: resolution, interpolation: Interpolation(rawValue: interpolationType)!, centerCrop: centerCrop, randomFlip: randomFlip)
    let dataConfig = DataConfig(source: source, transform: transform, batchSize: trainBatchSize, numWorkers: dataloaderNumWorkers, seed: seed)
    // the output folder: locked for the run (an existing one at once), leftovers of a killed run
    // removed, the checkpoint to resume found; an earlier run's checkpoints are never overwritten
    let folder = try OutputFolder(outputDir)
    let leftovers = folder.removeLeftovers()
    if !leftovers.isEmpty {
      print("removed \(leftovers.count) temporary file(s) left by an interrupted run: \(leftovers.map { ($0 as NSString).lastPathComponent }.joined(separator: ", "))")
    }
    var checkpointDir: String?
    if let resume = resumeFromCheckpoint {
      // as the script: "latest" or a folder name looked up inside --output_dir (a full path also works)
      checkpointDir = try folder.resolveCheckpoint(resume)
      if checkpointDir == nil { print("no checkpoint in \(outputDir) to resume (--resume_from_checkpoint latest): starting a new training run") }
    } else if let newest = folder.checkpointSteps.last, !overwriteOutputDir {
      throw ConfigError(outputDir, "holds checkpoints of an earlier run (newest checkpoint-\(newest)): resume it with --resume_from_checkpoint latest, "
        + "or pass --overwrite_output_dir to start afresh (removes them), or choose another --output_dir")
    }
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
    let data = try DataPipeline(config: dataConfig, resumeFrom: resumeData, onFault: { event in log.warning("\(event)") })
    defer { data.stop() }
    // a signal ends a wait for data within 0.2 s, in every phase
    func nextBatches() throws -> [TrainingBatch] {
      try (0..<gradientAccumulationSteps).map { _ in
        let batch = try data.next(shouldStop: { stopSignal.load(ordering: .relaxed) != 0 })
        return TrainingBatch(pixels: batch.pixels, resolution: batch.resolution, captions: batch.captions)
      }
    }
    // the first batch before the models load and before anything is written: bad data fails fast
    var pending: [TrainingBatch]?
    do { pending = try nextBatches() } catch DataError.interrupted {
      let sig = stopSignal.load(ordering: .relaxed)
      print("stopped by \(sig == SIGINT ? "SIGINT" : "SIGTERM") before training started: nothing written")
      throw ExitCode(128 + sig)
    }
    let trainer = try LCDTrainer(config: trainingConfig(seed: seed), logger: log)
    try folder.create()
    if checkpointDir == nil, overwriteOutputDir {
      let removed = try folder.removeCheckpoints()
      if !removed.isEmpty { print("--overwrite_output_dir: removed the earlier run's \(removed.joined(separator: ", "))") }
    }
    if let checkpointDir {
      _ = try trainer.loadCheckpoint(checkpointDir)
      print("resumed from \(checkpointDir) at step \(trainer.globalStep)")
    }
    let boardDir = "\(outputDir)/\(loggingDir)/\(trackerProjectName)"
    let board = try reportTo == "none" ? nil : fileOperation("opening the TensorBoard log in", boardDir) { try TensorBoardWriter(logDir: boardDir) }
    try writeRunConfig(seed: seed)
    let prompts = validationPrompts.isEmpty ? LCDTrainer.scriptValidationPrompts : validationPrompts

    var progress = Progress(total: steps, start: trainer.globalStep, batch: trainBatchSize * gradientAccumulationSteps)
    var lastCheckpoint = trainer.globalStep
    // pruned only once the new checkpoint is complete: a failed write leaves the earlier ones
    func checkpoint(position: DataPosition? = nil) throws {
      let path = try trainer.saveCheckpoint(in: folder, dataPosition: try (position ?? data.position).encoded())
      lastCheckpoint = trainer.globalStep
      progress.message("saved \(path)")
      if let limit = checkpointsTotalLimit {
        for dir in folder.prune(keep: limit) { progress.message("removed \(dir) (--checkpoints_total_limit \(limit))") }
      }
    }
    let runDevice = self.runDevice
    if runDevice.kind == .cuda { try CUDA.resetPeakMemoryStats(runDevice.index ?? 0) }

    var stepStartPosition: DataPosition?
    while trainer.globalStep < steps {
      if stopSignal.load(ordering: .relaxed) != 0 { break }
      // the position before this step's batches: a checkpoint after an interrupted wait resumes here
      stepStartPosition = data.position
      let micro: [TrainingBatch]
      do { micro = try pending ?? nextBatches() } catch DataError.interrupted { break }
      pending = nil
      stepStartPosition = nil
      let r: LCDTrainer.StepResult
      do { r = try trainer.step(micro) } catch let e as TorchError where e.message.contains("out of memory") {
        throw ConfigError("step \(trainer.globalStep + 1)", "out of memory at --train_batch_size \(trainBatchSize), --resolution \(resolution): "
          + "lower them, or add --gradient_checkpointing / --mixed_precision fp16")
      }
      progress.update(r)
      var scalars = [("loss", r.loss), ("lr", r.lr), ("grad_norm", r.gradNorm), ("skipped_samples", Double(data.faults.total))]
      if let rate = progress.samplesPerSecond { scalars.append(("samples_per_second", rate)) }
      if let scale = r.lossScale { scalars.append(("loss_scale", scale)) }
      for (tag, value) in scalars { try board?.scalar(tag, value, step: r.step) }
      if r.skipped { progress.message("step \(r.step): inf/NaN gradients under fp16, step skipped, loss scale now \(trainer.scaler!.scale)") }
      let pauseStart = BenchClock.now()
      if r.step % checkpointingSteps == 0 { try checkpoint() }
      if r.step % validationSteps == 0 {
        let paths = try trainer.writeValidation(prompts: prompts, seed: seed, board: board) { progress.message($0) }
        progress.message("validation images: \(paths.joined(separator: ", "))")
      }
      progress.paused += BenchClock.now() - pauseStart
    }
    try board?.flush()
    let sig = stopSignal.load(ordering: .relaxed)
    if sig != 0 {
      if lastCheckpoint != trainer.globalStep { try checkpoint(position: stepStartPosition) }
      progress.finish()
      print("stopped by \(sig == SIGINT ? "SIGINT" : "SIGTERM") at step \(trainer.globalStep): resume with --resume_from_checkpoint latest")
      throw ExitCode(128 + sig)
    }
    try trainer.save(to: outputDir)
    progress.finish()
    print("saved \(outputDir)/unet and \(outputDir)/unet_target")
    print(progress.summary(device: runDevice))
    if pushToHub { print("--push_to_hub: to upload the outputs, run: \(uploadCommand)") }
  }
}

/// A progress bar on a terminal (step, it/s, ETA, loss), one line per step otherwise (logs, tests).
struct Progress {
  let total: Int
  let start: Int
  let batch: Int
  let tty = isatty(STDOUT_FILENO) != 0
  var began = BenchClock.now()
  var firstStepEnd: Double?
  var last: Double = 0
  var done = 0
  /// Time in checkpoints and validation, left out of the training rates.
  var paused = 0.0
  /// `paused` when the first and the latest step ended: only pauses between them count (those
  /// after the last step, a final checkpoint or validation, are not training time).
  var pausedAtFirst = 0.0
  var pausedAtLast = 0.0
  /// Training seconds from the end of the first step to the end of the latest.
  var trainingSeconds: Double? {
    guard let f = firstStepEnd, done > 1 else { return nil }
    return last - f - (pausedAtLast - pausedAtFirst)
  }

  init(total: Int, start: Int, batch: Int) {
    (self.total, self.start, self.batch) = (total, start, batch)
  }

  /// Samples per second over the steps after the first (warm-up) one.
  var samplesPerSecond: Double? {
    guard let t = trainingSeconds, t > 0 else { return nil }
    return Double(batch * (done - 1)) / t
  }

  mutating func update(_ r: LCDTrainer.StepResult) {
    done += 1
    last = BenchClock.now()
    pausedAtLast = paused
    if done == 1 { (firstStepEnd, pausedAtFirst) = (last, paused) }
    let perStep = (last - began - pausedAtLast) / Double(done)
    let eta = Int(perStep * Double(total - r.step))
    let rate = BenchClock.fmt(1 / perStep)
    if tty {
      let width = 24, filled = width * r.step / max(total, 1)
      let bar = String(repeating: "█", count: filled) + String(repeating: " ", count: width - filled)
      print("\rSteps \(r.step)/\(total) |\(bar)| \(rate) it/s ETA \(eta / 60):\(String(format: "%02d", eta % 60)) loss \(String(format: "%.5g", r.loss)) lr \(String(format: "%.3g", r.lr))", terminator: "")
      fflush(nil)
    } else {
      print("step \(r.step)/\(total) loss \(r.loss) grad_norm \(BenchClock.fmt(r.gradNorm)) lr \(r.lr) \(rate) it/s ETA \(eta) s")
      fflush(nil)  // line by line into log files and pipes too
    }
  }

  func message(_ text: String) {
    print(tty ? "\r\u{1B}[K\(text)" : text)
    fflush(nil)
  }

  func finish() { if tty { print("") } }

  /// The benchmark line (scripts/bench_distill.sh reads it).
  func summary(device: Device) -> String {
    let steps = max(done - 1, 0)
    let perStep = trainingSeconds.map { $0 / Double(steps) } ?? .nan
    var peak = 0.0
    if device.kind == .cuda, let stats = try? CUDA.memoryStats(device.index ?? 0) {
      peak = Double(stats.peakAllocated) / Double(1 << 20)
    } else {
      var usage = rusage()
      getrusage(RUSAGE_SELF.rawValue, &usage)
      peak = Double(usage.ru_maxrss) / 1024
    }
    return "summary: steps=\(steps) seconds_per_step=\(String(format: "%.4f", perStep)) "
      + "samples_per_second=\(String(format: "%.2f", samplesPerSecond ?? .nan)) peak_memory_mib=\(String(format: "%.0f", peak))"
  }
}
