import CTorch

/// A libtorch call that failed: the op's name and libtorch's own message.
public struct TorchError: Error, CustomStringConvertible, Sendable {
  public let op: String
  public let message: String

  public init(op: String, message: String) {
    self.op = op
    self.message = message
  }

  public var description: String {
    // libtorch messages can span lines; keep one line for logs and errors.
    let oneLine = message.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters() }
      .filter { !$0.isEmpty }.joined(separator: " ")
    return "\(op): \(oneLine)"
  }
}

extension Substring {
  fileprivate func trimmingCharacters() -> Substring {
    var s = self
    while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
    while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
    return s
  }
}

@inline(__always)
func lastError() -> String { String(cString: ct_last_error()) }

/// Throws the thread's last libtorch error when a call failed.
@inline(__always)
func check(_ op: @autoclosure () -> String, _ status: CTStatus) throws(TorchError) {
  if status != 0 { throw TorchError(op: op(), message: lastError()) }
}
