// Elementwise, reductions, linear algebra, neural-network functions and shape ops.
#include "internal.h"

using namespace ctorch;

static at::Tensor binary(int32_t op, const at::Tensor &a, const at::Tensor &b) {
  switch (op) {
    case CT_ADD: return at::add(a, b);
    case CT_SUB: return at::sub(a, b);
    case CT_MUL: return at::mul(a, b);
    case CT_DIV: return at::div(a, b);
    case CT_POW: return at::pow(a, b);
    case CT_MAXIMUM: return at::maximum(a, b);
    case CT_MINIMUM: return at::minimum(a, b);
    case CT_REMAINDER: return at::remainder(a, b);
    case CT_ATAN2: return at::atan2(a, b);
    case CT_EQ: return at::eq(a, b);
    case CT_NE: return at::ne(a, b);
    case CT_LT: return at::lt(a, b);
    case CT_LE: return at::le(a, b);
    case CT_GT: return at::gt(a, b);
    case CT_GE: return at::ge(a, b);
    case CT_LOGICAL_AND: return at::logical_and(a, b);
    case CT_LOGICAL_OR: return at::logical_or(a, b);
    case CT_LOGICAL_XOR: return at::logical_xor(a, b);
    case CT_FLOOR_DIVIDE: return at::floor_divide(a, b);
  }
  throw std::invalid_argument("unknown binary op " + std::to_string(op));
}

static at::Tensor binary_scalar(int32_t op, const at::Tensor &a, const at::Scalar &b) {
  switch (op) {
    case CT_ADD: return at::add(a, b);
    case CT_SUB: return at::sub(a, b);
    case CT_MUL: return at::mul(a, b);
    case CT_DIV: return at::div(a, b);
    case CT_POW: return at::pow(a, b);
    case CT_MAXIMUM: return at::clamp_min(a, b);
    case CT_MINIMUM: return at::clamp_max(a, b);
    case CT_REMAINDER: return at::remainder(a, b);
    case CT_EQ: return at::eq(a, b);
    case CT_NE: return at::ne(a, b);
    case CT_LT: return at::lt(a, b);
    case CT_LE: return at::le(a, b);
    case CT_GT: return at::gt(a, b);
    case CT_GE: return at::ge(a, b);
    case CT_FLOOR_DIVIDE: return at::floor_divide(a, b);
    default: return binary(op, a, at::scalar_tensor(b, a.options().dtype(at::kDouble)).to(a.scalar_type()));
  }
}

static void binary_inplace(int32_t op, at::Tensor &a, const at::Tensor &b) {
  switch (op) {
    case CT_ADD: a.add_(b); return;
    case CT_SUB: a.sub_(b); return;
    case CT_MUL: a.mul_(b); return;
    case CT_DIV: a.div_(b); return;
    case CT_POW: a.pow_(b); return;
    case CT_REMAINDER: a.remainder_(b); return;
    default: a.copy_(binary(op, a, b)); return;
  }
}

static void binary_scalar_inplace(int32_t op, at::Tensor &a, const at::Scalar &b) {
  switch (op) {
    case CT_ADD: a.add_(b); return;
    case CT_SUB: a.sub_(b); return;
    case CT_MUL: a.mul_(b); return;
    case CT_DIV: a.div_(b); return;
    case CT_POW: a.pow_(b); return;
    case CT_MAXIMUM: a.clamp_min_(b); return;
    case CT_MINIMUM: a.clamp_max_(b); return;
    default: a.copy_(binary_scalar(op, a, b)); return;
  }
}

