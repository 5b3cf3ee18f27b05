// Finite-difference gradient checks, public so users can check their own layers.
// Contract: for a function y = f(v1, v2, ...) with analytic backward, check_gradients draws a
// random upstream gradient r, takes L = <f, r>, and compares each analytic dL/dv[i] with the
// central difference (L(v + h) - L(v - h)) / 2h. Run it in double. The error of one element is
// |analytic - numeric| / max(1, |analytic|, |numeric|); the check passes when every error is
// within `tolerance`.
#pragma once

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "semiseg/core/context.hpp"
#include "semiseg/core/parameters.hpp"
#include "semiseg/core/philox.hpp"
#include "semiseg/core/tensor.hpp"

namespace semiseg::testing {

struct GradientCheckOptions {
  double epsilon = 1e-6;
  double tolerance = 1e-6;
  std::uint64_t seed = 7;
};

struct GradientCheckResult {
  bool passed = true;
  double max_error = 0.0;
  std::string worst;  // the variable and element with the largest error
  index_t checked = 0;
};

// Something the check differentiates with respect to.
struct Variable {
  std::string name;
  std::function<std::vector<double>()> read;
  std::function<void(const std::vector<double>&)> write;
  std::function<std::vector<double>()> gradient;  // valid after backward
};

inline GradientCheckResult check_gradients(const std::function<std::vector<double>()>& forward,
                                           const std::function<void(const std::vector<double>&)>& backward,
                                           const std::vector<Variable>& variables, GradientCheckOptions options = {}) {
  const std::vector<double> y0 = forward();
  std::vector<double> r(y0.size());
  const Philox rng{options.seed, 0x6ead, 0};
  for (std::size_t i = 0; i < r.size(); ++i) r[i] = rng.normal<double>(i);
  backward(r);
  std::vector<std::vector<double>> analytic;
  for (const Variable& v : variables) analytic.push_back(v.gradient());

  auto objective = [&] {
    const std::vector<double> y = forward();
    double l = 0.0;
    for (std::size_t i = 0; i < y.size(); ++i) l += y[i] * r[i];
    return l;
  };
  GradientCheckResult result;
  for (std::size_t k = 0; k < variables.size(); ++k) {
    const Variable& v = variables[k];
    std::vector<double> values = v.read();
    if (analytic[k].size() != values.size())
      throw shape_error("semiseg: gradient of '" + v.name + "' has " + std::to_string(analytic[k].size()) +
                        " elements, expected " + std::to_string(values.size()));
    for (std::size_t i = 0; i < values.size(); ++i) {
      const double saved = values[i];
      values[i] = saved + options.epsilon;
      v.write(values);
      const double plus = objective();
      values[i] = saved - options.epsilon;
      v.write(values);
      const double minus = objective();
      values[i] = saved;
      v.write(values);
      const double numeric = (plus - minus) / (2.0 * options.epsilon);
      const double a = analytic[k][i];
      const double err = std::abs(a - numeric) / std::max({1.0, std::abs(a), std::abs(numeric)});
      ++result.checked;
      if (std::isnan(err) || err > result.max_error) {
        result.max_error = std::isnan(err) ? INFINITY : err;
        std::ostringstream s;
        s << v.name << "[" << i << "]: analytic " << a << ", numeric " << numeric;
        result.worst = s.str();
      }
    }
  }
  result.passed = result.max_error <= options.tolerance;
  return result;
}

// A tensor as a variable: its values are read and written through host copies.
template <class T, Device D, Dimension Dim>
Variable tensor_variable(std::string name, Tensor<T, D, Dim>& value, std::function<std::vector<double>()> gradient) {
  return {std::move(name),
          [&value] {
            const auto h = to_host(value.view());
            return std::vector<double>(h.begin(), h.end());
          },
          [&value](const std::vector<double>& v) { from_host(value.view(), std::vector<T>(v.begin(), v.end())); },
          std::move(gradient)};
}

template <class T, Device D, Dimension Dim>
std::vector<double> host_values(TensorView<T, D, Dim> t) {
  const auto h = to_host(t);
  return std::vector<double>(h.begin(), h.end());
}

// Checks a layer with the standard interface: `forward(x, context)` returns its output tensor and
// `backward(dy)` returns dx and accumulates parameter gradients into `parameters` (may be null).
template <class Layer, class T, Device D, Dimension Dim>
GradientCheckResult check_layer_gradients(Layer& layer, Parameters<T, D>* parameters, Tensor<T, D, Dim>& x,
                                          Context context = Context::training(), GradientCheckOptions options = {}) {
  auto forward = [&] { return host_values(layer.forward(x.view(), context).view()); };
  std::vector<double> dx;
  auto backward = [&](const std::vector<double>& r) {
    if (parameters) parameters->zero_grad();
    const auto& y = layer.forward(x.view(), context);
    using Out = std::remove_cvref_t<decltype(y)>;
    Out dy(y.shape());
    from_host(dy.view(), std::vector<T>(r.begin(), r.end()));
    const auto& g = layer.backward(dy.view());
    dx = host_values(TensorView<const T, D, Dim>(g));
  };
  std::vector<Variable> vars{tensor_variable("input", x, [&] { return dx; })};
  if (parameters && parameters->size() > 0)
    vars.push_back(tensor_variable("parameters", parameters->values(),
                                   [parameters] { return host_values(parameters->grads().view()); }));
  return check_gradients(forward, backward, vars, options);
}

}  // namespace semiseg::testing
