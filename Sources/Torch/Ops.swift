import CTorch

// Elementwise ops, comparisons and reductions, named as torch's tensor methods.

@inline(__always)
func binary(_ op: CTBinaryOp, _ name: StaticString, _ a: Tensor, _ b: Tensor) throws(TorchError) -> Tensor {
  try make("\(name)") { ct_binary(Int32(op.rawValue), a.handle, b.handle, $0) }
}

@inline(__always)
func binary(_ op: CTBinaryOp, _ name: StaticString, _ a: Tensor, _ b: Double) throws(TorchError) -> Tensor {
  try make("\(name)") { ct_binary_scalar(Int32(op.rawValue), a.handle, b, $0) }
}

@inline(__always)
func unary(_ op: CTUnaryOp, _ name: StaticString, _ a: Tensor) throws(TorchError) -> Tensor {
  try make("\(name)") { ct_unary(Int32(op.rawValue), a.handle, $0) }
}

// MARK: operators

extension Tensor {
  public static func + (a: Tensor, b: Tensor) throws(TorchError) -> Tensor { try binary(CT_ADD, "add", a, b) }
  public static func - (a: Tensor, b: Tensor) throws(TorchError) -> Tensor { try binary(CT_SUB, "sub", a, b) }
  public static func * (a: Tensor, b: Tensor) throws(TorchError) -> Tensor { try binary(CT_MUL, "mul", a, b) }
  public static func / (a: Tensor, b: Tensor) throws(TorchError) -> Tensor { try binary(CT_DIV, "div", a, b) }
  public static func + (a: Tensor, b: Double) throws(TorchError) -> Tensor { try binary(CT_ADD, "add", a, b) }
  public static func - (a: Tensor, b: Double) throws(TorchError) -> Tensor { try binary(CT_SUB, "sub", a, b) }
  public static func * (a: Tensor, b: Double) throws(TorchError) -> Tensor { try binary(CT_MUL, "mul", a, b) }
  public static func / (a: Tensor, b: Double) throws(TorchError) -> Tensor { try binary(CT_DIV, "div", a, b) }
  public static func + (a: Double, b: Tensor) throws(TorchError) -> Tensor { try scalarFirst(CT_ADD, "add", a, b) }
  public static func - (a: Double, b: Tensor) throws(TorchError) -> Tensor { try scalarFirst(CT_SUB, "rsub", a, b) }
  public static func * (a: Double, b: Tensor) throws(TorchError) -> Tensor { try scalarFirst(CT_MUL, "mul", a, b) }
  public static func / (a: Double, b: Tensor) throws(TorchError) -> Tensor { try scalarFirst(CT_DIV, "div", a, b) }
  public static prefix func - (a: Tensor) throws(TorchError) -> Tensor { try unary(CT_NEG, "neg", a) }

  static func scalarFirst(_ op: CTBinaryOp, _ name: StaticString, _ a: Double, _ b: Tensor) throws(TorchError) -> Tensor {
    try make("\(name)") { ct_scalar_binary(Int32(op.rawValue), a, b.handle, $0) }
  }

  /// self + alpha * other (torch.add with alpha).
  public func add(_ other: Tensor, alpha: Double) throws(TorchError) -> Tensor {
    try make("add") { ct_add_alpha(handle, other.handle, alpha, $0) }
  }

  public func pow(_ e: Double) throws(TorchError) -> Tensor { try binary(CT_POW, "pow", self, e) }
  public func pow(_ e: Tensor) throws(TorchError) -> Tensor { try binary(CT_POW, "pow", self, e) }
  public static func pow(_ base: Double, _ e: Tensor) throws(TorchError) -> Tensor { try scalarFirst(CT_POW, "pow", base, e) }
  public func maximum(_ o: Tensor) throws(TorchError) -> Tensor { try binary(CT_MAXIMUM, "maximum", self, o) }
  public func minimum(_ o: Tensor) throws(TorchError) -> Tensor { try binary(CT_MINIMUM, "minimum", self, o) }
  public func remainder(_ o: Tensor) throws(TorchError) -> Tensor { try binary(CT_REMAINDER, "remainder", self, o) }
  public func remainder(_ o: Double) throws(TorchError) -> Tensor { try binary(CT_REMAINDER, "remainder", self, o) }
  public func floorDivide(_ o: Tensor) throws(TorchError) -> Tensor { try binary(CT_FLOOR_DIVIDE, "floor_divide", self, o) }
  public func floorDivide(_ o: Double) throws(TorchError) -> Tensor { try binary(CT_FLOOR_DIVIDE, "floor_divide", self, o) }
  public func atan2(_ o: Tensor) throws(TorchError) -> Tensor { try binary(CT_ATAN2, "atan2", self, o) }

