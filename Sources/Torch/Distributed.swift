import CTorch
import Foundation

/// A c10d process group (libtorch's own distributed engine): a TCPStore rendezvous at the master
/// address and ProcessGroupGloo over it, for CPU tensors. One per process; collectives block.
public final class ProcessGroup: @unchecked Sendable {
  private let pointer: OpaquePointer
  public let rank: Int
  public let worldSize: Int

  public enum ReduceOp: Int32 { case sum = 0, max = 1, min = 2, average = 3 }

  /// Blocks until all `worldSize` ranks have joined, or `timeout` seconds. The store is served by
  /// rank 0, or by the launcher (`serveStore` false: torchrun's agent), its keys under `prefix`.
  public init(
    gloo masterAddress: String, port: Int, rank: Int, worldSize: Int, timeout: Double = 300, serveStore: Bool = true, prefix: String = ""
  ) throws(TorchError) {
    var out: CTProcessGroup?
    try check("init_process_group(gloo, \(masterAddress):\(port), rank \(rank) of \(worldSize))",
              ct_pg_new_gloo(masterAddress, Int32(clamping: port), Int32(clamping: rank), Int32(clamping: worldSize), timeout, serveStore, prefix, &out))
    pointer = out!
    (self.rank, self.worldSize) = (rank, worldSize)
  }

  deinit { ct_pg_free(pointer) }

  var handle: OpaquePointer { pointer }

  /// In place on every rank.
  public func allReduce(_ t: Tensor, _ op: ReduceOp = .sum) throws(TorchError) {
    try check("all_reduce", ct_pg_allreduce_(pointer, t.handle, op.rawValue))
  }

  /// `t` takes rank `root`'s values on every rank.
  public func broadcast(_ t: Tensor, root: Int = 0) throws(TorchError) {
    try check("broadcast", ct_pg_broadcast_(pointer, t.handle, Int32(clamping: root)))
  }

  public func barrier() throws(TorchError) { try check("barrier", ct_pg_barrier(pointer)) }

  /// While a run trains: ends this process with one error line naming a rank whose heartbeat
  /// stood still for `stallSeconds` (NCCL would wait for it until its own timeout); 0 stops it.
  public func watchPeers(stallSeconds: Double, agentStore: Bool) throws(TorchError) {
    try check("watching the ranks' heartbeats", ct_pg_watch_peers(pointer, stallSeconds, agentStore))
  }

  /// Adds torch's ProcessGroupNCCL (libLCMNCCL.so, loaded now) as the backend for CUDA tensors;
  /// returns the NCCL version. CPU tensors (flags, the logged loss, data positions) stay on Gloo.
  public func attachNCCL(library: String, timeout: Double = 300) throws(TorchError) -> String {
    var version: Int32 = 0
    try check("init_process_group(nccl)", ct_pg_attach_nccl(pointer, library, timeout, &version))
    return version > 0 ? "\(version / 10000).\(version / 100 % 100).\(version % 100)" : "unknown"
  }

  /// Where libLCMNCCL.so is: $SWIFT_LCM_NCCL_LIBRARY, else beside the running executable; nil
  /// when it was not built (a CPU-only libtorch) or not shipped.
  public static func ncclLibrary(_ env: [String: String] = ProcessInfo.processInfo.environment) -> String? {
    if let path = env["SWIFT_LCM_NCCL_LIBRARY"], !path.isEmpty { return path }
    guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
    let path = (exe as NSString).deletingLastPathComponent + "/libLCMNCCL.so"
    return FileManager.default.fileExists(atPath: path) ? path : nil
  }

  /// After a failed collective: which other ranks stopped (their heartbeat in the store stood
  /// still for `wait` seconds); `storeLost` when the store's server is gone with its process.
  public func unresponsiveRanks(wait: Double = 2.5) -> (ranks: [Int], storeLost: Bool) {
    var ranks = [Int32](repeating: -1, count: worldSize)
    var count: Int32 = 0
    var lost = false
    guard ct_pg_unresponsive_ranks(pointer, wait, &ranks, &count, &lost) == 0 else { return ([], false) }
    return (ranks.prefix(Int(count)).map(Int.init), lost)
  }
}

/// c10d's Reducer, as DistributedDataParallel builds it: the parameters' gradients are averaged
/// over the ranks, bucket by bucket, while backward runs. Call `prepare(loss:)` before each
/// backward whose gradients are to be reduced (leaving it out accumulates locally, as DDP's no_sync).
public final class GradientReducer {
  private let pointer: OpaquePointer
  public let group: ProcessGroup

