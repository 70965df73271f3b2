import Foundation
import TestSupport
import Testing
import Torch

/// c10d from Swift (groundwork of data-parallel training): two `lcm-core __dist-check` processes
/// over Gloo on loopback join a TCPStore, all-reduce, broadcast and average one backward's
/// gradients with c10d's Reducer; the result equals the mean of the two ranks' own gradients.
@Suite("c10d process group and reducer (Gloo, 2 processes)", .serialized)
struct DistributedTests {
  func freePort() -> Int { Int.random(in: 20_000...32_000) }

  func launch(rank: Int, port: Int) throws -> (Process, Pipe) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "\(repoRoot)/.build/debug/lcm-core")
    p.arguments = ["__dist-check"]
    var env = ProcessInfo.processInfo.environment
    for (k, v) in ["RANK": "\(rank)", "LOCAL_RANK": "\(rank)", "WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2",
                   "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "\(port)"] { env[k] = v }
    p.environment = env
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    return (p, out)
  }

  @Test func allReduceBroadcastAndReducer() throws {
    let port = freePort()
    let ranks = try (0..<2).map { try launch(rank: $0, port: port) }
    var results: [[String: Any]] = []
    for (p, out) in ranks {
      let data = out.fileHandleForReading.readDataToEndOfFile()
      p.waitUntilExit()
      let line = String(decoding: data, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
      let json = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
      #expect(p.terminationStatus == 0, "\(json)")
      results.append(json)
    }
    for r in results {
      #expect(r["sum"] as? [Double] == [3, 30] && r["max"] as? [Double] == [2], "\(r)")
    }
    let w0 = try #require(results[0]["weight"] as? [Double]), w1 = try #require(results[1]["weight"] as? [Double])
    #expect(w0 == w1, "broadcast gives rank 0's weights everywhere")
    let g0 = try #require(results[0]["grad"] as? [Double]), g1 = try #require(results[1]["grad"] as? [Double])
    #expect(g0 == g1, "the reduced gradients are the same on both ranks")
    // the mean of the two ranks' own gradients, computed here in one process
    let w = try Tensor(w0.map(Float.init), shape: [2, 3])
    var expected = [Double](repeating: 0, count: 6)
    for r in [1.0, 2.0] {
      let weight = try w.detach().requiresGrad_(true)
      let loss = try Tensor.full([4, 3], r).matmul(weight.transpose(0, 1)).square().mean()
      try loss.backward()
      for (i, g) in try weight.grad!.floats().enumerated() { expected[i] += Double(g) / 2 }
    }
    #expect(zip(g0, expected).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "\(g0) vs \(expected)")
  }

  /// On a machine without a GPU: libLCMNCCL.so loads (pulling in libtorch_cuda), torch's
  /// ProcessGroupNCCL constructor runs and refuses in one line; a missing library is one line too.
  /// (With a GPU, scripts/gpu_check.sh runs the same check on NCCL.)
  @Test(.enabled(if: !CUDA.isAvailable)) func ncclLibraryLoadsAndRefusesCleanlyWithoutAGPU() throws {
    let library = "\(repoRoot)/.build/debug/libLCMNCCL.so"
    #expect(FileManager.default.fileExists(atPath: library), "libLCMNCCL.so is built with the package (the torch wheel brings NCCL's headers)")
    for (path, reason) in [(library, "ProcessGroupNCCL is only supported with GPUs"), ("/nonexistent/libLCMNCCL.so", "cannot load the NCCL library")] {
      let p = Process()
      p.executableURL = URL(fileURLWithPath: "\(repoRoot)/.build/debug/lcm-core")
      p.arguments = ["__dist-check", "--device", "cuda"]
      var env = ProcessInfo.processInfo.environment
      for (k, v) in ["RANK": "0", "WORLD_SIZE": "1", "SWIFT_LCM_DISTRIBUTED": "1", "MASTER_ADDR": "127.0.0.1",
                     "MASTER_PORT": "\(freePort())", "SWIFT_LCM_NCCL_LIBRARY": path] { env[k] = v }
      p.environment = env
      let out = Pipe()
      p.standardOutput = out
      p.standardError = out
      try p.run()
      let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      p.waitUntilExit()
      #expect(p.terminationStatus == 1 && text.contains(reason) && !text.contains("frame #"), "\(text)")
      #expect(text.split(separator: "\n").count == 1, "one line: \(text)")
    }
  }

  @Test func launcherVariables() throws {
    #expect(try DistributedEnvironment.from([:]) == nil)
    #expect(try DistributedEnvironment.from(["WORLD_SIZE": "1", "RANK": "0"]) == nil)
    let torchrun = try #require(try DistributedEnvironment.from([
      "WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "node0", "MASTER_PORT": "29400",
    ]))
    #expect(torchrun == DistributedEnvironment(rank: 3, localRank: 1, worldSize: 4, localWorldSize: 2, masterAddress: "node0", masterPort: 29400))
    #expect(try DistributedEnvironment.from(["WORLD_SIZE": "1", "RANK": "0", "MASTER_ADDR": "a", "SWIFT_LCM_DISTRIBUTED": "1"])?.worldSize == 1)
    let slurm = try #require(try DistributedEnvironment.from([
      "SLURM_NTASKS": "8", "SLURM_PROCID": "5", "SLURM_LOCALID": "1", "SLURM_NTASKS_PER_NODE": "4", "MASTER_ADDR": "10.0.0.1",
    ]))
    #expect(slurm.rank == 5 && slurm.localRank == 1 && slurm.worldSize == 8 && slurm.masterPort == 29500)
    for bad in [["WORLD_SIZE": "2"], ["WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "a"], ["WORLD_SIZE": "2", "RANK": "0"],
                ["WORLD_SIZE": "x"], ["WORLD_SIZE": "2", "RANK": "1", "MASTER_ADDR": "a", "MASTER_PORT": "70000"]] {
      #expect(throws: DistributedEnvironment.Problem.self, "\(bad)") { _ = try DistributedEnvironment.from(bad) }
    }
  }
}
