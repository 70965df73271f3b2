import CTorch

public enum MemoryFormat: Int32, Sendable {
  case contiguous = 0, channelsLast = 1, preserve = 2
}

// Shape, layout, dtype and device ops.
extension Tensor {
  public func reshape(_ shape: [Int]) throws(TorchError) -> Tensor {
    try make("reshape") { out in shape.withInt64s { ct_reshape(handle, $0, $1, out) } }
  }

  public func view(_ shape: [Int]) throws(TorchError) -> Tensor {
    try make("view") { out in shape.withInt64s { ct_view(handle, $0, $1, out) } }
  }

  public func permute(_ dims: [Int]) throws(TorchError) -> Tensor {
    try make("permute") { out in dims.withInt64s { ct_permute(handle, $0, $1, out) } }
  }

  public func transpose(_ d0: Int, _ d1: Int) throws(TorchError) -> Tensor {
    try make("transpose") { ct_transpose(handle, Int64(d0), Int64(d1), $0) }
  }

  public func contiguous(_ format: MemoryFormat = .contiguous) throws(TorchError) -> Tensor {
    try make("contiguous") { ct_contiguous(handle, format.rawValue, $0) }
  }

  public static func cat(_ ts: [Tensor], dim: Int = 0) throws(TorchError) -> Tensor {
    try make("cat") { out in ts.withHandles { ct_cat($0, $1, Int64(dim), out) } }
  }

  public static func stack(_ ts: [Tensor], dim: Int = 0) throws(TorchError) -> Tensor {
    try make("stack") { out in ts.withHandles { ct_stack($0, $1, Int64(dim), out) } }
  }

  public func chunk(_ chunks: Int, dim: Int = 0) throws(TorchError) -> [Tensor] {
    var outs = [CTTensor?](repeating: nil, count: max(chunks, 0))
    var count: Int64 = 0
    try check("chunk", ct_chunk(handle, Int64(chunks), Int64(dim), &outs, Int64(outs.count), &count))
    return outs.prefix(Int(count)).map { Tensor(handle: $0!) }
  }

  public func split(_ sizes: [Int], dim: Int = 0) throws(TorchError) -> [Tensor] {
    var outs = [CTTensor?](repeating: nil, count: sizes.count)
    try check("split_with_sizes", sizes.withInt64s { ct_split_sizes(handle, $0, $1, Int64(dim), &outs) })
    return outs.map { Tensor(handle: $0!) }
  }

  /// self[..., start:end:step, ...] along dim (end is clamped like Python slicing).
  public func slice(dim: Int, start: Int = 0, end: Int = Int.max, step: Int = 1) throws(TorchError) -> Tensor {
    try make("slice") { ct_slice(handle, Int64(dim), Int64(start), Int64(end), Int64(step), $0) }
  }

  public func select(dim: Int, index: Int) throws(TorchError) -> Tensor {
    try make("select") { ct_select(handle, Int64(dim), Int64(index), $0) }
  }

  public func indexSelect(dim: Int, index: Tensor) throws(TorchError) -> Tensor {
    try make("index_select") { ct_index_select(handle, Int64(dim), index.handle, $0) }
  }

  public func gather(dim: Int, index: Tensor) throws(TorchError) -> Tensor {
    try make("gather") { ct_gather(handle, Int64(dim), index.handle, $0) }
  }

  public func expand(_ shape: [Int]) throws(TorchError) -> Tensor {
    try make("expand") { out in shape.withInt64s { ct_expand(handle, $0, $1, out) } }
  }

  public func `repeat`(_ repeats: [Int]) throws(TorchError) -> Tensor {
    try make("repeat") { out in repeats.withInt64s { ct_repeat(handle, $0, $1, out) } }
  }

  public func repeatInterleave(_ repeats: Int, dim: Int) throws(TorchError) -> Tensor {
    try make("repeat_interleave") { ct_repeat_interleave(handle, Int64(repeats), Int64(dim), $0) }
  }

  public func flip(_ dims: [Int]) throws(TorchError) -> Tensor {
    try make("flip") { out in dims.withInt64s { ct_flip(handle, $0, $1, out) } }
  }

  public func squeeze(_ dim: Int) throws(TorchError) -> Tensor { try make("squeeze") { ct_squeeze(handle, Int64(dim), $0) } }
  public func unsqueeze(_ dim: Int) throws(TorchError) -> Tensor { try make("unsqueeze") { ct_unsqueeze(handle, Int64(dim), $0) } }

  public func flatten(start: Int = 0, end: Int = -1) throws(TorchError) -> Tensor {
    try make("flatten") { ct_flatten(handle, Int64(start), Int64(end), $0) }
  }

  public func triu(_ diagonal: Int = 0) throws(TorchError) -> Tensor { try make("triu") { ct_triu(handle, Int64(diagonal), $0) } }
  public func tril(_ diagonal: Int = 0) throws(TorchError) -> Tensor { try make("tril") { ct_tril(handle, Int64(diagonal), $0) } }

  // MARK: dtype and device

  public func to(_ dtype: DType) throws(TorchError) -> Tensor {
    try make("to") { ct_to(handle, dtype.rawValue, CTDevice(type: -1, index: -1), false, false, $0) }
  }

  public func to(_ device: Device, nonBlocking: Bool = false) throws(TorchError) -> Tensor {
    try make("to") { ct_to(handle, -1, device.c, nonBlocking, false, $0) }
  }

  public func to(_ device: Device, _ dtype: DType, nonBlocking: Bool = false, copy: Bool = false) throws(TorchError) -> Tensor {
    try make("to") { ct_to(handle, dtype.rawValue, device.c, nonBlocking, copy, $0) }
  }

  public func clone() throws(TorchError) -> Tensor { try make("clone") { ct_clone(handle, $0) } }
}