static at::Tensor unary(int32_t op, const at::Tensor &a) {
  switch (op) {
    case CT_NEG: return at::neg(a);
    case CT_ABS: return at::abs(a);
    case CT_EXP: return at::exp(a);
    case CT_LOG: return at::log(a);
    case CT_SQRT: return at::sqrt(a);
    case CT_RSQRT: return at::rsqrt(a);
    case CT_SIN: return at::sin(a);
    case CT_COS: return at::cos(a);
    case CT_TANH: return at::tanh(a);
    case CT_SIGMOID: return at::sigmoid(a);
    case CT_RELU: return at::relu(a);
    case CT_SILU: return at::silu(a);
    case CT_GELU: return at::gelu(a, "none");
    case CT_GELU_TANH: return at::gelu(a, "tanh");
    case CT_ERF: return at::erf(a);
    case CT_FLOOR: return at::floor(a);
    case CT_CEIL: return at::ceil(a);
    case CT_ROUND: return at::round(a);
    case CT_SIGN: return at::sign(a);
    case CT_RECIPROCAL: return at::reciprocal(a);
    case CT_SQUARE: return at::square(a);
    case CT_LOG1P: return at::log1p(a);
    case CT_EXPM1: return at::expm1(a);
    case CT_LOGICAL_NOT: return at::logical_not(a);
    case CT_ISNAN: return at::isnan(a);
    case CT_ISINF: return at::isinf(a);
    case CT_ISFINITE: return at::isfinite(a);
    case CT_LOG2: return at::log2(a);
    case CT_TRUNC: return at::trunc(a);
    case CT_MISH: return at::mish(a);
    case CT_SOFTPLUS: return at::softplus(a);
    // transformers' QuickGELUActivation: x * sigmoid(1.702 * x)
    case CT_QUICK_GELU: return a * at::sigmoid(a * 1.702);
  }
  throw std::invalid_argument("unknown unary op " + std::to_string(op));
}

static std::optional<at::ScalarType> opt_dtype(int32_t dtype) {
  if (dtype < 0) return std::nullopt;
  return scalar_type(dtype);
}

static at::OptionalIntArrayRef opt_dims(const int64_t *d, int64_t n) {
  if (n == 0) return std::nullopt;
  return dims(d, n);
}

