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

extension DistillFlags {
  /// The run of either command; `outputs` names what the final line says was saved.
  func runDistillation(outputs: String) throws {
    let log = Log.logger("lcm.\(Self.configuration.commandName ?? "distill")")
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
    // data-parallel: join the ranks (Gloo on the CPU) before anything else is decided together
    let parallel = try DistributedEnvironment.from().map { env in try joinRanks(env, log: log) }
    var seed = self.seed ?? UInt64.random(in: 0...UInt64(UInt32.max))
    if self.seed == nil, let parallel {  // every rank takes rank 0's draw
      let t = try Tensor([Double(seed)], shape: [1])
      try parallel.group.broadcast(t, root: 0)
      seed = UInt64(try t.toArray(Double.self)[0])
    }
    if self.seed == nil { log.info("no --seed: using \(seed)") }
    if let parallel {
      log.info("rank \(parallel.rank) of \(parallel.worldSize) (c10d, \(parallel.backends)): global batch \(trainBatchSize * parallel.worldSize * gradientAccumulationSteps) = --train_batch_size \(trainBatchSize) × \(parallel.worldSize) processes × \(gradientAccumulationSteps) accumulation steps")
    }
    let (steps, epochs) = stepsAndEpochs()
    if let epochs { log.info("\(steps) steps (\(epochs) epoch(s) of --max_train_samples \(maxTrainSamples!))") }

    var dataConfig = DataConfig.fromFlags(
      shards: trainShards, dataDir: trainDataDir, datasetName: datasetName, datasetConfig: imageProcessing.datasetConfigName,
      cacheDir: cacheDir, imageColumn: imageProcessing.imageColumn, captionColumn: imageProcessing.captionColumn, resolution: resolution, interpolation: Interpolation(rawValue: interpolationType)!,
      centerCrop: centerCrop, randomFlip: randomFlip, batchSize: trainBatchSize, workers: dataloaderNumWorkers, seed: seed,
      maxTrainSamples: maxTrainSamples)
    dataConfig.filter = webdatasetFilter
    if let parallel { (dataConfig.rank, dataConfig.worldSize) = (parallel.rank, parallel.worldSize) }
    if let filter = dataConfig.filter { log.info("WebdatasetFilter on the shards (\(filter)); original sizes from the json (--wds_filter off to disable)") }
    var settings = RunSettings(
      outputDir: outputDir, maxTrainSteps: steps, checkpointingSteps: checkpointingSteps, validationSteps: validationSteps,
      validationPrompts: validationPrompts.isEmpty ? (isS5 ? LCDTrainer.s5ValidationPrompts : LCDTrainer.scriptValidationPrompts) : validationPrompts,
      seed: seed, trainBatchSize: trainBatchSize, resolution: resolution)
    (settings.checkpointsTotalLimit, settings.resumeFromCheckpoint, settings.overwriteOutputDir) = (checkpointsTotalLimit, resumeFromCheckpoint, overwriteOutputDir)
    settings.tensorBoardDir = reportTo == "none" ? nil : "\(outputDir)/\(loggingDir)/\(trackerProjectName)"
    settings.runConfig = runConfig(seed: seed)
    settings.gradientAccumulationSteps = gradientAccumulationSteps
    settings.validateAtEnd = isS5
    settings.parallel = parallel
    let progress = Progress(total: steps)
    var config = trainingConfig(seed: seed)
    config.parallel = parallel
    let run = DistillationRun(
      settings: settings, data: dataConfig, logger: log, observer: progress, shouldStop: { stopSignal.load(ordering: .relaxed) },
      makeTrainer: { try LCDTrainer(config: config, logger: log) })
    switch try run.run() {
    case .stoppedBeforeStart(let sig):
      print("stopped by \(signalName(sig)) before training started: nothing written")
      throw ExitCode(128 + sig)
    case .stopped(let sig, let step):
      print("stopped by \(signalName(sig)) at step \(step): resume with --resume_from_checkpoint latest")
      throw ExitCode(128 + sig)
    case .finished:
      if (parallel?.rank ?? 0) == 0 { print("saved \(outputs)") }
      print(run.summary())
      if pushToHub { print("--push_to_hub: to upload the outputs, run: \(uploadCommand)") }
    }
  }
}

extension DistillFlags {
  /// The process group: Gloo for CPU tensors, and NCCL for CUDA ones when the run trains on CUDA
  /// (cuda:LOCAL_RANK made the thread's current device first, as torch.cuda.set_device).
  func joinRanks(_ env: DistributedEnvironment, log: Logger) throws -> DataParallel {
    let group = try env.processGroup()
    var parallel = DataParallel(group: group, agentStore: env.agentStore)
    if let s = ProcessInfo.processInfo.environment["SWIFT_LCM_PEER_TIMEOUT"], let t = Double(s), t > 0 { parallel.peerTimeout = t }
    let d = runDevice
    if d.isCUDA {
      try CUDA.setDevice(d.index ?? env.localRank)
      guard let library = ProcessGroup.ncclLibrary() else { throw ValidationError("libLCMNCCL.so not found (see scripts/setup.sh)") }
      let version = try group.attachNCCL(library: library)
      parallel.backends = "NCCL \(version) on \(d), Gloo for host values"
    }
    return parallel
  }
}

func signalName(_ sig: Int32) -> String { sig == SIGINT ? "SIGINT" : "SIGTERM" }

/// A progress bar on a terminal (step, it/s, ETA, loss), one line per step otherwise (logs, tests).
final class Progress: TrainingObserver {
  let total: Int
  let tty = isatty(STDOUT_FILENO) != 0

  init(total: Int) { self.total = total }

  func stepped(_ r: LCDTrainer.StepResult, clock: TrainingClock) {
    let perStep = clock.secondsPerStep
    let eta = perStep.isFinite ? Int(perStep * Double(total - r.step)) : 0
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

  func finishing() { if tty { print("") } }
}
