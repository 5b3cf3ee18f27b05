// ConvLarge, the 13-layer CNN of the Π-model / Temporal Ensembling (Laine & Aila 2017) and Mean
// Teacher (Tarvainen & Valpola 2017) CIFAR/SVHN tables. Contract: N×in_channels×spatial →
// flat N×classes logits (no softmax). Layers, with w = width (128 in the papers):
//   Gaussian noise σ=0.15 (train mode only)
//   3× [conv3×3 pad 1 → BatchNorm → LeakyReLU 0.1] with w channels, max-pool 2, dropout 0.5
//   3× [same] with 2w channels, max-pool 2, dropout 0.5
//   conv3×3 valid 4w, conv1×1 2w, conv1×1 w (each → BatchNorm → LeakyReLU 0.1)
//   global average pool, dense w → classes (with bias)
// As in the papers' networks, every conv is followed by BatchNorm, so the convs carry no bias.
// Mean Teacher's PyTorch code also wraps conv and dense layers in weight normalisation; that is
// not followed here (it reparametrises the same function). A 32×32 input (CIFAR) reaches the
// valid conv at 8×8 and the pool at 6×6; 28×28 (Fashion-MNIST) at 7×7 and 5×5. Every spatial
// extent must be at least 12 (shape_error otherwise). Works in 2D and, for volumes, in 3D.
// Dropout and noise are Philox draws keyed by the constructor's seed and context.step.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "semiseg/backbone/blocks.hpp"
#include "semiseg/nn/dropout.hpp"
#include "semiseg/nn/linear.hpp"
#include "semiseg/nn/pooling.hpp"

namespace semiseg::backbone {

struct ConvLargeOptions {
  index_t in_channels = 3;
  index_t classes = 10;
  index_t width = 128;  // channels of the first stage; the others are 2w, 4w, 2w, w
  double noise = 0.15;  // σ of the Gaussian input noise, train mode only; 0 turns it off
  double dropout = 0.5;
  double negative_slope = 0.1;
  double momentum = 0.1;  // BatchNorm running-statistics momentum (PyTorch's default)
};

template <class T, Device D, SpatialDimension Dim>
class ConvLarge {
 public:
  static constexpr const char* name = "ConvLarge";
  using value_type = T;
  using device = D;
  using input_dim = Dim;
  using output_dim = flat;
  using Options = ConvLargeOptions;
  static constexpr int S = Dim::spatial;
  static constexpr index_t min_size = 12;  // two pools, then a valid 3×3 conv

  explicit ConvLarge(const Options& options, std::uint64_t seed = 0, const std::string& name = "conv_large")
      : o_(validated(options)),
        params_(make_parameters<T, D>()),
        noise_(nn::GaussianNoiseOptions{.sigma = o_.noise, .seed = seed, .stream = 1}),
        blocks_(make_blocks(*params_, o_, name)),
        drop1_(nn::DropoutOptions{.p = o_.dropout, .seed = seed, .stream = 2}),
        drop2_(nn::DropoutOptions{.p = o_.dropout, .seed = seed, .stream = 3}),
        fc_(*params_, nn::LinearOptions{.in_features = o_.width, .out_features = o_.classes}, name + ".fc") {
    params_->finalize(seed);
  }

  const Options& options() const { return o_; }
  Parameters<T, D>& parameters() { return *params_; }
  const Parameters<T, D>& parameters() const { return *params_; }
  Tensor<T, D, flat>& buffers() { return params_->buffers(); }

  // Keeps views of x for backward: keep x alive until then.
  const Tensor<T, D, flat>& forward(TensorView<const T, D, Dim> x, Context c) {
    nn::expect_channels("conv_large", x.shape, o_.in_channels);
    for (int d = 0; d < S; ++d)
      if (x.shape[d + 2] < min_size)
        throw shape_error("semiseg: conv_large: input " + x.shape.str() + " has spatial size " +
                          std::to_string(x.shape[d + 2]) + " on axis " + std::to_string(d + 2) +
                          ", expected at least " + std::to_string(min_size));
    TensorView<const T, D, Dim> h = noise_.forward(x, c);
    for (std::size_t i = 0; i < 3; ++i) h = blocks_[i].forward(h, c);
    h = drop1_.forward(pool1_.forward(h, c), c);
    for (std::size_t i = 3; i < 6; ++i) h = blocks_[i].forward(h, c);
    h = drop2_.forward(pool2_.forward(h, c), c);
    for (std::size_t i = 6; i < 9; ++i) h = blocks_[i].forward(h, c);
    return fc_.forward(gap_.forward(h, c), c);
  }

  TensorView<const T, D, Dim> backward(TensorView<const T, D, flat> dlogits) {
    TensorView<const T, D, Dim> g = gap_.backward(fc_.backward(dlogits));
    for (std::size_t i = 9; i-- > 6;) g = blocks_[i].backward(g);
    g = pool2_.backward(drop2_.backward(g));
    for (std::size_t i = 6; i-- > 3;) g = blocks_[i].backward(g);
    g = pool1_.backward(drop1_.backward(g));
    for (std::size_t i = 3; i-- > 0;) g = blocks_[i].backward(g);
    return noise_.backward(g);
  }

 private:
  using Block = ConvNormAct<T, D, Dim, fn::leaky_relu>;

  static Options validated(const Options& o) {
    const auto fail = [](const std::string& what) { throw value_error("semiseg: conv_large: " + what); };
    if (o.in_channels < 1 || o.classes < 1 || o.width < 1) fail("in_channels, classes and width must be positive");
    if (!(o.noise >= 0)) fail("noise must be non-negative");
    if (!(o.dropout >= 0 && o.dropout < 1)) fail("dropout must be in [0, 1), got " + std::to_string(o.dropout));
    if (!(o.negative_slope >= 0)) fail("negative_slope must be non-negative");
    return o;
  }

  static std::array<Block, 9> make_blocks(Parameters<T, D>& p, const Options& o, const std::string& name) {
    const index_t w = o.width;
    auto b = [&](index_t in, index_t out, index_t kernel, index_t padding, const char* id) {
      return Block(p,
                   typename Block::Options{.in_channels = in,
                                           .out_channels = out,
                                           .kernel = kernel,
                                           .padding = padding,
                                           .norm = Norm::batch,
                                           .momentum = o.momentum,
                                           .activation = fn::leaky_relu{o.negative_slope}},
                   name + ".conv" + id);
    };
    // Guaranteed copy elision builds the array in place, in registration order.
    return {b(o.in_channels, w, 3, 1, "1a"), b(w, w, 3, 1, "1b"),         b(w, w, 3, 1, "1c"),
            b(w, 2 * w, 3, 1, "2a"),         b(2 * w, 2 * w, 3, 1, "2b"), b(2 * w, 2 * w, 3, 1, "2c"),
            b(2 * w, 4 * w, 3, 0, "3a"),     b(4 * w, 2 * w, 1, 0, "3b"), b(2 * w, w, 1, 0, "3c")};
  }

  Options o_;
  std::unique_ptr<Parameters<T, D>> params_;
  nn::GaussianNoise<T, D, Dim> noise_;
  std::array<Block, 9> blocks_;
  nn::MaxPool<T, D, Dim> pool1_, pool2_;
  nn::Dropout<T, D, Dim> drop1_, drop2_;
  nn::GlobalAvgPool<T, D, Dim> gap_;
  nn::Linear<T, D> fc_;
};

}  // namespace semiseg::backbone
