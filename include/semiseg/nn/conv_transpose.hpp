// Transposed convolution in 2D and 3D: stride, padding, output padding, dilation, groups, bias.
// Contract: matches PyTorch's ConvTransposeNd (weight [Cin, Cout/groups, k...]); it is the adjoint
// of the convolution with the same options, so forward is GEMM + col2im and backward is
// im2col + GEMM, with no zero-stuffed input.
#pragma once

#include <string>

#include "semiseg/nn/conv.hpp"

namespace semiseg::nn {

template <SpatialDimension Dim>
struct ConvTransposeOptions {
  static constexpr int S = Dim::spatial;
  index_t in_channels = 1;
  index_t out_channels = 1;
  Small<index_t, S> kernel = all<S, 2>;
  Small<index_t, S> stride = all<S, 2>;
  Small<index_t, S> padding = all<S, 0>;
  Small<index_t, S> output_padding = all<S, 0>;
  Small<index_t, S> dilation = all<S, 1>;
  index_t groups = 1;
  bool bias = true;
};

template <class T, Device D, SpatialDimension Dim>
class ConvTranspose {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;
  using Options = ConvTransposeOptions<Dim>;
  static constexpr int S = Dim::spatial;

  ConvTranspose(Parameters<T, D>& parameters, const Options& options, const std::string& name = "conv_transpose")
      : o_(options) {
    validate_window<S>("conv_transpose", o_.kernel, o_.stride, o_.dilation);
    validate_groups("conv_transpose", o_.in_channels, o_.out_channels, o_.groups);
    for (int d = 0; d < S; ++d) {
      if (o_.padding[d] < 0 || o_.output_padding[d] < 0)
        throw value_error("semiseg: conv_transpose: padding and output padding must be non-negative");
      if (o_.output_padding[d] >= o_.stride[d] && o_.output_padding[d] >= o_.dilation[d])
        throw value_error("semiseg: conv_transpose: output padding must be smaller than the stride or the dilation");
    }
    const index_t fan_in = o_.out_channels / o_.groups * o_.kernel.product();
    weight_ = parameters.add(name + ".weight", o_.in_channels * fan_in, Init::fan_in(fan_in));
    if (o_.bias) bias_ = parameters.add(name + ".bias", o_.out_channels, Init::fan_in(fan_in));
  }

  const Options& options() const { return o_; }
  const ParamRef<T, D>& weight() const { return weight_; }
  const ParamRef<T, D>& bias() const { return bias_; }

  // The geometry of the matching convolution, which reads the output and writes the input.
  ConvGeometry<S> geometry(const shape_of<Dim>& in) const {
    ConvGeometry<S> g;
    g.out = in.spatial();
    g.kernel = o_.kernel;
    g.stride = o_.stride;
    g.pad = o_.padding;
    g.dilation = o_.dilation;
    for (int d = 0; d < S; ++d) {
      g.in[d] = (g.out[d] - 1) * o_.stride[d] - 2 * o_.padding[d] + o_.dilation[d] * (o_.kernel[d] - 1) +
                o_.output_padding[d] + 1;
      if (g.in[d] < 1) throw shape_error("semiseg: conv_transpose: input " + in.str() + " gives an empty output");
    }
    return g;
  }

  template <class X>
  const Tensor<T, D, Dim>& forward(const X& input, Context context) {
    check_input<ConvTranspose, X>();
    const TensorView<const T, D, Dim> x = as_const(input);
    expect_channels("conv_transpose", x.shape, o_.in_channels);
    const ConvGeometry<S> g = geometry(x.shape);
    y_.resize(make_shape<S>(x.n(), o_.out_channels, g.in));
    const index_t cin_g = o_.in_channels / o_.groups, rows = o_.out_channels / o_.groups * g.taps();
    const index_t P = g.out_size();
    T* col = column_workspace<T, D>(o_.out_channels * g.taps() * P);
    for (index_t n = 0; n < x.n(); ++n) {
      for (index_t gr = 0; gr < o_.groups; ++gr)
        gemm<D>(Trans::yes, Trans::no, rows, P, cin_g, T(1), weight_.value() + gr * cin_g * rows, rows,
                x.data + (n * o_.in_channels + gr * cin_g) * P, P, T(0), col + gr * rows * P, P);
      col2im<D>(col, y_.data() + n * o_.out_channels * g.in_size(), g, o_.out_channels);
    }
    if (o_.bias) launch<D>(y_.n() * o_.out_channels, AddChannelBias<T>{y_.data(), bias_.value(), o_.out_channels, g.in_size()},
                           grain_for(g.in_size()));
    x_ = context.needs_backward ? x : TensorView<const T, D, Dim>{};
    return y_;
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    if (!x_.data) throw error("semiseg: conv_transpose: backward without a forward that kept its input");
    expect_shape("conv_transpose", "dy", dy.shape, y_.shape());
    const ConvGeometry<S> g = geometry(x_.shape);
    const index_t cin_g = o_.in_channels / o_.groups, rows = o_.out_channels / o_.groups * g.taps();
    const index_t P = g.out_size();
    dx_.resize(x_.shape);
    T* col = column_workspace<T, D>(o_.out_channels * g.taps() * P);
    for (index_t n = 0; n < x_.n(); ++n) {
      im2col<D>(dy.data + n * o_.out_channels * g.in_size(), col, g, o_.out_channels);
      for (index_t gr = 0; gr < o_.groups; ++gr) {
        const T* xg = x_.data + (n * o_.in_channels + gr * cin_g) * P;
        gemm<D>(Trans::no, Trans::no, cin_g, P, rows, T(1), weight_.value() + gr * cin_g * rows, rows,
                col + gr * rows * P, P, T(0), dx_.data() + (n * o_.in_channels + gr * cin_g) * P, P);
        gemm<D>(Trans::no, Trans::yes, cin_g, rows, P, T(1), xg, P, col + gr * rows * P, P, T(1),
                weight_.grad() + gr * cin_g * rows, rows);
      }
    }
    if (o_.bias)
      launch<D>(o_.out_channels, ChannelSum<T>{dy.data, bias_.grad(), dy.n(), o_.out_channels, g.in_size()});
    return dx_;
  }

 private:
  Options o_;
  ParamRef<T, D> weight_, bias_;
  TensorView<const T, D, Dim> x_{};
  Tensor<T, D, Dim> y_, dx_;
};

}  // namespace semiseg::nn
