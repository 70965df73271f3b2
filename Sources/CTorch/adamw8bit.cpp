// One AdamW8bit step for one parameter, the algorithm of bitsandbytes' AdamW8bit in ATen ops:
// both moments are uint8 indices into a dynamic quantization map with one absmax per
// 256-element block; each step dequantizes them, updates in fp32 and quantizes again to the
// nearest map value. Parameters below min_8bit_size keep fp32 moments (bitsandbytes' rule).
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

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

// at::bucketize(x, bounds) (right = false) on the CPU through a table over the top 16 bits of
// each float: the table bounds the answer to a few candidates, which are compared with the bounds
// themselves, so the result is bucketize's exactly (torch's lower bound: the first b with b >= x;
// NaN past the end). A binary search over 255 bounds per element cost 13% of a full-UNet step.
class BoundsTable {
 public:
  explicit BoundsTable(std::vector<float> bounds) : bounds_(std::move(bounds)), lo_(1 << 16), hi_(1 << 16) {
    for (uint32_t k = 0; k < (1u << 16); k++) {
      float a = from_bits(k << 16), b = from_bits((k << 16) | 0xFFFF);
      if (std::isnan(a) || std::isnan(b)) { lo_[k] = 0; hi_[k] = static_cast<uint16_t>(bounds_.size()); continue; }
      if (a > b) std::swap(a, b);
      lo_[k] = static_cast<uint16_t>(lower(a));
      hi_[k] = static_cast<uint16_t>(lower(b));
    }
  }
  const std::vector<float> &bounds() const { return bounds_; }
  int32_t operator()(float x) const {
    if (std::isnan(x)) return static_cast<int32_t>(bounds_.size());
    uint32_t bits;
    std::memcpy(&bits, &x, 4);
    int32_t i = lo_[bits >> 16], end = hi_[bits >> 16];
    while (i < end && !(bounds_[i] >= x)) i++;
    return i;
  }

 private:
  static float from_bits(uint32_t u) { float f; std::memcpy(&f, &u, 4); return f; }
  // torch's cus_lower_bound: the first index whose bound is >= x
  int64_t lower(float x) const {
    int64_t start = 0, end = static_cast<int64_t>(bounds_.size());
    while (start < end) {
      int64_t mid = start + ((end - start) >> 1);
      if (!(bounds_[mid] >= x)) start = mid + 1; else end = mid;
    }
    return start;
  }
  std::vector<float> bounds_;
  std::vector<uint16_t> lo_, hi_;
};

// One table per distinct map (AdamW8bit has two), kept per thread.
const BoundsTable &table_for(const at::Tensor &bounds) {
  thread_local std::vector<std::unique_ptr<BoundsTable>> tables;
  const float *p = bounds.data_ptr<float>();
  const size_t n = static_cast<size_t>(bounds.numel());
  for (auto &t : tables) {
    if (t->bounds().size() == n && std::memcmp(t->bounds().data(), p, n * sizeof(float)) == 0) return *t;
  }
  if (tables.size() >= 4) tables.erase(tables.begin());
  tables.push_back(std::make_unique<BoundsTable>(std::vector<float>(p, p + n)));
  return *tables.back();
}

at::Tensor bucketize_fast(const at::Tensor &x, const at::Tensor &bounds) {
  // SWIFT_LCM_BUCKETIZE_REFERENCE=1: torch's own, for the test that the two agree bit for bit
  const char *reference = std::getenv("SWIFT_LCM_BUCKETIZE_REFERENCE");
  if ((reference && reference[0] == '1') || !x.device().is_cpu() || x.scalar_type() != at::kFloat ||
      bounds.scalar_type() != at::kFloat || bounds.numel() >= 65535) {
    return at::bucketize(x, bounds, /*out_int32=*/true);
  }
  auto xs = x.contiguous();
  auto bs = bounds.contiguous();
  const BoundsTable &table = table_for(bs);
  auto out = at::empty(xs.sizes(), xs.options().dtype(at::kInt));
  const float *in = xs.data_ptr<float>();
  int32_t *o = out.data_ptr<int32_t>();
  at::parallel_for(0, xs.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; i++) o[i] = table(in[i]);
  });
  return out;
}

void quantize_into(const at::Tensor &values, const at::Tensor &qmap, at::Tensor &codes, at::Tensor &absmax) {
  const int64_t n = values.numel(), blocks = absmax.numel();
  auto padded = at::constant_pad_nd(values, {0, blocks * kBlock - n}).view({blocks, kBlock});
  auto amax = padded.abs().amax({1});
  auto scaled = (padded * amax.clamp_min(1e-38).reciprocal().view({blocks, 1})).clamp(-1, 1).reshape(-1).narrow(0, 0, n);
  // nearest map value: the map is sorted, so bucketize on the midpoints between neighbours
  auto bounds = (qmap.narrow(0, 0, qmap.numel() - 1) + qmap.narrow(0, 1, qmap.numel() - 1)) / 2;
  codes.copy_(bucketize_fast(scaled, bounds).view(codes.sizes()));
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
