import ArgumentParser
import Foundation
import Logging

@main
struct LCM: ParsableCommand {
  static let version = "0.1.0"

  static let configuration = CommandConfiguration(
    commandName: "lcm",
    abstract: "Latent Consistency Model distillation and inference on libtorch.",
    version: version,
    subcommands: [Doctor.self, Distill.self, DistillLoRA.self, TrainTextToImage.self, Generate.self, Export.self, SelfTest.self, Bench.self, DataCommand.self, Eval.self]
  )

  /// Long-flag prefixes of `distill` and `generate` are spelled out first (argparse's rule).
  static func main() {
    var arguments = Array(CommandLine.arguments.dropFirst())
    if arguments == ["__dump-help-swift"] {
      print(HelpDump.swiftSource())
      return
    }
    if arguments.first == "__dist-check" { Foundation.exit(DistCheck.run(cuda: arguments.dropFirst() == ["--device", "cuda"])) }
    let commands: [String: ParsableCommand.Type] = [
      "distill": Distill.self, "distill-lora": DistillLoRA.self, "generate": Generate.self, "export": Export.self,
    ]
    if let first = arguments.first, let command = commands[first] {
      do {
        // a LoRA flag given to `lcm distill` points at `lcm distill-lora` (not at --local_rank)
        let hint: (String) -> String? = { flag in
          first == "distill" && (flag.hasPrefix("--lora_") || flag == "--use_target_model")
            ? "LoRA distillation (train_lcm_distill_lora_sd_wds.py's flags) is `lcm distill-lora`" : nil
        }
        arguments = [first] + (try FlagPrefixes.expand(Array(arguments.dropFirst()), flags: FlagPrefixes.longFlags(of: command), hint: hint))
      } catch {
        // the subcommand's own usage line names it "distill"; say it as the user typed it
        FileHandle.standardError.write(Data("Error: \(error)\n  See 'lcm \(first) --help' for more information.\n".utf8))
        Foundation.exit(ExitCode.validationFailure.rawValue)
      }
    }
    main(arguments)
  }
}

/// Logging is bootstrapped once, by the executable only.
enum Log {
  nonisolated(unsafe) static var bootstrapped = false

  static func logger(_ label: String, verbose: Bool = false) -> Logger {
    if !bootstrapped {
      LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
      bootstrapped = true
    }
    var logger = Logger(label: label)
    logger.logLevel = verbose ? .debug : .info
    return logger
  }
}
