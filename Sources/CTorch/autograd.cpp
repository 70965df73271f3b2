// Autograd, activation checkpointing, autocast scopes, foreach ops and gradient clipping.
#include <ATen/autocast_mode.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include "internal.h"

using namespace ctorch;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

namespace {

// Owns the Swift closure context; releasing the autograd graph releases the closure.
struct CheckpointState : torch::CustomClassHolder {
  CTCheckpointFn fn = nullptr;
  CTReleaseFn release = nullptr;
  void *ctx = nullptr;
  ~CheckpointState() override {
    if (release) release(ctx);
  }
};

std::vector<at::Tensor> call(const CheckpointState &s, const std::vector<at::Tensor> &inputs) {
  std::vector<CTTensor> in;
  in.reserve(inputs.size());
  for (auto &x : inputs) in.push_back(wrap(x));
  constexpr int64_t cap = 64;
  CTTensor outs[cap] = {};
  int64_t n = s.fn(s.ctx, in.data(), static_cast<int64_t>(in.size()), outs, cap);
  for (auto h : in) ct_tensor_free(h);
  if (n < 0) throw std::runtime_error(ct_last_error());
  if (n > cap) throw std::runtime_error("checkpointed function returned more than 64 tensors");
  std::vector<at::Tensor> result;
  for (int64_t i = 0; i < n; i++) {
    result.push_back(T(outs[i]));
    ct_tensor_free(outs[i]);
  }
  return result;
}

struct AutocastState {
  bool cpu_on, cuda_on;
  at::ScalarType cpu_dtype, cuda_dtype;
  static AutocastState current() {
    return {at::autocast::is_autocast_enabled(at::kCPU), at::autocast::is_autocast_enabled(at::kCUDA),
            at::autocast::get_autocast_dtype(at::kCPU), at::autocast::get_autocast_dtype(at::kCUDA)};
  }
  void apply() const {
    at::autocast::set_autocast_enabled(at::kCPU, cpu_on);
    at::autocast::set_autocast_enabled(at::kCUDA, cuda_on);
    at::autocast::set_autocast_dtype(at::kCPU, cpu_dtype);
    at::autocast::set_autocast_dtype(at::kCUDA, cuda_dtype);
  }
};

// Reentrant checkpoint (torch.utils.checkpoint with use_reentrant=True): forward under no-grad,
// backward recomputes under the forward's autocast state and backpropagates through the rerun.
// Inputs go in as a TensorList so that autograd sees each of them.
// The last input is a dummy that requires grad, so the node exists even when no input needs grad.
struct CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
  static variable_list forward(AutogradContext *ctx, CheckpointState *state, at::TensorList inputs) {
    c10::List<bool> needs;
    for (size_t i = 0; i + 1 < inputs.size(); i++) needs.push_back(inputs[i].requires_grad());
    auto ac = AutocastState::current();
    ctx->saved_data["needs"] = needs;
    ctx->saved_data["autocast"] = c10::List<int64_t>(
        {ac.cpu_on, ac.cuda_on, static_cast<int64_t>(ac.cpu_dtype), static_cast<int64_t>(ac.cuda_dtype)});
    ctx->saved_data["state"] = c10::IValue::make_capsule(c10::intrusive_ptr<CheckpointState>::reclaim_copy(state));
    ctx->save_for_backward(inputs.vec());
    std::vector<at::Tensor> real(inputs.begin(), inputs.end() - 1);
    return call(*state, real);
  }

