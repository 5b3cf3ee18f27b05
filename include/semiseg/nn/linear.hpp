// Fully connected layer on flat N×F tensors. Contract: matches PyTorch's Linear:
// y = x·Wᵀ + b with W [out, in]; one GEMM each for forward, dx and dW.
#pragma once

#include <string>

#include "semiseg/kernels/gemm.hpp"
#include "semiseg/kernels/im2col.hpp"
#include "semiseg/nn/layer.hpp"

namespace semiseg::nn {

namespace detail {
// y[n, j] += bias[j] over an N × F matrix: per element, or (cpu) per row.
template <class T>
struct AddRowBias {
  T* y;
  const T* bias;
  index_t features;
  SEMISEG_HD void operator()(index_t i) const { y[i] += bias[i % features]; }
  SEMISEG_HD void over_plane(index_t n) const {
    T* row = y + n * features;
    for (index_t j = 0; j < features; ++j) row[j] += bias[j];
  }
};
// db[j] += Σ_n dy[n, j] for the columns of one block, reading the rows in order (the cpu form;
// one column per item reads with a stride).
template <class T>
struct ColumnSums {
  const T* dy;
  T* db;
  index_t rows, cols, block;
  SEMISEG_HD void operator()(index_t b) const {
    const index_t j0 = b * block, j1 = j0 + block < cols ? j0 + block : cols;
    for (index_t n = 0; n < rows; ++n)
      for (index_t j = j0; j < j1; ++j) db[j] += dy[n * cols + j];
  }
};
}  // namespace detail

struct LinearOptions {
  index_t in_features = 1;
  index_t out_features = 1;
  bool bias = true;
};

template <class T, Device D>
class Linear {
 public:
  using value_type = T;
  using device = D;
  using dim = flat;
  using Options = LinearOptions;

  Linear(Parameters<T, D>& parameters, const Options& options, const std::string& name = "linear") : o_(options) {
    if (o_.in_features < 1 || o_.out_features < 1) throw value_error("semiseg: linear: features must be positive");
    weight_ = parameters.add(name + ".weight", o_.out_features * o_.in_features, Init::fan_in(o_.in_features));
    if (o_.bias) bias_ = parameters.add(name + ".bias", o_.out_features, Init::fan_in(o_.in_features));
  }

  // Marks this layer as the one that reads the network's input: after a forward whose context
  // has input_gradient false, backward computes the parameter gradients only and returns an
  // empty dx.
  void set_input_is_data(bool v) { input_is_data_ = v; }

  const ParamRef<T, D>& weight() const { return weight_; }
  const ParamRef<T, D>& bias() const { return bias_; }

  template <class X>
  const Tensor<T, D, flat>& forward(const X& input, Context context) {
    check_input<Linear, X>();
    const TensorView<const T, D, flat> x = as_const(input);
    expect_channels("linear", x.shape, o_.in_features);
    y_.resize(flat_shape(x.n(), o_.out_features));
    gemm<D>(Trans::no, Trans::yes, x.n(), o_.out_features, o_.in_features, T(1), x.data, o_.in_features,
            weight_.value(), o_.in_features, T(0), y_.data(), o_.out_features);
    if (o_.bias) launch_planes<D>(y_.size(), o_.out_features, detail::AddRowBias<T>{y_.data(), bias_.value(), o_.out_features});
    x_ = context.needs_backward ? x : TensorView<const T, D, flat>{};
    skip_dx_ = input_is_data_ && !context.input_gradient;
    return y_;
  }

  const Tensor<T, D, flat>& backward(TensorView<const T, D, flat> dy) {
    if (!x_.data) throw error("semiseg: linear: backward without a forward that kept its input");
    expect_shape("linear", "dy", dy.shape, y_.shape());
    dx_.resize(flat_shape(skip_dx_ ? 0 : x_.n(), o_.in_features));
    if (!skip_dx_)
      gemm<D>(Trans::no, Trans::no, x_.n(), o_.in_features, o_.out_features, T(1), dy.data, o_.out_features,
              weight_.value(), o_.in_features, T(0), dx_.data(), o_.in_features);
    gemm<D>(Trans::yes, Trans::no, o_.out_features, o_.in_features, x_.n(), T(1), dy.data, o_.out_features, x_.data,
            o_.in_features, T(1), weight_.grad(), o_.in_features);
    if (o_.bias) {
      if constexpr (is_cuda<D>) {
        launch<D>(o_.out_features, ChannelSum<T>{dy.data, bias_.grad(), dy.n(), o_.out_features, 1});
      } else {
        constexpr index_t block = 64;
        launch<D>((o_.out_features + block - 1) / block,
                  detail::ColumnSums<T>{dy.data, bias_.grad(), dy.n(), o_.out_features, block}, grain_for(block * dy.n()));
      }
    }
    return dx_;
  }

 private:
  Options o_;
  ParamRef<T, D> weight_, bias_;
  TensorView<const T, D, flat> x_{};
  bool input_is_data_ = false, skip_dx_ = false;
  Tensor<T, D, flat> y_, dx_;
};

}  // namespace semiseg::nn
