import SafeTensors
import Torch

/// A strict load failure: every missing, unexpected and mismatched key at once.
public struct StateDictError: Error, CustomStringConvertible, Sendable {
  public var source: String
  public var missing: [String] = []
  public var unexpected: [String] = []
  public var mismatched: [(key: String, expected: [Int], found: [Int])] = []

  public var isEmpty: Bool { missing.isEmpty && unexpected.isEmpty && mismatched.isEmpty }

  public var description: String {
    var parts: [String] = []
    func few(_ keys: [String]) -> String {
      let shown = keys.prefix(8).map { "'\($0)'" }.joined(separator: ", ")
      return keys.count > 8 ? "\(shown), ... (\(keys.count) in all)" : shown
    }
    if !missing.isEmpty { parts.append("missing keys: \(few(missing))") }
    if !unexpected.isEmpty { parts.append("unexpected keys: \(few(unexpected))") }
    if !mismatched.isEmpty {
      let shown = mismatched.prefix(8).map { "'\($0.key)' expected \($0.expected) found \($0.found)" }
      parts.append("shape mismatches: \(shown.joined(separator: ", "))")
    }
    return "\(source): error loading state dict: \(parts.joined(separator: "; "))"
  }
}

extension TensorDType {
  /// The torch dtype of a safetensors dtype.
  public init(_ st: SafeTensors.DType) {
    switch st {
    case .F64: self = .float64
    case .F32: self = .float32
    case .F16: self = .float16
    case .BF16: self = .bfloat16
    case .I64: self = .int64
    case .I32: self = .int32
    case .I16: self = .int16
    case .I8: self = .int8
    case .U8: self = .uint8
    case .BOOL: self = .bool
    }
  }

  public var safeTensorsDType: SafeTensors.DType {
    switch self {
    case .float64: .F64
    case .float32: .F32
    case .float16: .F16
    case .bfloat16: .BF16
    case .int64: .I64
    case .int32: .I32
    case .int16: .I16
    case .int8: .I8
    case .uint8: .U8
    case .bool: .BOOL
    }
  }
}

extension Tensor {
  /// Reads one tensor of a safetensors source into a new CPU tensor.
  public static func load(_ key: String, from source: any TensorSource) throws -> Tensor {
    guard let info = source.info(key) else {
      throw TorchError(op: "load", message: "no tensor named '\(key)'")
    }
    return try source.withBytes(key) { raw in
      try Tensor(bytes: raw, shape: info.shape, dtype: TensorDType(info.dtype))
    }
  }
}

extension ParameterStore {
  /// Strict load (PyTorch's load_state_dict(strict=True)): every store key must be present with
  /// the same shape and no extra key may exist; all problems are reported together. Values are
  /// converted to each parameter's dtype and device.
  /// `keepMissing`: keys the caller knows are absent (a student's new cond_proj, LoRA adapters);
  /// those parameters keep their values.
  public func load(_ tensors: [String: Tensor], source: String = "state dict", keepMissing: Set<String> = []) throws {
    var problems = StateDictError(source: source)
    for p in parameters {
      guard let t = tensors[p.name] else {
        if !keepMissing.contains(p.name) { problems.missing.append(p.name) }
        continue
      }
      if t.shape != p.tensor.shape {
        problems.mismatched.append((p.name, p.tensor.shape, t.shape))
      }
    }
    let known = Set(names)
    problems.unexpected = tensors.keys.filter { !known.contains($0) }.sorted()
    guard problems.isEmpty else { throw problems }
    try assign(skipping: keepMissing.subtracting(tensors.keys)) { tensors[$0]! }
  }

  /// Strict load from a safetensors file or sharded index (lazily, one tensor at a time).
  public func load(from source: any TensorSource, name: String) throws {
    var problems = StateDictError(source: name)
    for p in parameters {
      guard let info = source.info(p.name) else {
        problems.missing.append(p.name)
        continue
      }
      if info.shape != p.tensor.shape {
        problems.mismatched.append((p.name, p.tensor.shape, info.shape))
      }
    }
    let known = Set(names)
    problems.unexpected = source.keys.filter { !known.contains($0) }
    guard problems.isEmpty else { throw problems }
    try assign { try Tensor.load($0, from: source) }
  }

  public func load(safetensors path: String) throws {
    try load(from: try openSafeTensors(path: path), name: path)
  }

  private func assign(skipping: Set<String> = [], _ value: (String) throws -> Tensor) throws {
    try Torch.noGrad { () throws in
      for p in parameters where !skipping.contains(p.name) {
        let src = try value(p.name)
        let target = p.tensor
        if target.device.kind == .meta {
          try p.replace(try src.to(device, p.isBuffer || !src.dtype.isFloatingPoint ? src.dtype : dtype))
        } else {
          try target.copy_(src)
        }
      }
    }
  }

  /// Writes the state dict as a safetensors file (as diffusers' save_pretrained does).
  public func save(safetensors path: String, metadata: [String: String] = ["format": "pt"]) throws {
    try writeSafeTensors(stateDict(), to: path, metadata: metadata)
  }
}

/// Writes named tensors to a safetensors file.
public func writeSafeTensors(_ tensors: [(String, Tensor)], to path: String, metadata: [String: String] = [:]) throws {
  let items = try tensors.map { name, t in
    TensorToWrite(name: name, dtype: t.dtype.safeTensorsDType, shape: t.shape, bytes: try t.bytes())
  }
  try SafeTensorsWriter.write(items, metadata: metadata, to: path)
}