  // MARK: comparisons and logic

  public func eq(_ o: Tensor) throws(TorchError) -> Tensor { try binary(CT_EQ, "eq", self, o) }
  public func ne(_ o: Tensor) throws(TorchError) -> Tensor { try binary(CT_NE, "ne", self, o) }
  public func lt(_ o: Tensor) throws(TorchError) -> Tensor { try binary(CT_LT, "lt", self, o) }
  public func le(_ o: Tensor) throws(TorchError) -> Tensor { try binary(CT_LE, "le", self, o) }
  public func gt(_ o: Tensor) throws(TorchError) -> Tensor { try binary(CT_GT, "gt", self, o) }
  public func ge(_ o: Tensor) throws(TorchError) -> Tensor { try binary(CT_GE, "ge", self, o) }
  public func eq(_ o: Double) throws(TorchError) -> Tensor { try binary(CT_EQ, "eq", self, o) }
  public func ne(_ o: Double) throws(TorchError) -> Tensor { try binary(CT_NE, "ne", self, o) }
  public func lt(_ o: Double) throws(TorchError) -> Tensor { try binary(CT_LT, "lt", self, o) }
  public func le(_ o: Double) throws(TorchError) -> Tensor { try binary(CT_LE, "le", self, o) }
  public func gt(_ o: Double) throws(TorchError) -> Tensor { try binary(CT_GT, "gt", self, o) }
  public func ge(_ o: Double) throws(TorchError) -> Tensor { try binary(CT_GE, "ge", self, o) }
  public func logicalAnd(_ o: Tensor) throws(TorchError) -> Tensor { try binary(CT_LOGICAL_AND, "logical_and", self, o) }
  public func logicalOr(_ o: Tensor) throws(TorchError) -> Tensor { try binary(CT_LOGICAL_OR, "logical_or", self, o) }
  public func logicalXor(_ o: Tensor) throws(TorchError) -> Tensor { try binary(CT_LOGICAL_XOR, "logical_xor", self, o) }
  public func logicalNot() throws(TorchError) -> Tensor { try unary(CT_LOGICAL_NOT, "logical_not", self) }
  public func isnan() throws(TorchError) -> Tensor { try unary(CT_ISNAN, "isnan", self) }
  public func isinf() throws(TorchError) -> Tensor { try unary(CT_ISINF, "isinf", self) }
  public func isfinite() throws(TorchError) -> Tensor { try unary(CT_ISFINITE, "isfinite", self) }

  // MARK: unary math

  public func neg() throws(TorchError) -> Tensor { try unary(CT_NEG, "neg", self) }
  public func abs() throws(TorchError) -> Tensor { try unary(CT_ABS, "abs", self) }
  public func exp() throws(TorchError) -> Tensor { try unary(CT_EXP, "exp", self) }
  public func log() throws(TorchError) -> Tensor { try unary(CT_LOG, "log", self) }
  public func log2() throws(TorchError) -> Tensor { try unary(CT_LOG2, "log2", self) }
  public func log1p() throws(TorchError) -> Tensor { try unary(CT_LOG1P, "log1p", self) }
  public func expm1() throws(TorchError) -> Tensor { try unary(CT_EXPM1, "expm1", self) }
  public func sqrt() throws(TorchError) -> Tensor { try unary(CT_SQRT, "sqrt", self) }
  public func rsqrt() throws(TorchError) -> Tensor { try unary(CT_RSQRT, "rsqrt", self) }
  public func sin() throws(TorchError) -> Tensor { try unary(CT_SIN, "sin", self) }
  public func cos() throws(TorchError) -> Tensor { try unary(CT_COS, "cos", self) }
  public func tanh() throws(TorchError) -> Tensor { try unary(CT_TANH, "tanh", self) }
  public func sigmoid() throws(TorchError) -> Tensor { try unary(CT_SIGMOID, "sigmoid", self) }
  public func erf() throws(TorchError) -> Tensor { try unary(CT_ERF, "erf", self) }
  public func floor() throws(TorchError) -> Tensor { try unary(CT_FLOOR, "floor", self) }
  public func ceil() throws(TorchError) -> Tensor { try unary(CT_CEIL, "ceil", self) }
  public func round() throws(TorchError) -> Tensor { try unary(CT_ROUND, "round", self) }
  public func trunc() throws(TorchError) -> Tensor { try unary(CT_TRUNC, "trunc", self) }
  public func sign() throws(TorchError) -> Tensor { try unary(CT_SIGN, "sign", self) }
  public func reciprocal() throws(TorchError) -> Tensor { try unary(CT_RECIPROCAL, "reciprocal", self) }
  public func square() throws(TorchError) -> Tensor { try unary(CT_SQUARE, "square", self) }

