// Convolution in 2D and 3D: stride, padding (symmetric or per side), dilation, groups, bias.
// Contract: matches PyTorch's ConvNd (weight [Cout, Cin/groups, k...], cross-correlation).
// Computed per image as a GEMM per group over the column matrix (im2col.hpp). Float on the cpu
// makes the columns inside the packed GEMM and never stores them; elsewhere im2col writes them to
// one buffer per thread shared by every layer (column_workspace), and backward recomputes them.
// The input gradient always goes through that buffer and col2im. A build with SEMISEG_ONEDNN runs
// float on the cpu through oneDNN instead (kernels/onednn_conv.hpp).
#pragma once

#include <optional>
#include <type_traits>
#include <string>

#include "semiseg/kernels/gemm.hpp"
#include "semiseg/kernels/im2col.hpp"
#include "semiseg/kernels/direct_conv.hpp"
#include "semiseg/kernels/implicit_columns.hpp"
#include "semiseg/nn/layer.hpp"

#if SEMISEG_HAS_ONEDNN
#include "semiseg/kernels/onednn_conv.hpp"
#endif

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
  // Marks this layer as the one that reads the network's input: after a forward whose context
  // has input_gradient false, backward computes the parameter gradients only and returns an
  // empty dx.
  void set_input_is_data(bool v) { input_is_data_ = v; }
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
#if SEMISEG_HAS_ONEDNN
    if constexpr (use_onednn) {
      onednn_.prepare(onednn_problem(x.n(), g));
      onednn_.forward(x.data, weight_.value(), o_.bias ? bias_.value() : nullptr, y_.data());
      x_ = context.needs_backward ? x : TensorView<const T, D, Dim>{};
      skip_dx_ = input_is_data_ && !context.input_gradient;
      return y_;
    }
#endif
    const index_t cin_g = o_.in_channels / o_.groups, cout_g = o_.out_channels / o_.groups;
    const index_t rows = cin_g * g.taps(), P = g.out_size();
    if constexpr (packed_cpu) {
      for (index_t gr = 0; gr < o_.groups; ++gr)
        convolve(image(x.data, 0, gr, g), o_.in_channels * g.in_size(), x.n(), cin_g,
                 weight_.value() + gr * cout_g * rows, cout_g, g, y_.data() + gr * cout_g * P, o_.out_channels * P);
    } else {
      T* col = column_workspace<T, D>(o_.in_channels * g.taps() * P);
      for (index_t n = 0; n < x.n(); ++n) {
        im2col<D>(x.data + n * o_.in_channels * g.in_size(), col, g, o_.in_channels);
        for (index_t gr = 0; gr < o_.groups; ++gr)
          gemm<D>(Trans::no, Trans::no, cout_g, P, rows, T(1), weight_.value() + gr * cout_g * rows, rows,
                  col + gr * rows * P, P, T(0), y_.data() + (n * o_.out_channels + gr * cout_g) * P, P);
      }
    }
    if (o_.bias) launch<D>(y_.n() * o_.out_channels, AddChannelBias<T>{y_.data(), bias_.value(), o_.out_channels, P}, grain_for(P));
    x_ = context.needs_backward ? x : TensorView<const T, D, Dim>{};
    skip_dx_ = input_is_data_ && !context.input_gradient;
    return y_;
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    if (!x_.data) throw error("semiseg: conv: backward without a forward that kept its input (needs_backward)");
    expect_shape("conv", "dy", dy.shape, y_.shape());
    const ConvGeometry<S> g = geometry(x_.shape);
    const index_t cin_g = o_.in_channels / o_.groups, cout_g = o_.out_channels / o_.groups;
    const index_t rows = cin_g * g.taps(), P = g.out_size();
    dx_.resize(skip_dx_ ? make_shape<S>(0, o_.in_channels, x_.shape.spatial()) : x_.shape);