  static variable_list backward(AutogradContext *ctx, variable_list grad_outputs) {
    auto saved = ctx->get_saved_variables();
    auto needs = ctx->saved_data["needs"].toBoolList();
    auto acl = ctx->saved_data["autocast"].toIntList();
    auto holder = ctx->saved_data["state"].toCapsule();
    auto *state = static_cast<CheckpointState *>(holder.get());
    std::vector<at::Tensor> detached;
    for (size_t i = 0; i + 1 < saved.size(); i++) {
      auto d = saved[i].detach();
      d.requires_grad_(needs.get(i));
      detached.push_back(d);
    }
    auto previous = AutocastState::current();
    AutocastState{acl.get(0) != 0, acl.get(1) != 0, static_cast<at::ScalarType>(acl.get(2)),
                  static_cast<at::ScalarType>(acl.get(3))}.apply();
    std::vector<at::Tensor> outputs;
    try {
      at::AutoGradMode enable(true);
      outputs = call(*state, detached);
    } catch (...) {
      previous.apply();
      throw;
    }
    previous.apply();
    variable_list outs, grads;
    for (size_t i = 0; i < outputs.size() && i < grad_outputs.size(); i++) {
      if (outputs[i].requires_grad() && grad_outputs[i].defined()) {
        outs.push_back(outputs[i]);
        grads.push_back(grad_outputs[i]);
      }
    }
    if (!outs.empty()) torch::autograd::backward(outs, grads);
    // One slot per forward argument: the state pointer, each input, the dummy.
    variable_list result{at::Tensor()};
    for (auto &d : detached) result.push_back(d.requires_grad() ? d.grad() : at::Tensor());
    result.push_back(at::Tensor());
    return result;
  }
};

}  // namespace

