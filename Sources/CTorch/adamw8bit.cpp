// One AdamW8bit step for one parameter, the algorithm of bitsandbytes' AdamW8bit in ATen ops:
// both moments are uint8 indices into a dynamic quantization map with one absmax per
// 256-element block; each step dequantizes them, updates in fp32 and quantizes again to the
// nearest map value. Parameters below min_8bit_size keep fp32 moments (bitsandbytes' rule).
#include <ATen/core/grad_mode.h>

#include <cmath>

#include "internal.h"

using namespace ctorch;

namespace {

constexpr int64_t kBlock = 256;

int64_t blocks_of(int64_t n) { return (n + kBlock - 1) / kBlock; }

at::Tensor dequantize(const at::Tensor &codes, const at::Tensor &absmax, const at::Tensor &qmap) {
  const int64_t n = codes.numel(), blocks = absmax.numel();
  auto values = at::constant_pad_nd(qmap.index_select(0, codes.reshape(-1).to(at::kLong)), {0, blocks * kBlock - n});
  return (values.view({blocks, kBlock}) * absmax.view({blocks, 1})).reshape(-1).narrow(0, 0, n);
}

void quantize_into(const at::Tensor &values, const at::Tensor &qmap, at::Tensor &codes, at::Tensor &absmax) {
  const int64_t n = values.numel(), blocks = absmax.numel();
  auto padded = at::constant_pad_nd(values, {0, blocks * kBlock - n}).view({blocks, kBlock});
  auto amax = padded.abs().amax({1});
  auto scaled = (padded * amax.clamp_min(1e-38).reciprocal().view({blocks, 1})).clamp(-1, 1).reshape(-1).narrow(0, 0, n);
  // nearest map value: the map is sorted, so bucketize on the midpoints between neighbours
  auto bounds = (qmap.narrow(0, 0, qmap.numel() - 1) + qmap.narrow(0, 1, qmap.numel() - 1)) / 2;
  codes.copy_(at::bucketize(scaled, bounds, /*out_int32=*/true).view(codes.sizes()));
  absmax.copy_(amax);
}

void expect(bool ok, const std::string &what) {
  if (!ok) throw std::invalid_argument("AdamW8bit: " + what);
}

}  // namespace

extern "C" CTStatus ct_adamw8bit_update_(CTTensor param, CTTensor grad, CTTensor state1, CTTensor state2,
                                         CTTensor absmax1, CTTensor absmax2, CTTensor qmap1, CTTensor qmap2,
                                         int64_t step, double lr, double beta1, double beta2, double eps,
                                         double weight_decay) {
  CT_GUARD({
    auto &p = T(param);
    auto &s1 = T(state1), &s2 = T(state2);
    const int64_t n = p.numel();
    expect(step >= 1, "step must be >= 1");
    expect(T(grad).numel() == n && s1.numel() == n && s2.numel() == n, "state and gradient sizes differ from the parameter's");
    expect(s1.scalar_type() == s2.scalar_type(), "the two moments have different dtypes");
    const bool quantized = s1.scalar_type() == at::kByte;
    expect(quantized || s1.scalar_type() == at::kFloat, "moments must be uint8 or float32");
    at::NoGradGuard no_grad;
    auto g = T(grad).to(at::kFloat).reshape(-1);
    at::Tensor m, v;
    if (quantized) {
      auto &a1 = T(absmax1), &a2 = T(absmax2), &q1 = T(qmap1), &q2 = T(qmap2);
      expect(a1.numel() == blocks_of(n) && a2.numel() == blocks_of(n), "absmax holds the wrong number of blocks");
      expect(q1.numel() == 256 && q2.numel() == 256, "a quantization map must have 256 entries");
      m = dequantize(s1, a1, q1);
      v = dequantize(s2, a2, q2);
    } else {
      expect(s1.is_contiguous() && s2.is_contiguous(), "fp32 moments must be contiguous");
      m = s1.view({-1});
      v = s2.view({-1});
    }
    m.mul_(beta1).add_(g, 1 - beta1);
    v.mul_(beta2).addcmul_(g, g, 1 - beta2);
    const double c1 = 1 - std::pow(beta1, static_cast<double>(step));
    const double c2 = std::sqrt(1 - std::pow(beta2, static_cast<double>(step)));
    // an fp32 contiguous parameter is updated in place; others through an fp32 copy
    const bool direct = p.scalar_type() == at::kFloat && p.is_contiguous();
    auto pf = direct ? p.view({-1}) : p.to(at::kFloat).reshape(-1);
    if (weight_decay > 0) pf.mul_(1 - lr * weight_decay);
    if (quantized) {
      pf.addcdiv_(m, (v.sqrt() / c2).add_(eps), -lr / c1);
    } else {
      pf.add_(m / (v.sqrt() + eps * c2), -lr * c2 / c1);
    }
    if (!direct) p.copy_(pf.view(p.sizes()));
    if (quantized) {
      quantize_into(m, T(qmap1), s1, T(absmax1));
      quantize_into(v, T(qmap2), s2, T(absmax2));
    }
  })
}