#if SEMISEG_HAS_ONEDNN
    if constexpr (use_onednn) {
      onednn_.prepare(onednn_problem(x_.n(), g));
      if (skip_dx_)
        onednn_.backward_weights_accumulate(x_.data, dy.data, weight_.grad(), o_.bias ? bias_.grad() : nullptr);
      else
        onednn_.backward(x_.data, dy.data, weight_.value(), dx_.data(), weight_.grad(), o_.bias ? bias_.grad() : nullptr);
      return dx_;
    }
#endif
    // With stride 1, dx is itself a convolution: of dy with the weights flipped and transposed.
    bool dx_as_convolution = false;
    ConvGeometry<S> gt{};
    if constexpr (packed_cpu) {
      dx_as_convolution = !skip_dx_ && o_.stride == all<S, 1>;
      if (dx_as_convolution) {
        gt = g;
        gt.in = g.out;
        gt.out = g.in;
        for (int d = 0; d < S; ++d) gt.pad[d] = o_.dilation[d] * (o_.kernel[d] - 1) - o_.padding[d];
        flip_weights();
      }
    }
    // The column buffer, taken only when a step below stores columns.
    const bool columns_needed = !packed_cpu || cout_g <= few_out_channels || (!skip_dx_ && !dx_as_convolution);
    T* col = columns_needed ? column_workspace<T, D>(o_.in_channels * g.taps() * P) : nullptr;
    for (index_t n = 0; n < x_.n(); ++n) {
      const T* dyn = dy.data + n * o_.out_channels * P;
      if constexpr (packed_cpu) {
        if (cout_g <= few_out_channels) {
          // Each column value meets only cout_g gradients: dot products over the stored columns
          // beat packing them.
          im2col<D>(x_.data + n * o_.in_channels * g.in_size(), col, g, o_.in_channels);
          for (index_t gr = 0; gr < o_.groups; ++gr)
            packed::gemm_rows_dot(cout_g, rows, P, dyn + gr * cout_g * P, P, col + gr * rows * P, P,
                                  weight_.grad() + gr * cout_g * rows, rows);
        } else {
          for (index_t gr = 0; gr < o_.groups; ++gr)
            packed::gemm_packed_b(false, packed::TransposedColumnPanel<S>{image(x_.data, n, gr, g), g}, cout_g, rows,
                                  P, 1.f, dyn + gr * cout_g * P, P, 1.f, weight_.grad() + gr * cout_g * rows, rows);
        }
      } else {
        im2col<D>(x_.data + n * o_.in_channels * g.in_size(), col, g, o_.in_channels);
        for (index_t gr = 0; gr < o_.groups; ++gr)
          gemm<D>(Trans::no, Trans::yes, cout_g, rows, P, T(1), dyn + gr * cout_g * P, P, col + gr * rows * P, P, T(1),
                  weight_.grad() + gr * cout_g * rows, rows);
      }
      if (skip_dx_ || dx_as_convolution) continue;
      for (index_t gr = 0; gr < o_.groups; ++gr)
        gemm<D>(Trans::yes, Trans::no, rows, P, cout_g, T(1), weight_.value() + gr * cout_g * rows, rows,
                dyn + gr * cout_g * P, P, T(0), col + gr * rows * P, P);
      col2im<D>(col, dx_.data() + n * o_.in_channels * g.in_size(), g, o_.in_channels);
    }
    if constexpr (packed_cpu) {
      if (dx_as_convolution) {
        const index_t rows_t = cout_g * g.taps();
        for (index_t gr = 0; gr < o_.groups; ++gr)
          convolve(dy.data + gr * cout_g * P, o_.out_channels * P, x_.n(), cout_g, flipped_.data() + gr * cin_g * rows_t,
                   cin_g, gt, dx_.data() + gr * cin_g * g.in_size(), o_.in_channels * g.in_size());
      }
    }
    if (o_.bias) launch<D>(o_.out_channels, ChannelSum<T>{dy.data, bias_.grad(), dy.n(), o_.out_channels, P});
    return dx_;
  }

 private:
  Small<index_t, S> pad_end() const { return o_.padding_end.value_or(o_.padding); }

