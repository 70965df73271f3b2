import Foundation
import Testing

/// `lcm` is a launcher that answers --version and --help without libtorch (they took 0.5 s and
/// 600 MB when libtorch loaded first) and runs everything else in `lcm-core`.
@Suite("the lcm launcher")
struct LauncherTests {
  let core = "\(repoRoot)/.build/debug/lcm-core"

  /// The committed help texts are what lcm-core prints today (`make help-texts` after a flag change).
  @Test func helpTextsAreCurrent() throws {
    let generated = try runCommand(core, ["__dump-help-swift"])
    let committed = try String(contentsOfFile: "\(repoRoot)/Sources/LCMLauncher/HelpTexts.swift", encoding: .utf8)
    #expect(generated.status == 0)
    #expect(String(decoding: generated.stdout, as: UTF8.self) == committed, "Sources/LCMLauncher/HelpTexts.swift is stale: run `make help-texts`")
  }

  @Test(arguments: [["--version"], ["--help"], ["-h"], ["distill", "--help"], ["generate", "-h"], ["help", "export"],
                    ["data", "stats", "--help"], ["distill", "--max_train_steps", "3", "--help"]])
  func helpEqualsTheCores(arguments: [String]) throws {
    let launcher = try runLCM(arguments), engine = try runCommand(core, arguments)
    #expect(launcher.status == 0 && launcher.status == engine.status)
    #expect(launcher.output == engine.output, "\(arguments)")
  }

  /// The launcher links no libtorch; other commands reach the core (its errors, its exit codes).
  @Test func launcherLinksNoLibtorchAndForwardsTheRest() throws {
    let ldd = try runCommand("/usr/bin/ldd", ["\(repoRoot)/.build/debug/lcm"])
    #expect(!ldd.output.contains("torch"), "\(ldd.output)")
    let r = try runLCM(["distill", "--pretrained_teacher_model", "/x", "--no_such_flag"])
    #expect(r.status == 64 && r.output.contains("Unknown option '--no_such_flag'"), "\(r.output)")
    let doctor = try runLCM(["doctor"])
    #expect(doctor.output == (try runCommand(core, ["doctor"])).output)
  }
}