extern "C" {

CTStatus ct_binary(int32_t op, CTTensor a, CTTensor b, CTTensor *out) { CT_GUARD(put(out, binary(op, T(a), T(b)))) }
CTStatus ct_binary_scalar(int32_t op, CTTensor a, double b, CTTensor *out) {
  CT_GUARD(put(out, binary_scalar(op, T(a), b)))
}
CTStatus ct_scalar_binary(int32_t op, double a, CTTensor b, CTTensor *out) {
  CT_GUARD({
    auto &y = T(b);
    switch (op) {
      case CT_SUB: put(out, at::rsub(y, a)); break;
      case CT_ADD: put(out, at::add(y, a)); break;
      case CT_MUL: put(out, at::mul(y, a)); break;
      case CT_POW: put(out, at::pow(at::Scalar(a), y)); break;
      default: put(out, binary(op, at::scalar_tensor(a, y.options()), y)); break;
    }
  })
}
CTStatus ct_binary_(int32_t op, CTTensor a, CTTensor b) { CT_GUARD(binary_inplace(op, T(a), T(b))) }
CTStatus ct_binary_scalar_(int32_t op, CTTensor a, double b) { CT_GUARD(binary_scalar_inplace(op, T(a), b)) }
CTStatus ct_add_alpha(CTTensor a, CTTensor b, double alpha, CTTensor *out) {
  CT_GUARD(put(out, at::add(T(a), T(b), alpha)))
}
CTStatus ct_add_alpha_(CTTensor a, CTTensor b, double alpha) { CT_GUARD(T(a).add_(T(b), alpha)) }
CTStatus ct_unary(int32_t op, CTTensor a, CTTensor *out) { CT_GUARD(put(out, unary(op, T(a)))) }
CTStatus ct_unary_(int32_t op, CTTensor a) {
  CT_GUARD({
    auto &x = T(a);
    switch (op) {
      case CT_NEG: x.neg_(); break;
      case CT_EXP: x.exp_(); break;
      case CT_SQRT: x.sqrt_(); break;
      case CT_ABS: x.abs_(); break;
      case CT_RELU: x.relu_(); break;
      case CT_SIGMOID: x.sigmoid_(); break;
      case CT_TANH: x.tanh_(); break;
      case CT_SILU: at::silu_(x); break;
      case CT_FLOOR: x.floor_(); break;
      case CT_ROUND: x.round_(); break;
      default: x.copy_(unary(op, x)); break;
    }
  })
}
CTStatus ct_where(CTTensor cond, CTTensor a, CTTensor b, CTTensor *out) {
  CT_GUARD(put(out, at::where(T(cond), T(a), T(b))))
}
CTStatus ct_clamp(CTTensor a, bool has_min, double min, bool has_max, double max, CTTensor *out) {
  CT_GUARD(put(out, at::clamp(T(a), has_min ? std::optional<at::Scalar>(min) : std::nullopt,
                              has_max ? std::optional<at::Scalar>(max) : std::nullopt)))
}
CTStatus ct_clamp_(CTTensor a, bool has_min, double min, bool has_max, double max) {
  CT_GUARD(T(a).clamp_(has_min ? std::optional<at::Scalar>(min) : std::nullopt,
                       has_max ? std::optional<at::Scalar>(max) : std::nullopt))
}
CTStatus ct_masked_fill(CTTensor a, CTTensor mask, double value, CTTensor *out) {
  CT_GUARD(put(out, at::masked_fill(T(a), T(mask), value)))
}
CTStatus ct_lerp(CTTensor a, CTTensor end, double weight, CTTensor *out) {
  CT_GUARD(put(out, at::lerp(T(a), T(end), weight)))
}
CTStatus ct_lerp_(CTTensor a, CTTensor end, double weight) { CT_GUARD(T(a).lerp_(T(end), weight)) }
CTStatus ct_lerp_tensor_(CTTensor a, CTTensor end, CTTensor weight) { CT_GUARD(T(a).lerp_(T(end), T(weight))) }
CTStatus ct_addcmul_(CTTensor a, CTTensor t1, CTTensor t2, double value) {
  CT_GUARD(T(a).addcmul_(T(t1), T(t2), value))
}
CTStatus ct_addcdiv_(CTTensor a, CTTensor t1, CTTensor t2, double value) {
  CT_GUARD(T(a).addcdiv_(T(t1), T(t2), value))
}
CTStatus ct_copy_(CTTensor dst, CTTensor src, bool non_blocking) { CT_GUARD(T(dst).copy_(T(src), non_blocking)) }
CTStatus ct_fill_(CTTensor a, double value) { CT_GUARD(T(a).fill_(value)) }
CTStatus ct_zero_(CTTensor a) { CT_GUARD(T(a).zero_()) }
CTStatus ct_allclose(CTTensor a, CTTensor b, double rtol, double atol, bool *out) {
  CT_GUARD(*out = at::allclose(T(a), T(b), rtol, atol))
}
CTStatus ct_equal(CTTensor a, CTTensor b, bool *out) { CT_GUARD(*out = at::equal(T(a), T(b))) }

// ---- reductions ---------------------------------------------------------------------------------

CTStatus ct_reduce(int32_t op, CTTensor a, const int64_t *d, int64_t nd, bool keepdim, CTTensor *out) {
  CT_GUARD({
    auto &x = T(a);
    auto ds = opt_dims(d, nd);
    switch (op) {
      case CT_SUM: put(out, at::sum(x, ds, keepdim)); break;
      case CT_NANSUM: put(out, at::nansum(x, ds.value_or(at::IntArrayRef{}), keepdim)); break;
      case CT_MEAN: put(out, at::mean(x, ds, keepdim)); break;
      case CT_AMAX: put(out, at::amax(x, ds.value_or(at::IntArrayRef{}), keepdim)); break;
      case CT_AMIN: put(out, at::amin(x, ds.value_or(at::IntArrayRef{}), keepdim)); break;
      case CT_ANY: put(out, at::any(x, ds, keepdim)); break;
      case CT_ALL: put(out, at::all(x, ds, keepdim)); break;
      case CT_LOGSUMEXP: {
        std::vector<int64_t> all;
        if (nd == 0)
          for (int64_t i = 0; i < x.dim(); i++) all.push_back(i);
        put(out, at::logsumexp(x, nd == 0 ? at::IntArrayRef(all) : dims(d, nd), keepdim));
        break;
      }
      case CT_PROD: {
        if (nd == 0) {
          auto r = at::prod(x);
          put(out, keepdim ? r.reshape(std::vector<int64_t>(x.dim(), 1)) : r);
          break;
        }
        // at::prod reduces one dim at a time: go from the last dim so indices stay valid.
        std::vector<int64_t> sorted;
        for (int64_t i = 0; i < nd; i++) sorted.push_back(c10::maybe_wrap_dim(d[i], x.dim()));
        std::sort(sorted.rbegin(), sorted.rend());
        at::Tensor r = x;
        for (auto dim : sorted) r = at::prod(r, dim, keepdim);
        put(out, r);
        break;
      }
      default: throw std::invalid_argument("unknown reduction " + std::to_string(op));
    }
  })
}
CTStatus ct_var(CTTensor a, const int64_t *d, int64_t nd, double correction, bool keepdim,
                bool take_sqrt, CTTensor *out) {
  CT_GUARD({
    auto ds = opt_dims(d, nd);
    std::optional<at::Scalar> c = at::Scalar(correction);
    put(out, take_sqrt ? at::std(T(a), ds, c, keepdim) : at::var(T(a), ds, c, keepdim));
  })
}
CTStatus ct_norm(CTTensor a, double p, const int64_t *d, int64_t nd, bool keepdim, CTTensor *out) {
  CT_GUARD(put(out, at::linalg_vector_norm(T(a), p, opt_dims(d, nd), keepdim)))
}
CTStatus ct_argmax(CTTensor a, int64_t dim, bool keepdim, CTTensor *out) {
  CT_GUARD(put(out, at::argmax(T(a), dim, keepdim)))
}
CTStatus ct_argmin(CTTensor a, int64_t dim, bool keepdim, CTTensor *out) {
  CT_GUARD(put(out, at::argmin(T(a), dim, keepdim)))
}
CTStatus ct_cumsum(CTTensor a, int64_t dim, CTTensor *out) { CT_GUARD(put(out, at::cumsum(T(a), dim))) }
CTStatus ct_softmax(CTTensor a, int64_t dim, int32_t dtype, CTTensor *out) {
  CT_GUARD(put(out, at::softmax(T(a), dim, opt_dtype(dtype))))
}
CTStatus ct_log_softmax(CTTensor a, int64_t dim, int32_t dtype, CTTensor *out) {
  CT_GUARD(put(out, at::log_softmax(T(a), dim, opt_dtype(dtype))))
}

// ---- linear algebra and nn ------------------------------------------------------------------------

CTStatus ct_matmul(CTTensor a, CTTensor b, CTTensor *out) { CT_GUARD(put(out, at::matmul(T(a), T(b)))) }
CTStatus ct_mm(CTTensor a, CTTensor b, CTTensor *out) { CT_GUARD(put(out, at::mm(T(a), T(b)))) }
CTStatus ct_bmm(CTTensor a, CTTensor b, CTTensor *out) { CT_GUARD(put(out, at::bmm(T(a), T(b)))) }
CTStatus ct_baddbmm(CTTensor input, CTTensor b1, CTTensor b2, double beta, double alpha, CTTensor *out) {
  CT_GUARD(put(out, at::baddbmm(T(input), T(b1), T(b2), beta, alpha)))
}
CTStatus ct_addmm(CTTensor input, CTTensor m1, CTTensor m2, double beta, double alpha, CTTensor *out) {
  CT_GUARD(put(out, at::addmm(T(input), T(m1), T(m2), beta, alpha)))
}
CTStatus ct_linear(CTTensor x, CTTensor w, CTTensor bias, CTTensor *out) {
  CT_GUARD(put(out, at::linear(T(x), T(w), opt(bias))))
}
CTStatus ct_conv2d(CTTensor x, CTTensor w, CTTensor bias, const int64_t *stride, const int64_t *padding,
                   const int64_t *dilation, int64_t groups, CTTensor *out) {
  CT_GUARD(put(out, at::conv2d(T(x), T(w), opt(bias), dims(stride, 2), dims(padding, 2),
                               dims(dilation, 2), groups)))
}
CTStatus ct_conv_transpose2d(CTTensor x, CTTensor w, CTTensor bias, const int64_t *stride,
                             const int64_t *padding, const int64_t *output_padding,
                             const int64_t *dilation, int64_t groups, CTTensor *out) {
  CT_GUARD(put(out, at::conv_transpose2d(T(x), T(w), opt(bias), dims(stride, 2), dims(padding, 2),
                                         dims(output_padding, 2), groups, dims(dilation, 2))))
}
CTStatus ct_group_norm(CTTensor x, int64_t groups, CTTensor w, CTTensor b, double eps, CTTensor *out) {
  CT_GUARD(put(out, at::group_norm(T(x), groups, opt(w), opt(b), eps)))
}
CTStatus ct_layer_norm(CTTensor x, const int64_t *shape, int64_t ndim, CTTensor w, CTTensor b,
                       double eps, CTTensor *out) {
  CT_GUARD(put(out, at::layer_norm(T(x), dims(shape, ndim), opt(w), opt(b), eps)))
}
CTStatus ct_embedding(CTTensor weight, CTTensor indices, CTTensor *out) {
  CT_GUARD(put(out, at::embedding(T(weight), T(indices))))
}
CTStatus ct_dropout(CTTensor x, double p, bool train, CTTensor *out) {
  CT_GUARD(put(out, at::dropout(T(x), p, train)))
}
CTStatus ct_scaled_dot_product_attention(CTTensor q, CTTensor k, CTTensor v, CTTensor mask,
                                         double dropout_p, bool is_causal, bool has_scale,
                                         double scale, CTTensor *out) {
  CT_GUARD(put(out, at::scaled_dot_product_attention(
                        T(q), T(k), T(v), opt(mask), dropout_p, is_causal,
                        has_scale ? std::optional<double>(scale) : std::nullopt)))
}
CTStatus ct_interpolate(CTTensor x, int32_t mode, int64_t out_h, int64_t out_w, bool align_corners,
                        bool antialias, CTTensor *out) {
  CT_GUARD({
    auto &in = T(x);
    std::vector<int64_t> size{out_h, out_w};
    switch (mode) {
      case CT_INTERP_NEAREST:
        put(out, at::upsample_nearest2d(in, size));
        break;
      case CT_INTERP_NEAREST_EXACT:
        put(out, at::_upsample_nearest_exact2d(in, size));
        break;
      case CT_INTERP_BILINEAR:
        put(out, antialias ? at::_upsample_bilinear2d_aa(in, size, align_corners)
                           : at::upsample_bilinear2d(in, size, align_corners));
        break;
      case CT_INTERP_BICUBIC:
        put(out, antialias ? at::_upsample_bicubic2d_aa(in, size, align_corners)
                           : at::upsample_bicubic2d(in, size, align_corners));
        break;
      default: throw std::invalid_argument("unknown interpolation mode " + std::to_string(mode));
    }
  })
}
CTStatus ct_pad(CTTensor x, const int64_t *pads, int64_t npads, int32_t mode, double value, CTTensor *out) {
  CT_GUARD({
    static const char *names[] = {"constant", "reflect", "replicate", "circular"};
    if (mode < 0 || mode > 3) throw std::invalid_argument("unknown pad mode");
    put(out, at::pad(T(x), dims(pads, npads), names[mode],
                     mode == CT_PAD_CONSTANT ? std::optional<double>(value) : std::nullopt));
  })
}
CTStatus ct_mse_loss(CTTensor a, CTTensor b, int32_t reduction, CTTensor *out) {
  CT_GUARD(put(out, at::mse_loss(T(a), T(b), reduction)))
}
CTStatus ct_huber_loss(CTTensor a, CTTensor b, int32_t reduction, double delta, CTTensor *out) {
  CT_GUARD(put(out, at::huber_loss(T(a), T(b), reduction, delta)))
}
CTStatus ct_cross_entropy(CTTensor logits, CTTensor target, int32_t reduction, CTTensor *out) {
  CT_GUARD(put(out, at::cross_entropy_loss(T(logits), T(target), std::nullopt, reduction)))
}

// ---- shapes ---------------------------------------------------------------------------------------

CTStatus ct_reshape(CTTensor a, const int64_t *s, int64_t n, CTTensor *out) { CT_GUARD(put(out, T(a).reshape(dims(s, n)))) }
CTStatus ct_view(CTTensor a, const int64_t *s, int64_t n, CTTensor *out) { CT_GUARD(put(out, T(a).view(dims(s, n)))) }
CTStatus ct_permute(CTTensor a, const int64_t *d, int64_t n, CTTensor *out) { CT_GUARD(put(out, T(a).permute(dims(d, n)))) }
CTStatus ct_transpose(CTTensor a, int64_t d0, int64_t d1, CTTensor *out) { CT_GUARD(put(out, T(a).transpose(d0, d1))) }
CTStatus ct_contiguous(CTTensor a, int32_t memory_format, CTTensor *out) {
  CT_GUARD({
    switch (memory_format) {
      case CT_MEMORY_CONTIGUOUS: put(out, T(a).contiguous()); break;
      case CT_MEMORY_CHANNELS_LAST: put(out, T(a).contiguous(at::MemoryFormat::ChannelsLast)); break;
      case CT_MEMORY_PRESERVE: put(out, T(a).clone(at::MemoryFormat::Preserve)); break;
      default: throw std::invalid_argument("unknown memory format");
    }
  })
}
CTStatus ct_cat(const CTTensor *ts, int64_t n, int64_t dim, CTTensor *out) { CT_GUARD(put(out, at::cat(list(ts, n), dim))) }
CTStatus ct_stack(const CTTensor *ts, int64_t n, int64_t dim, CTTensor *out) { CT_GUARD(put(out, at::stack(list(ts, n), dim))) }
CTStatus ct_chunk(CTTensor a, int64_t chunks, int64_t dim, CTTensor *outs, int64_t cap, int64_t *count) {
  CT_GUARD({
    auto pieces = at::chunk(T(a), chunks, dim);
    *count = static_cast<int64_t>(pieces.size());
    for (int64_t i = 0; i < cap && i < *count; i++) outs[i] = wrap(pieces[i]);
  })
}
CTStatus ct_split_sizes(CTTensor a, const int64_t *sizes, int64_t n, int64_t dim, CTTensor *outs) {
  CT_GUARD({
    auto pieces = at::split_with_sizes(T(a), dims(sizes, n), dim);
    for (size_t i = 0; i < pieces.size(); i++) outs[i] = wrap(pieces[i]);
  })
}
CTStatus ct_slice(CTTensor a, int64_t dim, int64_t start, int64_t end, int64_t step, CTTensor *out) {
  CT_GUARD(put(out, T(a).slice(dim, start, end, step)))
}
CTStatus ct_select(CTTensor a, int64_t dim, int64_t index, CTTensor *out) { CT_GUARD(put(out, T(a).select(dim, index))) }
CTStatus ct_index_select(CTTensor a, int64_t dim, CTTensor index, CTTensor *out) {
  CT_GUARD(put(out, at::index_select(T(a), dim, T(index))))
}
CTStatus ct_gather(CTTensor a, int64_t dim, CTTensor index, CTTensor *out) { CT_GUARD(put(out, at::gather(T(a), dim, T(index)))) }
CTStatus ct_expand(CTTensor a, const int64_t *s, int64_t n, CTTensor *out) { CT_GUARD(put(out, T(a).expand(dims(s, n)))) }
CTStatus ct_repeat(CTTensor a, const int64_t *r, int64_t n, CTTensor *out) { CT_GUARD(put(out, T(a).repeat(dims(r, n)))) }
CTStatus ct_repeat_interleave(CTTensor a, int64_t repeats, int64_t dim, CTTensor *out) {
  CT_GUARD(put(out, at::repeat_interleave(T(a), repeats, dim)))
}
CTStatus ct_flip(CTTensor a, const int64_t *d, int64_t n, CTTensor *out) { CT_GUARD(put(out, at::flip(T(a), dims(d, n)))) }
CTStatus ct_squeeze(CTTensor a, int64_t dim, CTTensor *out) { CT_GUARD(put(out, T(a).squeeze(dim))) }
CTStatus ct_unsqueeze(CTTensor a, int64_t dim, CTTensor *out) { CT_GUARD(put(out, T(a).unsqueeze(dim))) }
CTStatus ct_flatten(CTTensor a, int64_t start, int64_t end, CTTensor *out) { CT_GUARD(put(out, T(a).flatten(start, end))) }
CTStatus ct_triu(CTTensor a, int64_t diagonal, CTTensor *out) { CT_GUARD(put(out, at::triu(T(a), diagonal))) }
CTStatus ct_tril(CTTensor a, int64_t diagonal, CTTensor *out) { CT_GUARD(put(out, at::tril(T(a), diagonal))) }
CTStatus ct_to(CTTensor a, int32_t dtype, CTDevice device, bool non_blocking, bool copy, CTTensor *out) {
  CT_GUARD({
    auto &x = T(a);
    auto st = dtype < 0 ? x.scalar_type() : scalar_type(dtype);
    auto dev = device.type < 0 ? x.device() : device_of(device);
    put(out, x.to(dev, st, non_blocking, copy));
  })
}
CTStatus ct_clone(CTTensor a, CTTensor *out) { CT_GUARD(put(out, T(a).clone())) }

}  // extern "C"
