import Foundation
import Schedulers
import Testing
import Torch

func fixtureIndices(_ file: String, _ key: String) -> [Int] {
  Array(((try? loadFixture(file))?.list(key) ?? []).indices)
}

@Suite("set_timesteps matches diffusers (integers compared exactly)")
struct TimestepTests {
  @Test func fixturesPresent() throws {
    #expect(fixtureIndices("timesteps.json", "lcm").count > 50)
    #expect(fixtureIndices("timesteps.json", "ddim").count > 50)
    // the float fixtures are made on this machine; a failure there must not empty the suites
    _ = try #require(try localFixtureDir.get())
    #expect(fixtureIndices("lcd.json", "guidance_embedding").count > 0)
    #expect(fixtureIndices("steps.json", "lcm").count > 0)
  }

  @Test(arguments: fixtureIndices("timesteps.json", "lcm"))
  func lcm(index: Int) throws {
    let c = try loadFixture("timesteps.json").list("lcm")[index]
    let args = c.obj("args")
    let scheduler = try LCMScheduler(folder: configFolder(c.string("config")))
    let label = "\(c.string("config")) \(args)"
    let call = {
      try scheduler.setTimesteps(
        numInferenceSteps: (args["num_inference_steps"] as? NSNumber)?.intValue,
        originalInferenceSteps: (args["original_inference_steps"] as? NSNumber)?.intValue,
        timesteps: (args["timesteps"] as? [NSNumber])?.map(\.intValue),
        strength: (args["strength"] as? NSNumber)?.doubleValue ?? 1.0)
    }
    if c["error"] != nil {
      #expect(throws: SchedulerError.self, "\(label) should be refused: \(c.string("error"))") { try call() }
      return
    }
    try call()
    #expect(scheduler.timesteps == c.ints("timesteps"), "\(label)")
    #expect(scheduler.numInferenceSteps == c.int("num_inference_steps"), "\(label)")
    #expect(scheduler.customTimesteps == (c["custom_timesteps"] as! Bool))
  }

  @Test(arguments: fixtureIndices("timesteps.json", "ddim"))
  func ddim(index: Int) throws {
    let c = try loadFixture("timesteps.json").list("ddim")[index]
    let scheduler = try DDIMScheduler(folder: configFolder(c.string("config")))
    try scheduler.setTimesteps(c.int("num_inference_steps"))
    #expect(scheduler.timesteps == c.ints("timesteps"), "\(c.string("config")) \(c.int("num_inference_steps"))")
  }

  /// Reference §10.2 schedules (T = 1000, S = 50).
  @Test(arguments: [
    (1, 1.0, [999]), (2, 1.0, [999, 499]), (3, 1.0, [999, 679, 339]), (4, 1.0, [999, 759, 499, 259]),
    (8, 1.0, [999, 879, 759, 639, 499, 379, 259, 139]), (4, 0.8, [799, 599, 399, 199]),
  ])
  func referenceSchedules(steps: Int, strength: Double, expected: [Int]) throws {
    let scheduler = try LCMScheduler()
    try scheduler.setTimesteps(numInferenceSteps: steps, strength: strength)
    #expect(scheduler.timesteps == expected)
  }

  @Test func customScheduleWarnings() throws {
    let scheduler = try LCMScheduler()
    try scheduler.setTimesteps(timesteps: [999, 759, 499, 259])
    #expect(scheduler.warnings.isEmpty)
    try scheduler.setTimesteps(timesteps: [899, 500])
    #expect(scheduler.warnings.count == 2)
  }
}
