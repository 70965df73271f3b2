import Foundation
import Logging
import Testing
import Torch
import TorchNN

@testable import DiffusionModels
@testable import LCMTraining

/// The training loop on the tiny fixture pipeline (Tests/Fixtures/pipeline/base).
@Suite("LCD trainer", .serialized)
struct TrainerTests {
  func batch(_ seed: UInt64) throws -> TrainingBatch {
    let g = try Generator(seed: seed)
    let pixels = try (Tensor.rand([2, 3, 16, 16], generator: g) * 2.0 - 1.0).floats()
    return TrainingBatch(pixels: pixels, resolution: 16, captions: ["a photo of a cat", "a red house"])
  }

  func trainer(_ dir: String) throws -> LCDTrainer {
    var c = LCDTrainingConfig(teacher: "\(repoRoot)/Tests/Fixtures/pipeline/base")
    (c.unetTimeCondProjDim, c.lrWarmupSteps, c.maxTrainSteps, c.seed, c.outputDir) = (8, 0, 3, 5, dir)
    c.learningRate = 1e-3
    return try LCDTrainer(config: c, logger: Logger(label: "test"))
  }

  @Test func stepsAreDeterministicAndSaveLoads() throws {
    let dir = NSTemporaryDirectory() + "distill-\(UInt32.random(in: 0...UInt32.max))"
    var runs: [[Double]] = []
    for _ in 0..<2 {
      let t = try trainer(dir)
      runs.append(try (0..<3).map { try t.step(batch(UInt64($0))).loss })
      if runs.count == 2 { try t.save(to: dir) }
    }
    #expect(runs[0] == runs[1], "same seed, same losses: \(runs)")
    #expect(runs[0].allSatisfy { $0.isFinite && $0 > 0 })
    let student = try UNet2DConditionModel.load(folder: "\(dir)/unet")
    let target = try UNet2DConditionModel.load(folder: "\(dir)/unet_target")
    let teacher = try UNet2DConditionModel.load(folder: "\(repoRoot)/Tests/Fixtures/pipeline/base/unet")
    #expect(student.config.timeCondProjDim == 8)
    let key = "conv_in.weight"
    let moved = try (student.store[key]!.tensor - teacher.store[key]!.tensor).abs().amax().item()
    let emaMoved = try (target.store[key]!.tensor - teacher.store[key]!.tensor).abs().amax().item()
    #expect(moved > 0 && emaMoved > 0 && emaMoved < moved, "student moved \(moved), EMA target \(emaMoved)")
  }

  /// A run that diverges stops at the first non-finite loss, naming the step (no fp16 scaler).
  @Test func nonFiniteLossStopsTheRun() throws {
    var c = LCDTrainingConfig(teacher: "\(repoRoot)/Tests/Fixtures/pipeline/base")
    (c.unetTimeCondProjDim, c.lrWarmupSteps, c.seed, c.learningRate) = (8, 0, 5, 1e30)
    let t = try LCDTrainer(config: c, logger: Logger(label: "test"))
    var failure = ""
    for i in 0..<5 {
      do { _ = try t.step(batch(UInt64(i))) } catch {
        failure = "\(error)"
        break
      }
    }
    #expect(failure.contains("step \(t.globalStep + 1)") && failure.contains("not finite"), "\(failure)")
  }

  @Test func teacherWithoutUNetIsAnError() throws {
    var c = LCDTrainingConfig(teacher: "\(repoRoot)/Tests/Fixtures/unet/sd1")
    c.maxTrainSteps = 1
    #expect { _ = try LCDTrainer(config: c, logger: Logger(label: "test")) } throws: { "\($0)".contains("model_index.json") }
  }
}

@Suite("LCD checkpoints", .serialized)
struct CheckpointTests {
  /// 4 steps in one go == 2 steps, checkpoint, a new trainer resumed from it, 2 more steps.
  @Test func resumeContinuesExactly() throws {
    let dir = NSTemporaryDirectory() + "ckpt-\(UInt32.random(in: 0...UInt32.max))"
    let helper = TrainerTests()
    let straight = try helper.trainer(dir + "/a")
    let lossesA = try (0..<4).map { try straight.step(helper.batch(UInt64($0))).loss }

    let first = try helper.trainer(dir + "/b")
    var lossesB = try (0..<2).map { try first.step(helper.batch(UInt64($0))).loss }
    let folder = try OutputFolder(dir + "/b")
    try folder.create()
    let ckpt = try first.saveCheckpoint(in: folder, dataPosition: Data("{}".utf8))
    #expect(ckpt.hasSuffix("checkpoint-2"))
    #expect(folder.latestCheckpoint == ckpt)
    let resumed = try helper.trainer(dir + "/b")
    #expect(try resumed.loadCheckpoint(ckpt) == Data("{}".utf8))
    #expect(resumed.globalStep == 2)
    lossesB += try (2..<4).map { try resumed.step(helper.batch(UInt64($0))).loss }
    #expect(lossesA == lossesB, "\(lossesA) vs \(lossesB)")
    let key = "down_blocks.0.attentions.0.proj_in.weight"
    #expect(try straight.lcd!.student.store[key]!.tensor.equal(resumed.lcd!.student.store[key]!.tensor))
    #expect(try straight.lcd!.target.store[key]!.tensor.equal(resumed.lcd!.target.store[key]!.tensor))

    _ = try resumed.saveCheckpoint(in: folder, dataPosition: nil)
    #expect(folder.prune(keep: 1) == [ckpt])
    #expect(folder.latestCheckpoint?.hasSuffix("checkpoint-4") == true)
    #expect(!FileManager.default.fileExists(atPath: ckpt))
  }
}

