// Convolution in 2D and 3D: stride, padding (symmetric or per side), dilation, groups, bias.
// Contract: matches PyTorch's ConvNd (weight [Cout, Cin/groups, k...], cross-correlation).
// Computed per image as im2col + GEMM per group; backward recomputes the columns instead of
// keeping them, so memory stays one column buffer per layer.
#pragma once

#include <optional>
#include <string>

#include "semiseg/kernels/gemm.hpp"
#include "semiseg/kernels/im2col.hpp"
#include "semiseg/nn/layer.hpp"

namespace semiseg::nn {

template <SpatialDimension Dim>
struct ConvOptions {
  static constexpr int S = Dim::spatial;
  index_t in_channels = 1;
  index_t out_channels = 1;
  Small<index_t, S> kernel = all<S, 3>;
  Small<index_t, S> stride = all<S, 1>;
  Small<index_t, S> padding = all<S, 0>;  // before each axis, and after it unless padding_end is set
  std::optional<Small<index_t, S>> padding_end{};
  Small<index_t, S> dilation = all<S, 1>;
  index_t groups = 1;
  bool bias = true;
};

template <class T, Device D, SpatialDimension Dim>
class Conv {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;
  using Options = ConvOptions<Dim>;
  static constexpr int S = Dim::spatial;

  Conv(Parameters<T, D>& parameters, const Options& options, const std::string& name = "conv") : o_(options) {
    validate_window<S>("conv", o_.kernel, o_.stride, o_.dilation);
    validate_groups("conv", o_.in_channels, o_.out_channels, o_.groups);
    for (int d = 0; d < S; ++d)
      if (o_.padding[d] < 0 || pad_end()[d] < 0) throw value_error("semiseg: conv: padding must be non-negative");
    const index_t fan_in = o_.in_channels / o_.groups * o_.kernel.product();
    weight_ = parameters.add(name + ".weight", o_.out_channels * fan_in, Init::fan_in(fan_in));
    if (o_.bias) bias_ = parameters.add(name + ".bias", o_.out_channels, Init::fan_in(fan_in));
  }

  const Options& options() const { return o_; }
  const ParamRef<T, D>& weight() const { return weight_; }
  const ParamRef<T, D>& bias() const { return bias_; }

  ConvGeometry<S> geometry(const shape_of<Dim>& in) const {
    ConvGeometry<S> g;
    g.in = in.spatial();
    g.kernel = o_.kernel;
    g.stride = o_.stride;
    g.pad = o_.padding;
    g.dilation = o_.dilation;
    for (int d = 0; d < S; ++d) {
      const index_t span = g.in[d] + o_.padding[d] + pad_end()[d] - o_.dilation[d] * (o_.kernel[d] - 1) - 1;
      if (span < 0)
        throw shape_error("semiseg: conv: input " + in.str() + " is smaller than the dilated kernel");
      g.out[d] = span / o_.stride[d] + 1;
    }
    return g;
  }

  template <class X>
  const Tensor<T, D, Dim>& forward(const X& input, Context context) {
    check_input<Conv, X>();
    const TensorView<const T, D, Dim> x = as_const(input);
    expect_channels("conv", x.shape, o_.in_channels);
    const ConvGeometry<S> g = geometry(x.shape);
    y_.resize(make_shape<S>(x.n(), o_.out_channels, g.out));
    const index_t cin_g = o_.in_channels / o_.groups, cout_g = o_.out_channels / o_.groups;
    const index_t rows = cin_g * g.taps(), P = g.out_size();
    T* col = scratch(col_, o_.in_channels * g.taps() * P);
    for (index_t n = 0; n < x.n(); ++n) {
      im2col<D>(x.data + n * o_.in_channels * g.in_size(), col, g, o_.in_channels);
      for (index_t gr = 0; gr < o_.groups; ++gr)
        gemm<D>(Trans::no, Trans::no, cout_g, P, rows, T(1), weight_.value() + gr * cout_g * rows, rows,
                col + gr * rows * P, P, T(0), y_.data() + (n * o_.out_channels + gr * cout_g) * P, P);
    }
    if (o_.bias) launch<D>(y_.n() * o_.out_channels, AddChannelBias<T>{y_.data(), bias_.value(), o_.out_channels, P}, grain_for(P));
    x_ = context.needs_backward ? x : TensorView<const T, D, Dim>{};
    return y_;
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    if (!x_.data) throw error("semiseg: conv: backward without a forward that kept its input (needs_backward)");
    expect_shape("conv", "dy", dy.shape, y_.shape());
    const ConvGeometry<S> g = geometry(x_.shape);
    const index_t cin_g = o_.in_channels / o_.groups, cout_g = o_.out_channels / o_.groups;
    const index_t rows = cin_g * g.taps(), P = g.out_size();
    dx_.resize(x_.shape);
    T* col = scratch(col_, o_.in_channels * g.taps() * P);
    for (index_t n = 0; n < x_.n(); ++n) {
      const T* dyn = dy.data + n * o_.out_channels * P;
      im2col<D>(x_.data + n * o_.in_channels * g.in_size(), col, g, o_.in_channels);
      for (index_t gr = 0; gr < o_.groups; ++gr)
        gemm<D>(Trans::no, Trans::yes, cout_g, rows, P, T(1), dyn + gr * cout_g * P, P, col + gr * rows * P, P, T(1),
                weight_.grad() + gr * cout_g * rows, rows);
      for (index_t gr = 0; gr < o_.groups; ++gr)
        gemm<D>(Trans::yes, Trans::no, rows, P, cout_g, T(1), weight_.value() + gr * cout_g * rows, rows,
                dyn + gr * cout_g * P, P, T(0), col + gr * rows * P, P);
      col2im<D>(col, dx_.data() + n * o_.in_channels * g.in_size(), g, o_.in_channels);
    }
    if (o_.bias) launch<D>(o_.out_channels, ChannelSum<T>{dy.data, bias_.grad(), dy.n(), o_.out_channels, P});
    return dx_;
  }

 private:
  Small<index_t, S> pad_end() const { return o_.padding_end.value_or(o_.padding); }

  Options o_;
  ParamRef<T, D> weight_, bias_;
  TensorView<const T, D, Dim> x_{};
  Tensor<T, D, Dim> y_, dx_;
  Tensor<T, D, flat> col_;
};

}  // namespace semiseg::nn