  public func clamp(min: Double? = nil, max: Double? = nil) throws(TorchError) -> Tensor {
    try make("clamp") { ct_clamp(handle, min != nil, min ?? 0, max != nil, max ?? 0, $0) }
  }

  public func maskedFill(_ mask: Tensor, _ value: Double) throws(TorchError) -> Tensor {
    try make("masked_fill") { ct_masked_fill(handle, mask.handle, value, $0) }
  }

  public func lerp(_ end: Tensor, _ weight: Double) throws(TorchError) -> Tensor {
    try make("lerp") { ct_lerp(handle, end.handle, weight, $0) }
  }

  /// torch.where(cond, a, b).
  public static func `where`(_ cond: Tensor, _ a: Tensor, _ b: Tensor) throws(TorchError) -> Tensor {
    try make("where") { ct_where(cond.handle, a.handle, b.handle, $0) }
  }

  public func allclose(_ o: Tensor, rtol: Double = 1e-5, atol: Double = 1e-8) throws(TorchError) -> Bool {
    var b = false
    try check("allclose", ct_allclose(handle, o.handle, rtol, atol, &b))
    return b
  }

  /// torch.equal: same shape and values.
  public func equal(_ o: Tensor) throws(TorchError) -> Bool {
    var b = false
    try check("equal", ct_equal(handle, o.handle, &b))
    return b
  }

  // MARK: reductions (empty dims: all)

  func reduce(_ op: CTReduceOp, _ name: StaticString, _ dims: [Int], _ keepdim: Bool) throws(TorchError) -> Tensor {
    try make("\(name)") { out in dims.withInt64s { ct_reduce(Int32(op.rawValue), handle, $0, $1, keepdim, out) } }
  }

  public func sum(_ dims: [Int] = [], keepdim: Bool = false) throws(TorchError) -> Tensor { try reduce(CT_SUM, "sum", dims, keepdim) }
  public func sum(dim: Int, keepdim: Bool = false) throws(TorchError) -> Tensor { try reduce(CT_SUM, "sum", [dim], keepdim) }
  public func nansum(_ dims: [Int] = [], keepdim: Bool = false) throws(TorchError) -> Tensor { try reduce(CT_NANSUM, "nansum", dims, keepdim) }
  public func mean(_ dims: [Int] = [], keepdim: Bool = false) throws(TorchError) -> Tensor { try reduce(CT_MEAN, "mean", dims, keepdim) }
  public func mean(dim: Int, keepdim: Bool = false) throws(TorchError) -> Tensor { try reduce(CT_MEAN, "mean", [dim], keepdim) }
  public func amax(_ dims: [Int] = [], keepdim: Bool = false) throws(TorchError) -> Tensor { try reduce(CT_AMAX, "amax", dims, keepdim) }
  public func amin(_ dims: [Int] = [], keepdim: Bool = false) throws(TorchError) -> Tensor { try reduce(CT_AMIN, "amin", dims, keepdim) }
  public func prod(_ dims: [Int] = [], keepdim: Bool = false) throws(TorchError) -> Tensor { try reduce(CT_PROD, "prod", dims, keepdim) }
  public func any(_ dims: [Int] = [], keepdim: Bool = false) throws(TorchError) -> Tensor { try reduce(CT_ANY, "any", dims, keepdim) }
  public func all(_ dims: [Int] = [], keepdim: Bool = false) throws(TorchError) -> Tensor { try reduce(CT_ALL, "all", dims, keepdim) }
  public func logsumexp(_ dims: [Int] = [], keepdim: Bool = false) throws(TorchError) -> Tensor { try reduce(CT_LOGSUMEXP, "logsumexp", dims, keepdim) }

