// Errors, library loading, threads, CUDA queries, tensor metadata, creation and random numbers.
#include <ATen/DeviceAccelerator.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <link.h>
#include <torch/csrc/api/include/torch/version.h>

#include <cstring>
#include <mutex>

#include <cstdlib>

#include "internal.h"

using namespace ctorch;

namespace ctorch {

static thread_local std::string last_error;

void set_error(const std::string &message) {
  // Keep the first line of libtorch's message plus its details; drop C++ frames if any slipped in.
  last_error = message;
  while (!last_error.empty() && (last_error.back() == '\n' || last_error.back() == ' '))
    last_error.pop_back();
}

at::ScalarType scalar_type(int32_t dtype) {
  switch (dtype) {
    case CT_FLOAT32: return at::kFloat;
    case CT_FLOAT16: return at::kHalf;
    case CT_BFLOAT16: return at::kBFloat16;
    case CT_FLOAT64: return at::kDouble;
    case CT_INT64: return at::kLong;
    case CT_INT32: return at::kInt;
    case CT_UINT8: return at::kByte;
    case CT_BOOL: return at::kBool;
    case CT_INT16: return at::kShort;
    case CT_INT8: return at::kChar;
  }
  throw std::invalid_argument("unknown dtype code " + std::to_string(dtype));
}

int32_t dtype_code(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return CT_FLOAT32;
    case at::kHalf: return CT_FLOAT16;
    case at::kBFloat16: return CT_BFLOAT16;
    case at::kDouble: return CT_FLOAT64;
    case at::kLong: return CT_INT64;
    case at::kInt: return CT_INT32;
    case at::kByte: return CT_UINT8;
    case at::kBool: return CT_BOOL;
    case at::kShort: return CT_INT16;
    case at::kChar: return CT_INT8;
    default: throw std::invalid_argument(std::string("unsupported dtype ") + c10::toString(t));
  }
}

at::DeviceType device_type(int32_t type) {
  switch (type) {
    case CT_CPU: return at::kCPU;
    case CT_CUDA: return at::kCUDA;
    case CT_META: return at::kMeta;
  }
  throw std::invalid_argument("unknown device type code " + std::to_string(type));
}

at::Device device_of(CTDevice d) {
  auto type = device_type(d.type);
  if (d.index < 0 || type != at::kCUDA) return at::Device(type);
  return at::Device(type, static_cast<c10::DeviceIndex>(d.index));
}

CTDevice device_code(const at::Device &d) {
  CTDevice out{CT_CPU, -1};
  if (d.is_cuda()) out.type = CT_CUDA;
  else if (d.is_meta()) out.type = CT_META;
  else if (!d.is_cpu()) throw std::invalid_argument("unsupported device " + d.str());
  out.index = d.has_index() ? d.index() : -1;
  return out;
}

}  // namespace ctorch

// ---- library loading ----------------------------------------------------------------------------

// Function-local statics: the load-time constructor below may run before this file's globals
// are initialised.
static bool cuda_loaded = false;
static std::string &cuda_message_ref() {
  static std::string s;
  return s;
}
static std::string &library_path_ref() {
  static std::string s;
  return s;
}
#define cuda_message cuda_message_ref()
#define library_path library_path_ref()

// The loaded libtorch_cpu.so, found among the process's shared objects.
static int find_torch_cpu(struct dl_phdr_info *info, size_t, void *) {
  if (info->dlpi_name && std::strstr(info->dlpi_name, "libtorch_cpu.so")) {
    library_path = info->dlpi_name;
    return 1;
  }
  return 0;
}

static void find_library_path() { dl_iterate_phdr(find_torch_cpu, nullptr); }

