// AdamW: libtorch's own torch::optim::AdamW, or its fused kernel (_fused_adamw_) as
// torch.optim.AdamW(fused=True) drives it. State can be read and written for checkpoints.
#include <torch/optim/adamw.h>

#include <map>

#include "internal.h"

using namespace ctorch;

struct CTOptimizerImpl {
  std::vector<at::Tensor> params;
  double lr, beta1, beta2, eps, weight_decay;
  bool amsgrad, fused;
  std::unique_ptr<torch::optim::AdamW> plain;
  // fused path state, per parameter (undefined until the first step that has a gradient)
  std::vector<at::Tensor> steps, exp_avgs, exp_avg_sqs, max_exp_avg_sqs;
};

static CTOptimizerImpl &O(CTOptimizer o) {
  if (!o) throw std::invalid_argument("null optimizer handle");
  return *o;
}

static torch::optim::AdamWOptions &plain_options(CTOptimizerImpl &o) {
  return static_cast<torch::optim::AdamWOptions &>(o.plain->param_groups()[0].options());
}

static void fused_step(CTOptimizerImpl &o, const std::optional<at::Tensor> &grad_scale,
                       const std::optional<at::Tensor> &found_inf) {
  // Group by (device, dtype) as torch.optim does, lazily creating the state.
  std::map<std::pair<std::string, int>, std::vector<size_t>> groups;
  for (size_t i = 0; i < o.params.size(); i++) {
    auto &p = o.params[i];
    if (!p.grad().defined()) continue;
    if (!o.steps[i].defined()) {
      o.steps[i] = at::zeros({}, p.options().dtype(at::kFloat));
      o.exp_avgs[i] = at::zeros_like(p, at::MemoryFormat::Preserve);
      o.exp_avg_sqs[i] = at::zeros_like(p, at::MemoryFormat::Preserve);
      if (o.amsgrad) o.max_exp_avg_sqs[i] = at::zeros_like(p, at::MemoryFormat::Preserve);
    }
    groups[{p.device().str(), static_cast<int>(p.scalar_type())}].push_back(i);
  }
  at::NoGradGuard no_grad;
  for (auto &[key, idx] : groups) {
    std::vector<at::Tensor> ps, gs, ea, eas, mx, st;
    for (auto i : idx) {
      ps.push_back(o.params[i]);
      gs.push_back(o.params[i].grad());
      ea.push_back(o.exp_avgs[i]);
      eas.push_back(o.exp_avg_sqs[i]);
      if (o.amsgrad) mx.push_back(o.max_exp_avg_sqs[i]);
      st.push_back(o.steps[i]);
    }
    auto dev = ps[0].device();
    std::optional<at::Tensor> gscale, finf;
    if (grad_scale) gscale = grad_scale->to(dev);
    if (found_inf) finf = found_inf->to(dev);
    at::_foreach_add_(st, 1);
    at::_fused_adamw_(ps, gs, ea, eas, mx, st, o.lr, o.beta1, o.beta2, o.weight_decay, o.eps,
                      o.amsgrad, false, gscale, finf);
    if (finf) at::_foreach_sub_(st, std::vector<at::Tensor>(st.size(), *finf));
  }
}

