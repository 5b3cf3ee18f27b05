// Resize to a given spatial size: nearest, or linear (bilinear in 2D, trilinear in 3D) with
// align_corners false or true. Contract: matches PyTorch's F.interpolate called with `size`.
#pragma once

#include <cmath>
#include <optional>

#include "semiseg/kernels/interpolation.hpp"
#include "semiseg/nn/layer.hpp"

namespace semiseg::nn {

template <SpatialDimension Dim>
struct ResizeOptions {
  static constexpr int S = Dim::spatial;
  ResizeMode mode = ResizeMode::linear;
  bool align_corners = false;
  std::optional<Small<index_t, S>> size{};  // the output size; or
  double scale = 2.0;                       // output = floor(input · scale) when size is not set
};

template <class T, Device D, SpatialDimension Dim>
class Resize {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;
  using Options = ResizeOptions<Dim>;
  static constexpr int S = Dim::spatial;

  explicit Resize(const Options& options = {}) : o_(options) {
    if (o_.size) {
      for (int d = 0; d < S; ++d)
        if ((*o_.size)[d] < 1) throw value_error("semiseg: resize: output size must be positive");
    } else if (!(o_.scale > 0)) {
      throw value_error("semiseg: resize: scale must be positive");
    }
  }

  ResizeGeometry<S> geometry(const shape_of<Dim>& in) const {
    ResizeGeometry<S> g;
    g.in = in.spatial();
    g.mode = o_.mode;
    g.align_corners = o_.align_corners;
    for (int d = 0; d < S; ++d) {
      g.out[d] = o_.size ? (*o_.size)[d] : static_cast<index_t>(std::floor(double(g.in[d]) * o_.scale));
      if (g.out[d] < 1) throw shape_error("semiseg: resize: input " + in.str() + " gives an empty output");
    }
    return g;
  }

  template <class X>
  const Tensor<T, D, Dim>& forward(const X& input, Context context) {
    check_input<Resize, X>();
    const TensorView<const T, D, Dim> x = as_const(input);
    const ResizeGeometry<S> g = geometry(x.shape);
    y_.resize(make_shape<S>(x.n(), x.c(), g.out));
    launch<D>(y_.size(), ResizeForward<T, S>{x.data, y_.data(), g});
    in_shape_ = x.shape;
    kept_ = context.needs_backward;
    return y_;
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    if (!kept_) throw error("semiseg: resize: backward without a forward with needs_backward");
    expect_shape("resize", "dy", dy.shape, y_.shape());
    dx_.resize(in_shape_);
    launch<D>(in_shape_.n() * in_shape_.c(), ResizeBackwardPlane<T, S>{dy.data, dx_.data(), geometry(in_shape_)});
    return dx_;
  }

 private:
  Options o_;
  bool kept_ = false;
  shape_of<Dim> in_shape_{};
  Tensor<T, D, Dim> y_, dx_;
};

}  // namespace semiseg::nn
