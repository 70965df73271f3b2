import Torch

/// A rank's share of each global batch in data-parallel training. The data pipeline gives rank r
/// of W the global batch's rows r, r + W, r + 2W, ... (with one loader worker per rank); every
/// random draw of a step (the VAE posterior sample, caption drops, solver indices, noise, w) is
/// drawn for the whole global batch from the same seeded generator on every rank and sliced the
/// same way, so W ranks with batch B compute what one process with batch W·B does.
public struct DataParallel: @unchecked Sendable {
  public let group: ProcessGroup
  public var rank: Int { group.rank }
  public var worldSize: Int { group.worldSize }

  /// The store is torchrun's agent's, not rank 0's.
  public let agentStore: Bool

  /// The backends in use, for the log.
  public var backends = "Gloo"
  /// Seconds without another rank's heartbeat after which a training rank ends with an error.
  public var peerTimeout = 30.0

  public init(group: ProcessGroup, agentStore: Bool = false) { (self.group, self.agentStore) = (group, agentStore) }

  /// A peer that stopped, in one line.
  public struct PeerLost: Error, CustomStringConvertible {
    public let description: String
  }

  /// A failed run: names the rank that stopped responding when one did (its heartbeat in
  /// the store stood still), else the error as it is.
  func explain(_ error: any Error) -> any Error {
    let (ranks, storeLost) = group.unresponsiveRanks()
    let tail = "stopping rank \(rank) too; the last complete checkpoint is intact (--resume_from_checkpoint latest)"
    if storeLost && agentStore { return PeerLost(description: "torchrun's rendezvous store went away (the launcher ended?): \(tail)") }
    if storeLost { return PeerLost(description: "rank 0 of \(worldSize) stopped responding (it served the rendezvous store): \(tail)") }
    guard !ranks.isEmpty else { return error }
    let who = ranks.count == 1 ? "rank \(ranks[0])" : "ranks " + ranks.map(String.init).joined(separator: ", ")
    return PeerLost(description: "\(who) of \(worldSize) stopped responding (killed, crashed or cut off): \(tail)")
  }

  /// This rank's rows of a tensor drawn for the global batch.
  func rows(_ t: Tensor) throws(TorchError) -> Tensor {
    let local = t.size(0) / worldSize
    let index = try Tensor((0..<local).map { Int64($0 * worldSize + rank) }, shape: [local], device: t.device)
    return try t.indexSelect(dim: 0, index: index)
  }

  /// This rank's entries of an array drawn for the global batch.
  func rows<T>(_ a: [T]) -> [T] { stride(from: rank, to: a.count, by: worldSize).map { a[$0] } }

  /// A shape with the batch dimension of the global batch.
  func global(_ shape: [Int]) -> [Int] { [shape[0] * worldSize] + shape.dropFirst() }

  /// The mean over the ranks of a host value (the logged loss); a max of a flag.
  func mean(_ value: Double) throws(TorchError) -> Double {
    let t = try Tensor([value], shape: [1])
    try group.allReduce(t, .average)
    return try t.toArray(Double.self)[0]
  }

  /// Every rank's bytes, on every rank (broadcasts from each rank in turn).
  func gather(_ bytes: [UInt8]) throws(TorchError) -> [[UInt8]] {
    var all: [[UInt8]] = []
    for r in 0..<worldSize {
      let count = try Tensor([Double(r == rank ? bytes.count : 0)], shape: [1])
      try group.broadcast(count, root: r)
      let n = Int(try count.toArray(Double.self)[0])
      // one byte at least: no empty tensors through the collective
      let data = try Tensor(r == rank ? bytes + [0] : [UInt8](repeating: 0, count: n + 1), shape: [n + 1])
      try group.broadcast(data, root: r)
      all.append(Array(try data.toArray(UInt8.self).prefix(n)))
    }
    return all
  }

  /// Rank 0's text on every rank (nil travels as nil).
  func broadcast(_ text: String?) throws(TorchError) -> String? {
    let all = try gather(rank == 0 ? (text.map { [1] + Array($0.utf8) } ?? [0]) : [])
    guard let first = all.first, first.first == 1 else { return nil }
    return String(decoding: first.dropFirst(), as: UTF8.self)
  }

  /// The data position file of a rank in a checkpoint.
  public static func positionFile(rank: Int) -> String { rank == 0 ? "data_position.json" : "data_position_rank\(rank).json" }

  /// Whether every rank holds the same weights: each parameter's sum and sum of squares (in
  /// float64), compared by their max and min over the ranks. A collective: all ranks call it.
  func sameOnEveryRank(_ parameters: [Tensor]) throws(TorchError) -> Bool {
    var values: [Double] = []
    for p in parameters {
      let x = try p.to(.float64)
      values += [try x.sum().item(), try x.square().sum().item()]
    }
    let high = try Tensor(values, shape: [values.count]), low = try Tensor(values, shape: [values.count])
    try group.allReduce(high, .max)
    try group.allReduce(low, .min)
    return try high.toArray(Double.self) == low.toArray(Double.self)
  }

  func any(_ flag: Bool) throws(TorchError) -> Bool {
    let t = try Tensor([flag ? 1.0 : 0.0], shape: [1])
    try group.allReduce(t, .max)
    return try t.toArray(Double.self)[0] > 0
  }
}
