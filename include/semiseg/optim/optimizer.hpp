// The trainer's optimizer, chosen at run time by the type of its options: Adam, AdamW or SGD.
// Contract: `Optimizer<T, D>(options)` validates the options as the chosen optimizer does; step(),
// lr() and set_lr() forward to it; save()/load() put its state (moments or momentum buffer and
// step count) into a checkpoint and take it back, so a resumed run continues bit for bit.
#pragma once

#include <string>
#include <variant>

#include "semiseg/optim/adam.hpp"
#include "semiseg/optim/sgd.hpp"
#include "semiseg/train/safetensors.hpp"

namespace semiseg::optim {

using OptimizerOptions = std::variant<AdamOptions, AdamWOptions, SgdOptions>;

inline const char* optimizer_name(const OptimizerOptions& o) {
  return std::visit([](const auto& options) -> const char* { return options.name; }, o);
}

inline double initial_lr(const OptimizerOptions& o) {
  return std::visit([](const auto& options) { return options.lr; }, o);
}

template <class T, Device D>
class Optimizer {
 public:
  explicit Optimizer(const OptimizerOptions& options)
      : name_(optimizer_name(options)),
        impl_(std::visit([](const auto& o) -> Impl { return make(o); }, options)) {}

  void step(Parameters<T, D>& params) {
    std::visit([&](auto& opt) { opt.step(params); }, impl_);
  }
  double lr() const {
    return std::visit([](const auto& opt) { return opt.lr(); }, impl_);
  }
  void set_lr(double lr) {
    std::visit([&](auto& opt) { opt.set_lr(lr); }, impl_);
  }
  index_t steps() const {
    return std::visit([](const auto& opt) { return opt.state().steps; }, impl_);
  }
  const char* name() const { return name_; }

  // Writes the state under "<prefix>.*" keys, with the name and step count as metadata
  // "semiseg.<prefix>" and "semiseg.<prefix>_steps" (a second optimizer takes another prefix).
  void save(train::SafeTensors& st, const std::string& prefix = "optimizer") const {
    st.metadata["semiseg." + prefix] = name_;
    st.metadata["semiseg." + prefix + "_steps"] = std::to_string(steps());
    std::visit(
        [&](const auto& opt) {
          const auto& s = opt.state();
          if constexpr (requires { s.momentum; }) {
            if (s.momentum.size() != 0) st.add(prefix + ".momentum", s.momentum.view());
          } else if (s.steps > 0) {
            st.add(prefix + ".exp_avg", s.exp_avg.view());
            st.add(prefix + ".exp_avg_sq", s.exp_avg_sq.view());
          }
        },
        impl_);
  }

  // Restores the state written by save(); `n` is the model's parameter count.
  void load(const train::SafeTensors& st, const std::string& path, index_t n, const std::string& prefix = "optimizer") {
    const auto it = st.metadata.find("semiseg." + prefix);
    const std::string saved = it == st.metadata.end() ? "(none)" : it->second;
    if (saved != name_)
      throw value_error(path + ": checkpoint of a run with optimizer " + saved + ", this trainer uses " + name_);
    const auto steps_it = st.metadata.find("semiseg." + prefix + "_steps");
    if (steps_it == st.metadata.end())
      throw io_error(path + ": not a semiseg checkpoint (no semiseg." + prefix + "_steps)");
    const index_t steps = static_cast<index_t>(std::stoll(steps_it->second));
    std::visit(
        [&](auto& opt) {
          auto& s = opt.state();
          s.steps = steps;
          if constexpr (requires { s.momentum; }) {
            if (st.contains(prefix + ".momentum")) {
              s.momentum.resize(flat_shape(1, n));
              st.get_into(prefix + ".momentum", s.momentum.view());
            } else {
              s.momentum = {};
            }
          } else if (steps > 0) {
            s.exp_avg.resize(flat_shape(1, n));
            s.exp_avg_sq.resize(flat_shape(1, n));
            st.get_into(prefix + ".exp_avg", s.exp_avg.view());
            st.get_into(prefix + ".exp_avg_sq", s.exp_avg_sq.view());
          }
        },
        impl_);
  }

 private:
  using Impl = std::variant<Adam<T, D>, AdamW<T, D>, Sgd<T, D>>;
  static Impl make(const AdamOptions& o) { return Impl(std::in_place_index<0>, o); }
  static Impl make(const AdamWOptions& o) { return Impl(std::in_place_index<1>, o); }
  static Impl make(const SgdOptions& o) { return Impl(std::in_place_index<2>, o); }

  const char* name_;
  Impl impl_;
};

}  // namespace semiseg::optim
