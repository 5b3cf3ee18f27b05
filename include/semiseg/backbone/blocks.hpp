// Building blocks shared by the backbones: conv–norm–activation, the U-Net up-sampling step, and
// the owned parameter store. Contract: each block has the layer interface of nn/ (forward returns
// an output it owns, backward returns dx and adds parameter gradients) and chooses its norm or
// up-sampling at run time, so a network's type stays flat whatever its options.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "semiseg/nn/activation.hpp"
#include "semiseg/nn/batch_norm.hpp"
#include "semiseg/nn/conv.hpp"
#include "semiseg/nn/conv_transpose.hpp"
#include "semiseg/nn/group_norm.hpp"
#include "semiseg/nn/resize.hpp"

namespace semiseg::backbone {

enum class Norm { batch, group };
enum class Upsample {
  transposed,     // ConvTranspose kernel 2, stride 2, halving the channels
  interpolation,  // (bi/tri)linear ×2, align_corners false, then a conv halving the channels
};

// A backbone owns its Parameters on the heap: the layers' ParamRefs point at it, so the backbone
// itself can be moved (a trainer holding two CPS models or an EMA teacher in a container).
template <class T, Device D>
std::unique_ptr<Parameters<T, D>> make_parameters() {
  return std::make_unique<Parameters<T, D>>();
}

// conv (no bias: the norm's shift replaces it) → BatchNorm or GroupNorm → activation F.
template <class T, Device D, SpatialDimension Dim, class F>
class ConvNormAct {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;
  static constexpr int S = Dim::spatial;

  struct Options {
    index_t in_channels = 1, out_channels = 1;
    index_t kernel = 3, padding = 1;
    Norm norm = Norm::batch;
    index_t groups = 1;     // group norm only
    double momentum = 0.1;  // batch norm only
    F activation{};
  };

  ConvNormAct(Parameters<T, D>& p, const Options& o, const std::string& name)
      : conv_(p, conv_options(o), name + ".conv"), act_(o.activation) {
    if (o.norm == Norm::batch)
      bn_.emplace(p, nn::BatchNormOptions{.channels = o.out_channels, .momentum = o.momentum}, name + ".norm");
    else
      gn_.emplace(p, nn::GroupNormOptions{.channels = o.out_channels, .groups = o.groups}, name + ".norm");
  }

  // The block reads the network's input (see nn::Conv::set_input_is_data).
  void set_input_is_data(bool v) { conv_.set_input_is_data(v); }

  const Tensor<T, D, Dim>& forward(TensorView<const T, D, Dim> x, Context c) {
    const Tensor<T, D, Dim>& h = conv_.forward(x, c);
    return act_.forward(bn_ ? bn_->forward(h, c) : gn_->forward(h, c), c);
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    const Tensor<T, D, Dim>& g = act_.backward(dy);
    return conv_.backward(bn_ ? bn_->backward(g) : gn_->backward(g));
  }

 private:
  static nn::ConvOptions<Dim> conv_options(const Options& o) {
    nn::ConvOptions<Dim> c;
    c.in_channels = o.in_channels;
    c.out_channels = o.out_channels;
    c.kernel = nn::fill<S>(o.kernel);
    c.padding = nn::fill<S>(o.padding);
    c.bias = false;
    return c;
  }

  nn::Conv<T, D, Dim> conv_;
  std::optional<nn::BatchNorm<T, D, Dim>> bn_;
  std::optional<nn::GroupNorm<T, D, Dim>> gn_;
  nn::Activation<T, D, Dim, F> act_;
};

// Doubles the spatial size and maps `in` to `out` channels: a transposed conv (kernel 2, stride 2),
// or a linear resize followed by a conv of kernel 1 or 3 (padding keeps the size), both with bias.
template <class T, Device D, SpatialDimension Dim>
class UpBlock {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;
  static constexpr int S = Dim::spatial;

  UpBlock(Parameters<T, D>& p, index_t in, index_t out, Upsample mode, index_t kernel, const std::string& name) {
    if (mode == Upsample::transposed) {
      nn::ConvTransposeOptions<Dim> o;
      o.in_channels = in;
      o.out_channels = out;
      transposed_.emplace(p, o, name + ".conv");
    } else {
      nn::ResizeOptions<Dim> r;
      r.mode = ResizeMode::linear;
      r.align_corners = false;
      r.scale = 2.0;
      resize_.emplace(r);
      nn::ConvOptions<Dim> o;
      o.in_channels = in;
      o.out_channels = out;
      o.kernel = nn::fill<S>(kernel);
      o.padding = nn::fill<S>(kernel / 2);
      conv_.emplace(p, o, name + ".conv");
    }
  }

  const Tensor<T, D, Dim>& forward(TensorView<const T, D, Dim> x, Context c) {
    if (transposed_) return transposed_->forward(x, c);
    return conv_->forward(resize_->forward(x, c), c);
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    if (transposed_) return transposed_->backward(dy);
    return resize_->backward(conv_->backward(dy));
  }

 private:
  std::optional<nn::ConvTranspose<T, D, Dim>> transposed_;
  std::optional<nn::Resize<T, D, Dim>> resize_;
  std::optional<nn::Conv<T, D, Dim>> conv_;
};

}  // namespace semiseg::backbone