extern "C" {

CTStatus ct_adamw_new(const CTTensor *params, int64_t n, double lr, double beta1, double beta2,
                      double eps, double weight_decay, bool amsgrad, bool fused, CTOptimizer *out) {
  CT_GUARD({
    auto o = std::make_unique<CTOptimizerImpl>();
    o->params = list(params, n);
    o->lr = lr, o->beta1 = beta1, o->beta2 = beta2, o->eps = eps, o->weight_decay = weight_decay;
    o->amsgrad = amsgrad, o->fused = fused;
    if (fused) {
      o->steps.resize(n), o->exp_avgs.resize(n), o->exp_avg_sqs.resize(n), o->max_exp_avg_sqs.resize(n);
      if (lr < 0 || eps < 0 || weight_decay < 0 || beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1)
        throw std::invalid_argument("invalid AdamW hyper-parameters");
    } else {
      auto opts = torch::optim::AdamWOptions(lr)
                      .betas(std::make_tuple(beta1, beta2))
                      .eps(eps)
                      .weight_decay(weight_decay)
                      .amsgrad(amsgrad);
      o->plain = std::make_unique<torch::optim::AdamW>(o->params, opts);
    }
    *out = o.release();
  })
}
void ct_adamw_free(CTOptimizer o) { delete o; }

CTStatus ct_adamw_step(CTOptimizer handle, CTTensor grad_scale, CTTensor found_inf) {
  CT_GUARD({
    auto &o = O(handle);
    if (o.fused) {
      fused_step(o, opt(grad_scale), opt(found_inf));
    } else {
      if (grad_scale || found_inf)
        throw std::invalid_argument("grad_scale/found_inf need the fused AdamW");
      o.plain->step();
    }
  })
}
CTStatus ct_adamw_zero_grad(CTOptimizer handle) {
  CT_GUARD({
    for (auto &p : O(handle).params) p.mutable_grad() = at::Tensor();
  })
}
CTStatus ct_adamw_set_lr(CTOptimizer handle, double lr) {
  CT_GUARD({
    auto &o = O(handle);
    o.lr = lr;
    if (o.plain) plain_options(o).lr(lr);
  })
}
CTStatus ct_adamw_get_lr(CTOptimizer handle, double *lr) { CT_GUARD(*lr = O(handle).lr) }

CTStatus ct_adamw_get_state(CTOptimizer handle, int64_t index, bool *has_state, CTTensor *step,
                            CTTensor *exp_avg, CTTensor *exp_avg_sq, CTTensor *max_exp_avg_sq) {
  CT_GUARD({
    auto &o = O(handle);
    if (index < 0 || index >= static_cast<int64_t>(o.params.size()))
      throw std::out_of_range("parameter index " + std::to_string(index) + " out of range");
    *has_state = false;
    *step = *exp_avg = *exp_avg_sq = *max_exp_avg_sq = nullptr;
    if (o.fused) {
      if (!o.steps[index].defined()) return 0;
      *has_state = true;
      *step = wrap(o.steps[index].to(at::kCPU));
      *exp_avg = wrap(o.exp_avgs[index]);
      *exp_avg_sq = wrap(o.exp_avg_sqs[index]);
      if (o.amsgrad) *max_exp_avg_sq = wrap(o.max_exp_avg_sqs[index]);
      return 0;
    }
    auto &state = o.plain->state();
    auto it = state.find(o.params[index].unsafeGetTensorImpl());
    if (it == state.end()) return 0;
    auto &s = static_cast<torch::optim::AdamWParamState &>(*it->second);
    *has_state = true;
    *step = wrap(at::scalar_tensor(static_cast<double>(s.step()), at::kFloat));
    *exp_avg = wrap(s.exp_avg());
    *exp_avg_sq = wrap(s.exp_avg_sq());
    if (o.amsgrad && s.max_exp_avg_sq().defined()) *max_exp_avg_sq = wrap(s.max_exp_avg_sq());
  })
}

CTStatus ct_adamw_set_state(CTOptimizer handle, int64_t index, CTTensor step, CTTensor exp_avg,
                            CTTensor exp_avg_sq, CTTensor max_exp_avg_sq) {
  CT_GUARD({
    auto &o = O(handle);
    if (index < 0 || index >= static_cast<int64_t>(o.params.size()))
      throw std::out_of_range("parameter index " + std::to_string(index) + " out of range");
    auto &p = o.params[index];
    auto check = [&](const at::Tensor &t, const char *name) {
      if (!t.sizes().equals(p.sizes()))
        throw std::invalid_argument(std::string(name) + " shape " + c10::str(t.sizes()) +
                                    " does not match parameter shape " + c10::str(p.sizes()));
      return t.to(p.device(), p.scalar_type()).clone();
    };
    auto ea = check(T(exp_avg), "exp_avg");
    auto eas = check(T(exp_avg_sq), "exp_avg_sq");
    at::Tensor mx;
    if (o.amsgrad) {
      if (!max_exp_avg_sq) throw std::invalid_argument("amsgrad state needs max_exp_avg_sq");
      mx = check(T(max_exp_avg_sq), "max_exp_avg_sq");
    }
    auto st = T(step).to(at::kFloat);
    if (o.fused) {
      o.steps[index] = st.to(p.device()).clone();
      o.exp_avgs[index] = ea, o.exp_avg_sqs[index] = eas;
      if (o.amsgrad) o.max_exp_avg_sqs[index] = mx;
      return 0;
    }
    auto s = std::make_unique<torch::optim::AdamWParamState>();
    s->step(static_cast<int64_t>(st.item<double>()));
    s->exp_avg(ea);
    s->exp_avg_sq(eas);
    if (o.amsgrad) s->max_exp_avg_sq(mx);
    o.plain->state()[p.unsafeGetTensorImpl()] = std::move(s);
  })
}

}  // extern "C"