  public init(group: ProcessGroup, parameters: [Tensor], bucketBytes: Int = 25 << 20) throws(TorchError) {
    var out: CTReducer?
    let status = parameters.withHandles { h, n in ct_reducer_new(group.handle, h, n, Int64(bucketBytes), &out) }
    try check("Reducer", status)
    pointer = out!
    self.group = group
  }

  deinit { ct_reducer_free(pointer) }

  public func prepare(loss: Tensor) throws(TorchError) { try check("Reducer.prepare_for_backward", ct_reducer_prepare(pointer, loss.handle)) }
}

/// The launcher's variables: torchrun's (RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE,
/// MASTER_ADDR, MASTER_PORT) or Slurm's under srun (SLURM_PROCID, SLURM_LOCALID, SLURM_NTASKS,
/// SLURM_NTASKS_PER_NODE, with MASTER_ADDR given explicitly).
public struct DistributedEnvironment: Sendable, Equatable {
  public var rank: Int
  public var localRank: Int
  public var worldSize: Int
  public var localWorldSize: Int
  public var masterAddress: String
  public var masterPort: Int
  /// torchrun's agent serves the store (TORCHELASTIC_USE_AGENT_STORE); the workers' keys go under
  /// /worker/attempt_<TORCHELASTIC_RESTART_COUNT>, as torch.distributed's env:// rendezvous puts them.
  public var agentStore = false
  public var storePrefix = ""

  public init(rank: Int, localRank: Int, worldSize: Int, localWorldSize: Int, masterAddress: String, masterPort: Int) {
    (self.rank, self.localRank, self.worldSize, self.localWorldSize) = (rank, localRank, worldSize, localWorldSize)
    (self.masterAddress, self.masterPort) = (masterAddress, masterPort)
  }

  /// Joins the Gloo process group these variables describe.
  public func processGroup(timeout: Double = 300) throws(TorchError) -> ProcessGroup {
    try ProcessGroup(gloo: masterAddress, port: masterPort, rank: rank, worldSize: worldSize, timeout: timeout, serveStore: !agentStore, prefix: storePrefix)
  }

  public struct Problem: Error, CustomStringConvertible {
    public let description: String
  }

  /// nil for a single process (no launcher, or WORLD_SIZE 1); a one-line problem for variables
  /// that are missing, out of range or inconsistent.
  public static func from(_ env: [String: String] = ProcessInfo.processInfo.environment) throws(Problem) -> DistributedEnvironment? {
    func int(_ key: String) throws(Problem) -> Int? {
      guard let v = env[key] else { return nil }
      guard let i = Int(v.trimmingCharacters(in: .whitespaces)), i >= 0 else { throw Problem(description: "\(key)=\(v) is not a non-negative integer") }
      return i
    }
    let torchrun = env["WORLD_SIZE"] != nil
    let world = try torchrun ? int("WORLD_SIZE") : int("SLURM_NTASKS")
    // SWIFT_LCM_DISTRIBUTED=1 keeps a group at world size 1 (the GPU check's one-GPU NCCL run)
    guard let world, world > 1 || (world == 1 && env["SWIFT_LCM_DISTRIBUTED"] == "1") else { return nil }
    guard let rank = try torchrun ? int("RANK") : int("SLURM_PROCID") else {
      throw Problem(description: "WORLD_SIZE=\(world) without RANK: launch with torchrun (or srun with SLURM_PROCID)")
    }
    guard rank < world else { throw Problem(description: "rank \(rank) is not below the world size \(world)") }
    let localRank = try (torchrun ? int("LOCAL_RANK") : int("SLURM_LOCALID")) ?? rank
    let localWorld = try (torchrun ? int("LOCAL_WORLD_SIZE") : int("SLURM_NTASKS_PER_NODE")) ?? world
    guard let address = env["MASTER_ADDR"], !address.isEmpty else {
      throw Problem(description: "MASTER_ADDR is not set (torchrun sets it; under srun give the first node's address)")
    }
    let port = try int("MASTER_PORT") ?? 29500
    guard (1...65535).contains(port) else { throw Problem(description: "MASTER_PORT=\(port) is not a port") }
    var e = DistributedEnvironment(rank: rank, localRank: localRank, worldSize: world, localWorldSize: localWorld, masterAddress: address, masterPort: port)
    if env["TORCHELASTIC_USE_AGENT_STORE"] == "True" {
      e.agentStore = true
      e.storePrefix = "/worker/attempt_\(try int("TORCHELASTIC_RESTART_COUNT") ?? 0)"
    }
    return e
  }
}
