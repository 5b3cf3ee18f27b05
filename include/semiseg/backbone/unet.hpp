// U-Net (Ronneberger et al. 2015) in 2D and 3D. Contract: N×in_channels×spatial → N×classes×
// spatial, every spatial extent divisible by 2^depth (else shape_error at forward). Level i has
// base_channels·2^i channels: two (conv3×3 → norm → ReLU) blocks, then a 2× max-pool down; level
// `depth` is the bottleneck. Each up step halves the channels (transposed conv k2 s2, or
// (bi/tri)linear ×2 with align_corners=false followed by a conv of kernel up_kernel, 1 or 3),
// is concatenated after the skip ([skip, up], as PyTorch U-Nets do) and goes through two more
// blocks; a 1×1 conv with bias makes the logits. The 3×3 convs have no bias (the norm shifts).
// The network owns its Parameters; registration order, and so the flat layout, is: encoder levels
// 0..depth (conv1, norm1, conv2, norm2), then per decoder level from the deepest (up, conv1,
// norm1, conv2, norm2), then the head — the order of the same modules built in PyTorch.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "semiseg/backbone/blocks.hpp"
#include "semiseg/nn/dropout.hpp"
#include "semiseg/nn/merge.hpp"
#include "semiseg/nn/pooling.hpp"

namespace semiseg::backbone {

struct UNetOptions {
  index_t in_channels = 1;
  index_t classes = 2;
  index_t base_channels = 16;
  index_t depth = 3;  // number of down-samplings
  Norm norm = Norm::batch;
  index_t groups = 8;  // GroupNorm groups; must divide base_channels
  Upsample up = Upsample::transposed;
  index_t up_kernel = 1;  // kernel of the conv after interpolation: 1 or 3
  double dropout = 0.0;   // element-wise dropout on the bottleneck output, train mode only
  double momentum = 0.1;  // BatchNorm running-statistics momentum (PyTorch's default)
};

template <class T, Device D, SpatialDimension Dim>
class UNet {
 public:
  static constexpr const char* name = "UNet";
  using value_type = T;
  using device = D;
  using input_dim = Dim;
  using output_dim = Dim;
  using Options = UNetOptions;
  static constexpr int S = Dim::spatial;

  // `seed` draws the initial weights (PyTorch's default uniform fan-in bounds) and keys dropout.
  explicit UNet(const Options& options, std::uint64_t seed = 0, const std::string& name = "unet")
      : o_(options), params_(make_parameters<T, D>()) {
    validate();
    Parameters<T, D>& p = *params_;
    auto block = [&](index_t in, index_t out) {
      return typename Block::Options{
          .in_channels = in, .out_channels = out, .norm = o_.norm, .groups = o_.groups, .momentum = o_.momentum};
    };
    const index_t levels = o_.depth + 1;
    encoder_.reserve(static_cast<std::size_t>(2 * levels));
    decoder_.reserve(static_cast<std::size_t>(2 * o_.depth));
    up_.reserve(static_cast<std::size_t>(o_.depth));
    pool_.resize(static_cast<std::size_t>(o_.depth));
    concat_.resize(static_cast<std::size_t>(o_.depth));
    skip_.resize(static_cast<std::size_t>(o_.depth));
    for (index_t i = 0; i < levels; ++i) {
      const std::string level = name + ".encoder" + std::to_string(i);
      encoder_.emplace_back(p, block(i == 0 ? o_.in_channels : channels(i - 1), channels(i)), level + ".block1");
      encoder_.emplace_back(p, block(channels(i), channels(i)), level + ".block2");
    }
    // Built from the deepest level up, so the flat layout follows the data flow.
    for (index_t i = o_.depth - 1; i >= 0; --i) {
      const std::string level = name + ".decoder" + std::to_string(i);
      up_.emplace_back(p, channels(i + 1), channels(i), o_.up, o_.up_kernel, level + ".up");
      decoder_.emplace_back(p, block(2 * channels(i), channels(i)), level + ".block1");
      decoder_.emplace_back(p, block(channels(i), channels(i)), level + ".block2");
    }
    // A training step on data needs no gradient with respect to the image (Context::input_gradient).
    encoder_.front().set_input_is_data(true);
    nn::ConvOptions<Dim> head;
    head.in_channels = channels(0);
    head.out_channels = o_.classes;
    head.kernel = nn::fill<S>(1);
    head_.emplace(p, head, name + ".head");
    if (o_.dropout > 0) dropout_.emplace(nn::DropoutOptions{.p = o_.dropout, .seed = seed, .stream = 1});
    p.finalize(seed);
  }

  const Options& options() const { return o_; }
  Parameters<T, D>& parameters() { return *params_; }
  const Parameters<T, D>& parameters() const { return *params_; }
  Tensor<T, D, flat>& buffers() { return params_->buffers(); }
  index_t channels(index_t level) const { return o_.base_channels << level; }

