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

  public init(group: ProcessGroup) { self.group = group }

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

  func any(_ flag: Bool) throws(TorchError) -> Bool {
    let t = try Tensor([flag ? 1.0 : 0.0], shape: [1])
    try group.allReduce(t, .max)
    return try t.toArray(Double.self)[0] > 0
  }
}
