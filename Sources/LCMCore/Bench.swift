import ArgumentParser

struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Benchmarks.", subcommands: [BenchOps.self, BenchUNet.self, BenchGenerate.self])
}