#if SEMISEG_HAS_ONEDNN
  // With SEMISEG_ONEDNN, float on the cpu runs through oneDNN (kernels/onednn_conv.hpp).
  static constexpr bool use_onednn = std::is_same_v<T, float> && std::is_same_v<D, cpu>;
  struct NoOnednn {};
  onednn::ConvProblem<S> onednn_problem(index_t batch, const ConvGeometry<S>& g) const {
    return {.batch = batch, .in_channels = o_.in_channels, .out_channels = o_.out_channels, .groups = o_.groups,
            .in = g.in, .kernel = o_.kernel, .stride = o_.stride, .pad_begin = o_.padding, .pad_end = pad_end(),
            .dilation = o_.dilation, .bias = o_.bias};
  }
#endif

  // Float on the cpu runs the packed GEMM with the columns made on the fly (implicit_columns.hpp).
  static constexpr bool packed_cpu = !is_cuda<D> && std::is_same_v<T, float>;
  // Up to this many output channels per group, the weight gradient runs as dot products over
  // stored columns (packed::gemm_rows_dot) instead of the packed GEMM.
  static constexpr index_t few_out_channels = 32;
  // y (out × positions) = w · col(x) for each image of a batch, one group, on the cpu: the direct
  // kernel for a stride-1 layer (measured faster at 16 to 64 output channels), else the packed
  // GEMM making columns on the fly. Images are x_stride and y_stride apart.
  static void convolve(const float* x, index_t x_stride, index_t batch, index_t channels, const float* w, index_t out,
                       const ConvGeometry<S>& g, float* y, index_t y_stride) {
    if (packed::direct_convolution_fits(g)) {
      packed::direct_convolution(x, x_stride, batch, channels, w, out, g, y, y_stride);
      return;
    }
    const index_t depth = channels * g.taps();
    for (index_t n = 0; n < batch; ++n)
      packed::gemm_packed_b(false, packed::ColumnPanel<S>{x + n * x_stride, g}, out, g.out_size(), depth, 1.f, w, depth,
                            0.f, y + n * y_stride, g.out_size());
  }

  // flipped_[gr][ci][co][k] = weight[gr][co][ci][K − 1 − k]: the weights of the convolution that
  // gives dx from dy when the stride is 1.
  void flip_weights() {
    const index_t cin_g = o_.in_channels / o_.groups, cout_g = o_.out_channels / o_.groups, K = o_.kernel.product();
    flipped_.resize(flat_shape(1, o_.out_channels * cin_g * K));
    const T* w = weight_.value();
    T* f = flipped_.data();
    for (index_t gr = 0; gr < o_.groups; ++gr)
      for (index_t co = 0; co < cout_g; ++co)
        for (index_t ci = 0; ci < cin_g; ++ci)
          for (index_t k = 0; k < K; ++k)
            f[((gr * cin_g + ci) * cout_g + co) * K + (K - 1 - k)] = w[((gr * cout_g + co) * cin_g + ci) * K + k];
  }

  // Channel 0 of group gr of image n.
  const T* image(const T* x, index_t n, index_t gr, const ConvGeometry<S>& g) const {
    return x + (n * o_.in_channels + gr * (o_.in_channels / o_.groups)) * g.in_size();
  }

  Options o_;
  ParamRef<T, D> weight_, bias_;
  TensorView<const T, D, Dim> x_{};
  bool input_is_data_ = false, skip_dx_ = false;
  Tensor<T, D, Dim> y_, dx_;
  Tensor<T, D, flat> flipped_;  // cpu float with stride 1: see flip_weights
#if SEMISEG_HAS_ONEDNN
  [[no_unique_address]] std::conditional_t<use_onednn, onednn::Convolution<S>, NoOnednn> onednn_;
#endif
};

}  // namespace semiseg::nn