  public func variance(_ dims: [Int] = [], correction: Double = 1, keepdim: Bool = false) throws(TorchError) -> Tensor {
    try make("var") { out in dims.withInt64s { ct_var(handle, $0, $1, correction, keepdim, false, out) } }
  }

  public func std(_ dims: [Int] = [], correction: Double = 1, keepdim: Bool = false) throws(TorchError) -> Tensor {
    try make("std") { out in dims.withInt64s { ct_var(handle, $0, $1, correction, keepdim, true, out) } }
  }

  /// torch.linalg.vector_norm.
  public func norm(_ p: Double = 2, _ dims: [Int] = [], keepdim: Bool = false) throws(TorchError) -> Tensor {
    try make("linalg_vector_norm") { out in dims.withInt64s { ct_norm(handle, p, $0, $1, keepdim, out) } }
  }

  public func argmax(dim: Int, keepdim: Bool = false) throws(TorchError) -> Tensor {
    try make("argmax") { ct_argmax(handle, Int64(dim), keepdim, $0) }
  }

  public func argmin(dim: Int, keepdim: Bool = false) throws(TorchError) -> Tensor {
    try make("argmin") { ct_argmin(handle, Int64(dim), keepdim, $0) }
  }

  public func cumsum(dim: Int) throws(TorchError) -> Tensor { try make("cumsum") { ct_cumsum(handle, Int64(dim), $0) } }

  // MARK: linear algebra

  public func matmul(_ o: Tensor) throws(TorchError) -> Tensor { try make("matmul") { ct_matmul(handle, o.handle, $0) } }
  public func mm(_ o: Tensor) throws(TorchError) -> Tensor { try make("mm") { ct_mm(handle, o.handle, $0) } }
  public func bmm(_ o: Tensor) throws(TorchError) -> Tensor { try make("bmm") { ct_bmm(handle, o.handle, $0) } }

  /// beta * self + alpha * (b1 @ b2), batched.
  public func baddbmm(_ b1: Tensor, _ b2: Tensor, beta: Double = 1, alpha: Double = 1) throws(TorchError) -> Tensor {
    try make("baddbmm") { ct_baddbmm(handle, b1.handle, b2.handle, beta, alpha, $0) }
  }

  public func addmm(_ m1: Tensor, _ m2: Tensor, beta: Double = 1, alpha: Double = 1) throws(TorchError) -> Tensor {
    try make("addmm") { ct_addmm(handle, m1.handle, m2.handle, beta, alpha, $0) }
  }
}

// MARK: in-place ops (optimizers, EMA, state copies)

extension Tensor {
  @inline(__always)
  func inplace(_ op: CTBinaryOp, _ name: StaticString, _ o: Tensor) throws(TorchError) -> Tensor {
    try check("\(name)", ct_binary_(Int32(op.rawValue), handle, o.handle))
    return self
  }

  @inline(__always)
  func inplace(_ op: CTBinaryOp, _ name: StaticString, _ o: Double) throws(TorchError) -> Tensor {
    try check("\(name)", ct_binary_scalar_(Int32(op.rawValue), handle, o))
    return self
  }

  @discardableResult public func add_(_ o: Tensor) throws(TorchError) -> Tensor { try inplace(CT_ADD, "add_", o) }
  @discardableResult public func add_(_ o: Double) throws(TorchError) -> Tensor { try inplace(CT_ADD, "add_", o) }
  @discardableResult public func sub_(_ o: Tensor) throws(TorchError) -> Tensor { try inplace(CT_SUB, "sub_", o) }
  @discardableResult public func sub_(_ o: Double) throws(TorchError) -> Tensor { try inplace(CT_SUB, "sub_", o) }
  @discardableResult public func mul_(_ o: Tensor) throws(TorchError) -> Tensor { try inplace(CT_MUL, "mul_", o) }
  @discardableResult public func mul_(_ o: Double) throws(TorchError) -> Tensor { try inplace(CT_MUL, "mul_", o) }
  @discardableResult public func div_(_ o: Tensor) throws(TorchError) -> Tensor { try inplace(CT_DIV, "div_", o) }
  @discardableResult public func div_(_ o: Double) throws(TorchError) -> Tensor { try inplace(CT_DIV, "div_", o) }

  /// self += alpha * other.
  @discardableResult public func add_(_ o: Tensor, alpha: Double) throws(TorchError) -> Tensor {
    try check("add_", ct_add_alpha_(handle, o.handle, alpha))
    return self
  }

