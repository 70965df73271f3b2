import Foundation
import Testing
import TorchNN

// Expected: diffusers' get_scheduler(name, num_warmup_steps=5, num_training_steps=30) with lr 1e-4,
// stepped 40 times (scripts/fixtures/make_lr_fixtures.py).
@Suite("LR schedules match diffusers")
struct LRScheduleTests {
  @Test(arguments: ["constant", "constant_with_warmup", "linear", "cosine", "cosine_with_restarts", "polynomial"])
  func schedule(name: String) throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: "\(repoRoot)/Tests/Fixtures/lr_schedules.json"))
    let expected = (try JSONSerialization.jsonObject(with: data) as! [String: [Double]])[name]!
    let s = try LRSchedule(name: name, warmupSteps: 5, trainingSteps: 30, baseLR: 1e-4)
    for (step, lr) in expected.enumerated() {
      #expect(Swift.abs(try s.learningRate(step: step) - lr) <= 1e-15 + 1e-12 * lr, "\(name) step \(step)")
    }
  }

  @Test func piecewiseAndBadNames() throws {
    var s = LRSchedule(.piecewiseConstant, warmupSteps: 0, trainingSteps: 0, baseLR: 1)
    s.stepRules = "1:10,0.1:20,0.01"
    #expect(try [0, 9, 10, 19, 20, 100].map { try s.multiplier(step: $0) } == [1, 1, 0.1, 0.1, 0.01, 0.01])
    #expect(throws: LRScheduleError.self) { _ = try LRSchedule(name: "exponential", warmupSteps: 0, trainingSteps: 1, baseLR: 1) }
  }
}