// libtorch_cuda registers the CUDA hooks when loaded; it must happen before anything asks torch
// about CUDA (the hooks are looked up once and cached), so it runs as a load-time constructor.
__attribute__((constructor)) static void load_torch_cuda() {
  find_library_path();
  // without an NVIDIA driver no GPU can be used: skip the ~1.5 GB library and its start-up cost
  // (SWIFT_LCM_LOAD_CUDA=1 loads it anyway)
  const char *force = getenv("SWIFT_LCM_LOAD_CUDA");
  if (!(force && std::string(force) == "1")) {
    void *driver = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!driver) {
      cuda_message = "no NVIDIA driver (libcuda.so.1 not found); set SWIFT_LCM_LOAD_CUDA=1 to load it anyway";
      return;
    }
  }
  std::string dir;
  auto slash = library_path.rfind('/');
  if (slash != std::string::npos) dir = library_path.substr(0, slash + 1);
  for (const std::string &candidate : {dir + "libtorch_cuda.so", std::string("libtorch_cuda.so")}) {
    if (candidate == "libtorch_cuda.so" && !dir.empty() && cuda_loaded) break;
    void *h = dlopen(candidate.c_str(), RTLD_NOW | RTLD_GLOBAL);
    if (h) {
      cuda_loaded = true;
      cuda_message = "loaded " + candidate;
      return;
    }
    const char *err = dlerror();
    cuda_message = err ? err : "dlopen failed";
  }
}