  @discardableResult public func lerp_(_ end: Tensor, _ weight: Double) throws(TorchError) -> Tensor {
    try check("lerp_", ct_lerp_(handle, end.handle, weight))
    return self
  }

  @discardableResult public func lerp_(_ end: Tensor, _ weight: Tensor) throws(TorchError) -> Tensor {
    try check("lerp_", ct_lerp_tensor_(handle, end.handle, weight.handle))
    return self
  }

  @discardableResult public func addcmul_(_ t1: Tensor, _ t2: Tensor, value: Double = 1) throws(TorchError) -> Tensor {
    try check("addcmul_", ct_addcmul_(handle, t1.handle, t2.handle, value))
    return self
  }

  @discardableResult public func addcdiv_(_ t1: Tensor, _ t2: Tensor, value: Double = 1) throws(TorchError) -> Tensor {
    try check("addcdiv_", ct_addcdiv_(handle, t1.handle, t2.handle, value))
    return self
  }

  @discardableResult public func copy_(_ src: Tensor, nonBlocking: Bool = false) throws(TorchError) -> Tensor {
    try check("copy_", ct_copy_(handle, src.handle, nonBlocking))
    return self
  }

  @discardableResult public func fill_(_ value: Double) throws(TorchError) -> Tensor {
    try check("fill_", ct_fill_(handle, value))
    return self
  }

  @discardableResult public func zero_() throws(TorchError) -> Tensor {
    try check("zero_", ct_zero_(handle))
    return self
  }

  @discardableResult public func clamp_(min: Double? = nil, max: Double? = nil) throws(TorchError) -> Tensor {
    try check("clamp_", ct_clamp_(handle, min != nil, min ?? 0, max != nil, max ?? 0))
    return self
  }

  @discardableResult public func sqrt_() throws(TorchError) -> Tensor {
    try check("sqrt_", ct_unary_(Int32(CT_SQRT.rawValue), handle))
    return self
  }
}

/// torch._foreach_* in-place ops over lists of tensors (one kernel launch per group on CUDA).
public enum Foreach {
  public static func mul_(_ ts: [Tensor], _ s: Double) throws(TorchError) {
    try check("_foreach_mul_", ts.withHandles { ct_foreach_mul_scalar_($0, $1, s) })
  }

  public static func mul_(_ ts: [Tensor], _ s: Tensor) throws(TorchError) {
    try check("_foreach_mul_", ts.withHandles { ct_foreach_mul_tensor_($0, $1, s.handle) })
  }

  public static func add_(_ ts: [Tensor], _ others: [Tensor], alpha: Double = 1) throws(TorchError) {
    try sameCount("_foreach_add_", ts, others)
    try check("_foreach_add_", ts.withHandles { a, n in others.withHandles { b, _ in ct_foreach_add_(a, b, n, alpha) } })
  }

  public static func lerp_(_ ts: [Tensor], _ ends: [Tensor], weight: Double) throws(TorchError) {
    try sameCount("_foreach_lerp_", ts, ends)
    try check("_foreach_lerp_", ts.withHandles { a, n in ends.withHandles { b, _ in ct_foreach_lerp_(a, b, n, weight) } })
  }

  public static func copy_(_ dst: [Tensor], _ src: [Tensor]) throws(TorchError) {
    try sameCount("_foreach_copy_", dst, src)
    try check("_foreach_copy_", dst.withHandles { a, n in src.withHandles { b, _ in ct_foreach_copy_(a, b, n) } })
  }

  public static func zero_(_ ts: [Tensor]) throws(TorchError) {
    try check("_foreach_zero_", ts.withHandles { ct_foreach_zero_($0, $1) })
  }

  /// ts *= invScale in place; foundInf (1 element, float32) becomes 1 if any element is inf/NaN.
  public static func ampUnscale_(_ ts: [Tensor], foundInf: Tensor, invScale: Tensor) throws(TorchError) {
    try check("_amp_foreach_non_finite_check_and_unscale_", ts.withHandles { ct_amp_unscale_($0, $1, foundInf.handle, invScale.handle) })
  }

  static func sameCount(_ op: String, _ a: [Tensor], _ b: [Tensor]) throws(TorchError) {
    if a.count != b.count {
      throw TorchError(op: op, message: "lists differ in length (\(a.count) vs \(b.count))")
    }
  }
}
