// Shared helpers of the shim's .cpp files: handle casts, enum conversions, the guard macro.
#pragma once

#include <ATen/ATen.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "ctorch.h"

namespace ctorch {

void set_error(const std::string &message);

inline at::Tensor &T(CTTensor h) {
  if (h == nullptr) throw std::invalid_argument("null tensor handle");
  return *reinterpret_cast<at::Tensor *>(h);
}
inline std::optional<at::Tensor> opt(CTTensor h) {
  if (h == nullptr) return std::nullopt;
  return *reinterpret_cast<at::Tensor *>(h);
}
inline CTTensor wrap(at::Tensor t) { return reinterpret_cast<CTTensor>(new at::Tensor(std::move(t))); }
inline void put(CTTensor *out, at::Tensor t) {
  if (out == nullptr) throw std::invalid_argument("null output pointer");
  *out = wrap(std::move(t));
}

inline std::vector<at::Tensor> list(const CTTensor *ts, int64_t n) {
  if (n < 0 || (n > 0 && ts == nullptr)) throw std::invalid_argument("invalid tensor list");
  std::vector<at::Tensor> v;
  v.reserve(n);
  for (int64_t i = 0; i < n; i++) v.push_back(T(ts[i]));
  return v;
}

inline at::IntArrayRef dims(const int64_t *p, int64_t n) {
  if (n < 0 || (n > 0 && p == nullptr)) throw std::invalid_argument("invalid int list");
  return at::IntArrayRef(p, static_cast<size_t>(n));
}

at::ScalarType scalar_type(int32_t dtype);
int32_t dtype_code(at::ScalarType t);
at::Device device_of(CTDevice d);
CTDevice device_code(const at::Device &d);
at::DeviceType device_type(int32_t type);
inline at::TensorOptions options(int32_t dtype, CTDevice device) {
  return at::TensorOptions().dtype(scalar_type(dtype)).device(device_of(device));
}
inline std::optional<at::Generator> gen_of(CTGenerator g);

}  // namespace ctorch

struct CTGeneratorImpl {
  at::Generator g;
};
inline std::optional<at::Generator> ctorch::gen_of(CTGenerator g) {
  if (g == nullptr) return std::nullopt;
  return g->g;
}

// Runs the body; any exception becomes the thread-local error and status 1.
#define CT_GUARD(...)                                             \
  try {                                                           \
    __VA_ARGS__;                                                  \
    return 0;                                                     \
  } catch (const c10::Error &e) {                                 \
    ctorch::set_error(e.what_without_backtrace());                \
  } catch (const std::exception &e) {                             \
    ctorch::set_error(e.what());                                  \
  } catch (...) {                                                 \
    ctorch::set_error("unknown C++ exception");                   \
  }                                                               \
  return 1;