  // Keeps views of x (and of the layers' own outputs) for backward: keep x alive until then.
  const Tensor<T, D, Dim>& forward(TensorView<const T, D, Dim> x, Context c) {
    check_input(x.shape);
    TensorView<const T, D, Dim> h = x;
    for (index_t i = 0; i <= o_.depth; ++i) {
      h = level_encoder(i, 0).forward(h, c);
      h = level_encoder(i, 1).forward(h, c);
      if (i < o_.depth) {
        skip_[std::size_t(i)] = h;
        h = pool_[std::size_t(i)].forward(h, c);
      }
    }
    if (dropout_) h = dropout_->forward(h, c);
    for (index_t i = o_.depth - 1; i >= 0; --i) {
      h = up(i).forward(h, c);
      h = concat_[std::size_t(i)].forward(skip_[std::size_t(i)], h, c);
      h = level_decoder(i, 0).forward(h, c);
      h = level_decoder(i, 1).forward(h, c);
    }
    return head_->forward(h, c);
  }

  // Returns dx, empty after a forward whose context had input_gradient false.
  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dlogits) {
    TensorView<const T, D, Dim> g = head_->backward(dlogits);
    for (index_t i = 0; i < o_.depth; ++i) {
      g = level_decoder(i, 1).backward(g);
      g = level_decoder(i, 0).backward(g);
      concat_[std::size_t(i)].backward(g);
      g = up(i).backward(concat_[std::size_t(i)].second_grad());
    }
    if (dropout_) g = dropout_->backward(g);
    for (index_t i = o_.depth; i >= 1; --i) {
      g = level_encoder(i, 1).backward(g);
      g = level_encoder(i, 0).backward(g);
      // Level i − 1's output fed both the pool and the skip: add the two gradients.
      const TensorView<const T, D, Dim> pooled = pool_[std::size_t(i - 1)].backward(g);
      const Tensor<T, D, Dim>& skip = concat_[std::size_t(i - 1)].first_grad();
      sum_.resize(skip.shape());
      launch<D>(sum_.size(), Sum2<T>{pooled.data, skip.data(), sum_.data()});
      g = sum_;
    }
    return level_encoder(0, 0).backward(level_encoder(0, 1).backward(g));
  }

 private:
  using Block = ConvNormAct<T, D, Dim, fn::relu>;

  void validate() const {
    const auto fail = [](const std::string& what) { throw value_error("semiseg: unet: " + what); };
    if (o_.in_channels < 1) fail("in_channels must be positive, got " + std::to_string(o_.in_channels));
    if (o_.classes < 1) fail("classes must be positive, got " + std::to_string(o_.classes));
    if (o_.base_channels < 1) fail("base_channels must be positive, got " + std::to_string(o_.base_channels));
    if (o_.depth < 1 || o_.depth > 8) fail("depth must be between 1 and 8, got " + std::to_string(o_.depth));
    if (o_.norm == Norm::group && (o_.groups < 1 || o_.base_channels % o_.groups != 0))
      fail("group norm groups (" + std::to_string(o_.groups) + ") must divide base_channels (" +
           std::to_string(o_.base_channels) + ")");
    if (o_.up == Upsample::interpolation && o_.up_kernel != 1 && o_.up_kernel != 3)
      fail("up_kernel must be 1 or 3, got " + std::to_string(o_.up_kernel));
    if (!(o_.dropout >= 0 && o_.dropout < 1)) fail("dropout must be in [0, 1), got " + std::to_string(o_.dropout));
  }

  void check_input(const shape_of<Dim>& shape) const {
    nn::expect_channels("unet", shape, o_.in_channels);
    const index_t factor = index_t(1) << o_.depth;
    for (int d = 0; d < S; ++d)
      if (shape[d + 2] % factor != 0 || shape[d + 2] == 0)
        throw shape_error("semiseg: unet: input " + shape.str() + " has spatial size " + std::to_string(shape[d + 2]) +
                          " on axis " + std::to_string(d + 2) +
                          ", which is not divisible by 2^depth = " + std::to_string(factor));
  }

  Block& level_encoder(index_t level, int k) { return encoder_[std::size_t(2 * level + k)]; }
  // decoder_ and up_ are stored deepest first.
  Block& level_decoder(index_t level, int k) { return decoder_[std::size_t(2 * (o_.depth - 1 - level) + k)]; }
  UpBlock<T, D, Dim>& up(index_t level) { return up_[std::size_t(o_.depth - 1 - level)]; }

  Options o_;
  std::unique_ptr<Parameters<T, D>> params_;
  std::vector<Block> encoder_, decoder_;
  std::vector<UpBlock<T, D, Dim>> up_;
  std::vector<nn::MaxPool<T, D, Dim>> pool_;
  std::vector<nn::Concat<T, D, Dim>> concat_;
  std::optional<nn::Conv<T, D, Dim>> head_;
  std::optional<nn::Dropout<T, D, Dim>> dropout_;
  std::vector<TensorView<const T, D, Dim>> skip_;  // each level's output, read by its concat
  Tensor<T, D, Dim> sum_;
};

}  // namespace semiseg::backbone