extern "C" {

CTStatus ct_set_requires_grad(CTTensor t, bool requires_grad) { CT_GUARD(T(t).set_requires_grad(requires_grad)) }
CTStatus ct_requires_grad(CTTensor t, bool *out) { CT_GUARD(*out = T(t).requires_grad()) }
CTStatus ct_is_leaf(CTTensor t, bool *out) { CT_GUARD(*out = T(t).is_leaf()) }
CTStatus ct_backward(CTTensor t, CTTensor grad, bool retain_graph, bool create_graph) {
  CT_GUARD(T(t).backward(grad ? T(grad) : at::Tensor(), retain_graph, create_graph))
}
CTStatus ct_grad(CTTensor t, CTTensor *out) {
  CT_GUARD({
    const auto &g = T(t).grad();
    *out = g.defined() ? wrap(g) : nullptr;
  })
}
CTStatus ct_set_grad(CTTensor t, CTTensor grad) {
  CT_GUARD(T(t).mutable_grad() = grad ? T(grad) : at::Tensor())
}
CTStatus ct_detach(CTTensor t, CTTensor *out) { CT_GUARD(put(out, T(t).detach())) }
CTStatus ct_detach_(CTTensor t) { CT_GUARD(T(t).detach_()) }
CTStatus ct_set_grad_enabled(bool enabled) { CT_GUARD(at::GradMode::set_enabled(enabled)) }
CTStatus ct_is_grad_enabled(bool *out) { CT_GUARD(*out = at::GradMode::is_enabled()) }
CTStatus ct_autograd_grad(const CTTensor *outputs, const CTTensor *grad_outputs, int64_t nout,
                          const CTTensor *inputs, int64_t nin, bool retain_graph, bool create_graph,
                          bool allow_unused, CTTensor *grads) {
  CT_GUARD({
    variable_list gos;
    for (int64_t i = 0; i < nout; i++)
      gos.push_back(grad_outputs && grad_outputs[i] ? T(grad_outputs[i]) : at::Tensor());
    auto result = torch::autograd::grad(list(outputs, nout), list(inputs, nin), gos, retain_graph,
                                        create_graph, allow_unused);
    for (int64_t i = 0; i < nin; i++) grads[i] = result[i].defined() ? wrap(result[i]) : nullptr;
  })
}

CTStatus ct_checkpoint(CTCheckpointFn fn, CTReleaseFn release, void *ctx, const CTTensor *inputs,
                       int64_t n, CTTensor *outputs, int64_t cap, int64_t *count) {
  // The holder releases the Swift context when the last reference (this one, or the autograd
  // graph's) goes away, whatever happens below.
  auto holder = c10::make_intrusive<CheckpointState>();
  holder->fn = fn;
  holder->release = release;
  holder->ctx = ctx;
  CT_GUARD({
    auto in = list(inputs, n);
    in.push_back(at::empty({0}).requires_grad_(true));
    auto outs = CheckpointFunction::apply(holder.get(), at::TensorList(in));
    *count = static_cast<int64_t>(outs.size());
    for (int64_t i = 0; i < cap && i < *count; i++) outputs[i] = wrap(outs[i]);
  })
}

// ---- autocast (as torch.autocast's __enter__ / __exit__) ------------------------------------------

CTStatus ct_autocast_enter(int32_t device_type, bool enabled, int32_t dtype, bool *prev_enabled,
                           int32_t *prev_dtype) {
  CT_GUARD({
    auto dt = ctorch::device_type(device_type);
    *prev_enabled = at::autocast::is_autocast_enabled(dt);
    *prev_dtype = dtype_code(at::autocast::get_autocast_dtype(dt));
    at::autocast::set_autocast_enabled(dt, enabled);
    at::autocast::set_autocast_dtype(dt, scalar_type(dtype));
    at::autocast::increment_nesting();
  })
}
CTStatus ct_autocast_exit(int32_t device_type, bool prev_enabled, int32_t prev_dtype) {
  CT_GUARD({
    auto dt = ctorch::device_type(device_type);
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(dt, prev_enabled);
    at::autocast::set_autocast_dtype(dt, scalar_type(prev_dtype));
  })
}
CTStatus ct_autocast_is_enabled(int32_t device_type, bool *out) {
  CT_GUARD(*out = at::autocast::is_autocast_enabled(ctorch::device_type(device_type)))
}

// ---- foreach --------------------------------------------------------------------------------------

CTStatus ct_foreach_mul_scalar_(const CTTensor *ts, int64_t n, double s) { CT_GUARD(at::_foreach_mul_(list(ts, n), s)) }
CTStatus ct_foreach_mul_tensor_(const CTTensor *ts, int64_t n, CTTensor s) { CT_GUARD(at::_foreach_mul_(list(ts, n), T(s))) }
CTStatus ct_foreach_add_(const CTTensor *ts, const CTTensor *others, int64_t n, double alpha) {
  CT_GUARD(at::_foreach_add_(list(ts, n), list(others, n), alpha))
}
CTStatus ct_foreach_lerp_(const CTTensor *ts, const CTTensor *ends, int64_t n, double weight) {
  CT_GUARD(at::_foreach_lerp_(list(ts, n), list(ends, n), weight))
}
CTStatus ct_foreach_copy_(const CTTensor *dst, const CTTensor *src, int64_t n) {
  CT_GUARD(at::_foreach_copy_(list(dst, n), list(src, n)))
}
CTStatus ct_foreach_zero_(const CTTensor *ts, int64_t n) { CT_GUARD(at::_foreach_zero_(list(ts, n))) }
CTStatus ct_amp_unscale_(const CTTensor *ts, int64_t n, CTTensor found_inf, CTTensor inv_scale) {
  CT_GUARD(at::_amp_foreach_non_finite_check_and_unscale_(list(ts, n), T(found_inf), T(inv_scale)))
}

// torch.nn.utils.clip_grad_norm_ (foreach path): total = ||(||g_i||_p)_i||_p,
// g *= clamp(max_norm / (total + 1e-6), max=1).
CTStatus ct_clip_grad_norm_(const CTTensor *params, int64_t n, double max_norm, double norm_type,
                            CTTensor *total_norm) {
  CT_GUARD({
    std::vector<at::Tensor> grads;
    for (auto &p : list(params, n))
      if (p.grad().defined()) grads.push_back(p.grad());
    if (grads.empty()) {
      put(total_norm, at::zeros({}));
      return 0;
    }
    auto norms = at::_foreach_norm(grads, norm_type);
    auto first = grads[0].device();
    for (auto &x : norms) x = x.to(first);
    auto total = at::linalg_vector_norm(at::stack(norms), norm_type);
    auto coef = at::clamp_max(max_norm / (total + 1e-6), 1.0);
    at::_foreach_mul_(grads, coef);
    put(total_norm, total);
  })
}

}  // extern "C"
