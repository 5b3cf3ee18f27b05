// Stochastic gradient descent with momentum, as torch.optim.SGD. Contract: requires valid options
// (value_error otherwise) and, on every step, the same number of parameters n with device
// pointers of device D. Ensures each step applies PyTorch's update exactly, element by element in
// one launch:
//   g = grad + weight_decay * p
//   buf = g on the first step, else momentum * buf + (1 - dampening) * g   (only if momentum != 0)
//   g = nesterov ? g + momentum * buf : buf
//   p = p - lr * g
// The momentum buffer is allocated on the first step with momentum and is public through
// state(), so a checkpoint can save and restore it.
#pragma once

#include "semiseg/core/launch.hpp"
#include "semiseg/core/parameters.hpp"
#include "semiseg/core/tensor.hpp"
#include "semiseg/optim/check.hpp"

namespace semiseg::optim {

// PyTorch's defaults. torch 1.13 has no default lr; 1e-3 is the default of torch 2.x.
struct SgdOptions {
  static constexpr const char* name = "sgd";
  double lr = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
};

inline void validate(const SgdOptions& o) {
  detail::require(o.lr >= 0, "sgd", "lr", "must be >= 0", o.lr);
  detail::require(o.momentum >= 0, "sgd", "momentum", "must be >= 0", o.momentum);
  // PyTorch does not check dampening; outside [0, 1] it would amplify or flip the gradient.
  detail::require(o.dampening >= 0 && o.dampening <= 1, "sgd", "dampening", "must be in [0, 1]", o.dampening);
  detail::require(o.weight_decay >= 0, "sgd", "weight_decay", "must be >= 0", o.weight_decay);
  // Same rule as PyTorch: Nesterov's look-ahead needs a momentum and undamped gradients.
  detail::require(!o.nesterov || (o.momentum > 0 && o.dampening == 0), "sgd", "nesterov",
                  "needs momentum > 0 and dampening 0; momentum is", o.momentum);
}

template <class T>
struct SgdKernel {
  T* p;
  const T* grad;
  T* buf;  // null when momentum is 0
  T lr, momentum, dampening_complement, weight_decay;
  bool first, nesterov;

  SEMISEG_HD void operator()(index_t i) const {
    T g = grad[i];
    if (weight_decay != T(0)) g += weight_decay * p[i];
    if (buf) {
      const T b = first ? g : momentum * buf[i] + dampening_complement * g;
      buf[i] = b;
      g = nesterov ? g + momentum * b : b;
    }
    p[i] -= lr * g;
  }
};

template <class T, Device D>
class Sgd {
 public:
  using Options = SgdOptions;
  // `momentum` is empty until the first step with momentum; `steps` counts every step.
  struct State {
    Tensor<T, D, flat> momentum;
    index_t steps = 0;
  };

  explicit Sgd(const SgdOptions& options = {}) : o_(options) { validate(o_); }

  void step(T* values, const T* grads, index_t n) {
    detail::require(n >= 0, "sgd", "parameter count", "must be >= 0", static_cast<double>(n));
    T* buf = nullptr;
    bool first = false;
    if (o_.momentum != 0) {
      // Like PyTorch's `momentum_buffer is None`: an empty buffer marks the first step, so a
      // buffer restored from a checkpoint continues where it left off.
      first = s_.momentum.size() == 0;
      if (first) {
        s_.momentum.resize(flat_shape(1, n));
      } else if (s_.momentum.size() != n) {
        throw shape_error("semiseg: sgd: step over " + std::to_string(n) + " parameters, but the momentum buffer holds " +
                          std::to_string(s_.momentum.size()));
      }
      buf = s_.momentum.data();
    }
    launch<D>(n, SgdKernel<T>{values, grads, buf, static_cast<T>(o_.lr), static_cast<T>(o_.momentum),
                              static_cast<T>(1.0 - o_.dampening), static_cast<T>(o_.weight_decay), first,
                              o_.nesterov});
    ++s_.steps;
  }
  void step(Parameters<T, D>& params) { step(params.values().data(), params.grads().data(), params.size()); }

  double lr() const { return o_.lr; }
  void set_lr(double lr) {
    detail::require(lr >= 0, "sgd", "lr", "must be >= 0", lr);
    o_.lr = lr;
  }
  const SgdOptions& options() const { return o_; }
  // For schedules of other hyper-parameters; validated like the constructor's options.
  void set_options(const SgdOptions& options) {
    validate(options);
    o_ = options;
  }
  State& state() { return s_; }
  const State& state() const { return s_; }

 private:
  SgdOptions o_;
  State s_;
};

}  // namespace semiseg::optim