@Suite("LCD accumulation and empty prompts", .serialized)
struct AccumulationTests {
  @Test func accumulatedMicroBatchesMakeOneStep() throws {
    let helper = TrainerTests()
    var c = LCDTrainingConfig(teacher: "\(repoRoot)/Tests/Fixtures/pipeline/base")
    (c.unetTimeCondProjDim, c.lrWarmupSteps, c.gradientAccumulationSteps) = (8, 0, 2)
    let t = try LCDTrainer(config: c, logger: Logger(label: "test"))
    let key = "conv_in.weight"
    let before = try t.lcd!.student.store[key]!.tensor.clone()
    let r = try t.step([helper.batch(0), helper.batch(1)])
    #expect(r.step == 1 && t.globalStep == 1 && r.loss.isFinite)
    #expect(try !t.lcd!.student.store[key]!.tensor.equal(before))
    #expect(t.lcd!.student.store.trainableParameters.allSatisfy { $0.tensor.grad == nil })
  }

  @Test func proportionEmptyPrompts() throws {
    var c = LCDTrainingConfig(teacher: "\(repoRoot)/Tests/Fixtures/pipeline/base")
    (c.unetTimeCondProjDim, c.proportionEmptyPrompts) = (8, 1.0)
    let all = try LCDTrainer(config: c, logger: Logger(label: "test"))
    #expect(try all.dropCaptions(["a", "b", "c"]) == ["", "", ""])
    c.proportionEmptyPrompts = 0.5
    let half = try LCDTrainer(config: c, logger: Logger(label: "test"))
    let dropped = try (0..<50).flatMap { _ in try half.dropCaptions(["x", "y"]) }.filter(\.isEmpty).count
    #expect(dropped > 25 && dropped < 75)
  }
}

@Suite("LCD mixed precision", .serialized)
struct MixedPrecisionTests {
  func trainer(_ dtype: TensorDType?) throws -> LCDTrainer {
    var c = LCDTrainingConfig(teacher: "\(repoRoot)/Tests/Fixtures/pipeline/base")
    (c.unetTimeCondProjDim, c.lrWarmupSteps, c.maxTrainSteps, c.seed) = (8, 0, 3, 5)
    c.learningRate = 1e-3
    c.mixedPrecision = dtype
    return try LCDTrainer(config: c, logger: Logger(label: "test"))
  }

  /// bf16 / fp16 autocast: the loss follows the fp32 run's, the trainable weights stay fp32, and
  /// fp16 brings a loss scaler at GradScaler's initial 2^16.
  @Test(arguments: [TensorDType.bfloat16, .float16])
  func autocastRunTracksTheFP32Run(dtype: TensorDType) throws {
    let helper = TrainerTests()
    let reference = try trainer(nil)
    let mixed = try trainer(dtype)
    #expect(mixed.textEncoder.store.dtype == dtype)
    #expect(mixed.lcd!.teacher.store.dtype == .float32 && mixed.lcd!.student.store.dtype == .float32)
    #expect((mixed.scaler?.scale) == (dtype == .float16 ? 65536 : nil))
    for i in 0..<2 {
      let a = try reference.step(helper.batch(UInt64(i))), b = try mixed.step(helper.batch(UInt64(i)))
      #expect(!b.skipped && b.loss.isFinite)
      // the LCD loss is a difference of two predictions, so reduced precision moves it visibly
      // (bf16 keeps 8 mantissa bits); it differs (autocast is active) but stays close
      let tolerance = dtype == .float16 ? 0.2 : 0.5
      #expect(a.loss != b.loss && abs(a.loss - b.loss) <= tolerance * a.loss, "step \(i): fp32 \(a.loss), \(dtype) \(b.loss)")
    }
    #expect(mixed.stepsTaken == 2)
  }

  /// A scale that overflows the fp16 gradients: the step is skipped (weights and LR schedule
  /// unchanged), the scale halves, and the global step and EMA still advance, as accelerate does.
  @Test func overflowSkipsTheStepAndBacksOff() throws {
    let t = try trainer(.float16)
    t.scaler = GradScaler(initScale: 1e38)
    let before = try t.lcd!.student.store["conv_in.weight"]!.tensor.clone()
    let r = try t.step(TrainerTests().batch(0))
    #expect(r.skipped && r.lossScale == 1e38)
    #expect(t.scaler!.scale == 5e37 && t.globalStep == 1 && t.stepsTaken == 0)
    #expect(try (t.lcd!.student.store["conv_in.weight"]!.tensor - before).abs().amax().item() == 0)
  }
}