extern "C" {

const char *ct_last_error(void) { return ctorch::last_error.c_str(); }
void ct_set_error(const char *message) { ctorch::set_error(message ? message : ""); }

CTStatus ct_cuda_load(bool *loaded) { CT_GUARD(*loaded = cuda_loaded) }
const char *ct_cuda_load_message(void) { return cuda_message.c_str(); }
const char *ct_build_version(void) { return TORCH_VERSION; }
const char *ct_library_path(void) { return library_path.c_str(); }

CTStatus ct_set_num_threads(int32_t n) { CT_GUARD(at::set_num_threads(n)) }
CTStatus ct_get_num_threads(int32_t *n) { CT_GUARD(*n = at::get_num_threads()) }
CTStatus ct_set_num_interop_threads(int32_t n) { CT_GUARD(at::set_num_interop_threads(n)) }
CTStatus ct_get_num_interop_threads(int32_t *n) { CT_GUARD(*n = at::get_num_interop_threads()) }
CTStatus ct_cuda_is_available(bool *out) {
  CT_GUARD(*out = at::detail::getCUDAHooks().hasCUDA() && at::detail::getCUDAHooks().deviceCount() > 0)
}
CTStatus ct_cuda_device_count(int32_t *out) {
  CT_GUARD(*out = at::detail::getCUDAHooks().hasCUDA() ? at::detail::getCUDAHooks().deviceCount() : 0)
}

// The device name and size come from the CUDA driver API (stable C signatures), so the shim
// needs no CUDA headers and no link against libcudart.
CTStatus ct_cuda_device_info(int32_t index, char *name, size_t cap, uint64_t *total_memory) {
  CT_GUARD({
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
    if (!h) throw std::runtime_error("libcuda.so.1 not found (no NVIDIA driver)");
    using InitFn = int (*)(unsigned);
    using GetFn = int (*)(int *, int);
    using NameFn = int (*)(char *, int, int);
    using MemFn = int (*)(size_t *, int);
    auto init = reinterpret_cast<InitFn>(dlsym(h, "cuInit"));
    auto get = reinterpret_cast<GetFn>(dlsym(h, "cuDeviceGet"));
    auto getName = reinterpret_cast<NameFn>(dlsym(h, "cuDeviceGetName"));
    auto mem = reinterpret_cast<MemFn>(dlsym(h, "cuDeviceTotalMem_v2"));
    if (!init || !get || !getName || !mem) throw std::runtime_error("CUDA driver lacks cuDeviceGetName");
    int dev = 0;
    if (init(0) != 0 || get(&dev, index) != 0)
      throw std::runtime_error("CUDA device " + std::to_string(index) + " not available");
    if (name && cap > 0) {
      if (getName(name, static_cast<int>(cap), dev) != 0) name[0] = 0;
      name[cap - 1] = 0;
    }
    size_t bytes = 0;
    if (total_memory) *total_memory = mem(&bytes, dev) == 0 ? bytes : 0;
  })
}
CTStatus ct_cuda_synchronize(int32_t index) {
  CT_GUARD(at::detail::getCUDAHooks().deviceSynchronize(static_cast<c10::DeviceIndex>(index)))
}
CTStatus ct_cuda_memory_stats(int32_t index, uint64_t *allocated, uint64_t *peak, uint64_t *reserved) {
  CT_GUARD({
    auto idx = static_cast<c10::DeviceIndex>(index);
    auto stats = at::getDeviceAllocator(at::kCUDA)->getDeviceStats(idx);
    const auto all = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    *allocated = stats.allocated_bytes[all].current;
    *peak = stats.allocated_bytes[all].peak;
    *reserved = stats.reserved_bytes[all].current;
  })
}
CTStatus ct_cuda_reset_peak_memory(int32_t index) {
  CT_GUARD(at::getDeviceAllocator(at::kCUDA)->resetPeakStats(static_cast<c10::DeviceIndex>(index)))
}
CTStatus ct_cuda_empty_cache(void) { CT_GUARD(at::getDeviceAllocator(at::kCUDA)->emptyCache()) }
CTStatus ct_set_allow_tf32(bool allow) {
  CT_GUARD({
    at::globalContext().setAllowTF32CuBLAS(allow);
    at::globalContext().setAllowTF32CuDNN(allow);
  })
}
CTStatus ct_manual_seed(uint64_t seed) {
  CT_GUARD({
    {
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_current_seed(seed);
    }
    auto &hooks = at::detail::getCUDAHooks();
    if (hooks.hasCUDA()) {
      for (int i = 0; i < hooks.deviceCount(); i++) {
        auto gen = hooks.getDefaultGenerator(static_cast<c10::DeviceIndex>(i));
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_current_seed(seed);
      }
    }
  })
}

// ---- tensor lifetime and metadata ---------------------------------------------------------------

void ct_tensor_free(CTTensor t) { delete reinterpret_cast<at::Tensor *>(t); }
CTStatus ct_tensor_clone_handle(CTTensor t, CTTensor *out) { CT_GUARD(put(out, T(t))) }
CTStatus ct_defined(CTTensor t, bool *out) { CT_GUARD(*out = T(t).defined()) }
CTStatus ct_ndim(CTTensor t, int64_t *out) { CT_GUARD(*out = T(t).dim()) }
CTStatus ct_sizes(CTTensor t, int64_t *out, int64_t cap, int64_t *ndim) {
  CT_GUARD({
    auto s = T(t).sizes();
    *ndim = static_cast<int64_t>(s.size());
    for (int64_t i = 0; i < cap && i < *ndim; i++) out[i] = s[i];
  })
}
CTStatus ct_strides(CTTensor t, int64_t *out, int64_t cap, int64_t *ndim) {
  CT_GUARD({
    auto s = T(t).strides();
    *ndim = static_cast<int64_t>(s.size());
    for (int64_t i = 0; i < cap && i < *ndim; i++) out[i] = s[i];
  })
}
CTStatus ct_numel(CTTensor t, int64_t *out) { CT_GUARD(*out = T(t).numel()) }
CTStatus ct_dtype(CTTensor t, int32_t *out) { CT_GUARD(*out = dtype_code(T(t).scalar_type())) }
CTStatus ct_device(CTTensor t, CTDevice *out) { CT_GUARD(*out = device_code(T(t).device())) }
CTStatus ct_is_contiguous(CTTensor t, bool *out) { CT_GUARD(*out = T(t).is_contiguous()) }
CTStatus ct_is_channels_last(CTTensor t, bool *out) {
  CT_GUARD(*out = T(t).dim() == 4 && T(t).is_contiguous(at::MemoryFormat::ChannelsLast))
}
CTStatus ct_item_double(CTTensor t, double *out) { CT_GUARD(*out = T(t).item<double>()) }
CTStatus ct_item_int64(CTTensor t, int64_t *out) { CT_GUARD(*out = T(t).item<int64_t>()) }
CTStatus ct_data_ptr(CTTensor t, void **out) { CT_GUARD(*out = T(t).data_ptr()) }
CTStatus ct_to_string(CTTensor t, char **out) {
  CT_GUARD({
    std::ostringstream s;
    s << T(t);
    *out = strdup(s.str().c_str());
  })
}
void ct_string_free(char *s) { free(s); }

// ---- creation -----------------------------------------------------------------------------------

CTStatus ct_from_data(const void *data, size_t nbytes, const int64_t *shape, int64_t ndim,
                      int32_t dtype, CTDevice device, CTTensor *out) {
  CT_GUARD({
    auto cpu = at::empty(dims(shape, ndim), at::TensorOptions().dtype(scalar_type(dtype)));
    if (cpu.nbytes() != nbytes)
      throw std::invalid_argument("buffer holds " + std::to_string(nbytes) + " bytes, shape " +
                                  c10::str(cpu.sizes()) + " needs " + std::to_string(cpu.nbytes()));
    if (nbytes > 0) std::memcpy(cpu.data_ptr(), data, nbytes);
    auto dev = device_of(device);
    put(out, dev.is_cpu() ? cpu : cpu.to(dev));
  })
}
CTStatus ct_copy_to_host(CTTensor t, void *dst, size_t nbytes) {
  CT_GUARD({
    auto c = T(t).detach().to(at::kCPU).contiguous();
    if (c.nbytes() != nbytes)
      throw std::invalid_argument("destination holds " + std::to_string(nbytes) +
                                  " bytes, tensor has " + std::to_string(c.nbytes()));
    if (nbytes > 0) std::memcpy(dst, c.data_ptr(), nbytes);
  })
}
CTStatus ct_empty(const int64_t *shape, int64_t ndim, int32_t dtype, CTDevice device, CTTensor *out) {
  CT_GUARD(put(out, at::empty(dims(shape, ndim), options(dtype, device))))
}
CTStatus ct_zeros(const int64_t *shape, int64_t ndim, int32_t dtype, CTDevice device, CTTensor *out) {
  CT_GUARD(put(out, at::zeros(dims(shape, ndim), options(dtype, device))))
}
CTStatus ct_ones(const int64_t *shape, int64_t ndim, int32_t dtype, CTDevice device, CTTensor *out) {
  CT_GUARD(put(out, at::ones(dims(shape, ndim), options(dtype, device))))
}
CTStatus ct_full(const int64_t *shape, int64_t ndim, double value, int32_t dtype, CTDevice device,
                 CTTensor *out) {
  CT_GUARD(put(out, at::full(dims(shape, ndim), value, options(dtype, device))))
}
CTStatus ct_scalar_tensor(double value, int32_t dtype, CTDevice device, CTTensor *out) {
  CT_GUARD(put(out, at::scalar_tensor(value, options(dtype, device))))
}
CTStatus ct_arange(double start, double end, double step, int32_t dtype, CTDevice device, CTTensor *out) {
  CT_GUARD(put(out, at::arange(start, end, step, options(dtype, device))))
}
CTStatus ct_linspace(double start, double end, int64_t steps, int32_t dtype, CTDevice device,
                     CTTensor *out) {
  CT_GUARD(put(out, at::linspace(start, end, steps, options(dtype, device))))
}
CTStatus ct_like(CTTensor t, int32_t kind, CTTensor *out) {
  CT_GUARD({
    auto &x = T(t);
    switch (kind) {
      case CT_LIKE_EMPTY: put(out, at::empty_like(x)); break;
      case CT_LIKE_ZEROS: put(out, at::zeros_like(x)); break;
      case CT_LIKE_ONES: put(out, at::ones_like(x)); break;
      case CT_LIKE_RANDN: put(out, at::randn_like(x)); break;
      case CT_LIKE_RAND: put(out, at::rand_like(x)); break;
      default: throw std::invalid_argument("unknown like kind");
    }
  })
}
CTStatus ct_full_like(CTTensor t, double value, CTTensor *out) { CT_GUARD(put(out, at::full_like(T(t), value))) }

// ---- random ---------------------------------------------------------------------------------------

CTStatus ct_generator_new(CTDevice device, uint64_t seed, CTGenerator *out) {
  CT_GUARD({
    auto dev = device_of(device);
    at::Generator g;
    if (dev.is_cpu()) {
      g = at::make_generator<at::CPUGeneratorImpl>(seed);
    } else if (dev.is_cuda()) {
      auto &hooks = at::detail::getCUDAHooks();
      if (!hooks.hasCUDA()) throw std::runtime_error("CUDA is not available on this machine");
      // A fresh generator of the CUDA kind: clone the default one, then reseed (as torch.Generator).
      auto idx = dev.has_index() ? dev.index() : static_cast<c10::DeviceIndex>(0);
      g = hooks.getDefaultGenerator(idx).clone();
      g.set_current_seed(seed);
      g.set_offset(0);
    } else {
      throw std::invalid_argument("generators exist for cpu and cuda only, not " + dev.str());
    }
    *out = new CTGeneratorImpl{g};
  })
}
void ct_generator_free(CTGenerator g) { delete g; }
CTStatus ct_generator_manual_seed(CTGenerator g, uint64_t seed) {
  CT_GUARD({
    if (!g) throw std::invalid_argument("null generator");
    std::lock_guard<std::mutex> lock(g->g.mutex());
    g->g.set_current_seed(seed);
  })
}
CTStatus ct_generator_get_state(CTGenerator g, CTTensor *out) {
  CT_GUARD({
    if (!g) throw std::invalid_argument("null generator");
    std::lock_guard<std::mutex> lock(g->g.mutex());
    put(out, g->g.get_state());
  })
}
CTStatus ct_generator_set_state(CTGenerator g, CTTensor state) {
  CT_GUARD({
    if (!g) throw std::invalid_argument("null generator");
    std::lock_guard<std::mutex> lock(g->g.mutex());
    g->g.set_state(T(state));
  })
}
CTStatus ct_randn(const int64_t *shape, int64_t ndim, int32_t dtype, CTDevice device,
                  CTGenerator gen, CTTensor *out) {
  CT_GUARD(put(out, at::randn(dims(shape, ndim), gen_of(gen), options(dtype, device))))
}
CTStatus ct_rand(const int64_t *shape, int64_t ndim, int32_t dtype, CTDevice device,
                 CTGenerator gen, CTTensor *out) {
  CT_GUARD(put(out, at::rand(dims(shape, ndim), gen_of(gen), options(dtype, device))))
}
CTStatus ct_randint(int64_t low, int64_t high, const int64_t *shape, int64_t ndim, int32_t dtype,
                    CTDevice device, CTGenerator gen, CTTensor *out) {
  CT_GUARD(put(out, at::randint(low, high, dims(shape, ndim), gen_of(gen), options(dtype, device))))
}
CTStatus ct_randperm(int64_t n, int32_t dtype, CTDevice device, CTGenerator gen, CTTensor *out) {
  CT_GUARD(put(out, at::randperm(n, gen_of(gen), options(dtype, device))))
}
CTStatus ct_normal_(CTTensor t, double mean, double std, CTGenerator gen) {
  CT_GUARD(T(t).normal_(mean, std, gen_of(gen)))
}
CTStatus ct_uniform_(CTTensor t, double from, double to, CTGenerator gen) {
  CT_GUARD(T(t).uniform_(from, to, gen_of(gen)))
}
CTStatus ct_bernoulli(CTTensor p, CTGenerator gen, CTTensor *out) {
  CT_GUARD(put(out, at::bernoulli(T(p), gen_of(gen))))
}

}  // extern "C"
