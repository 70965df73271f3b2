import ArgumentParser
import Logging

@main
struct LCM: ParsableCommand {
  static let version = "0.1.0"

  static let configuration = CommandConfiguration(
    commandName: "lcm",
    abstract: "Latent Consistency Model distillation and inference on libtorch.",
    version: version,
    subcommands: [Doctor.self, Distill.self, Generate.self, SelfTest.self, Bench.self, DataCommand.self]
  )
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
