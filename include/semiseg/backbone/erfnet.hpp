// ERFNet (Romera et al. 2017, "ERFNet: Efficient Residual Factorized ConvNet for Real-Time
// Semantic Segmentation"), as EmbedSeg (Lalit et al. 2021) uses it, in 2D and 3D. Contract:
// N×in_channels×spatial → N×classes×spatial, every spatial extent divisible by 8 (else
// shape_error at forward); train-mode BatchNorm also needs N·(spatial volume / 8^dims) ≥ 2.
// With widths w0/w1/w2 (16/64/128 in the paper):
//   encoder: Down(in, w0), Down(w0, w1), stage2_blocks × NB(w1, stage2_dropout, 1), Down(w1, w2),
//            stage3_repeats × [NB(w2, stage3_dropout, d) for d in dilations]
//   decoder: Up(w2, w1), decoder_blocks × NB(w1, 0, 1), Up(w1, w0), decoder_blocks × NB(w0, 0, 1),
//            ConvTranspose(w0, classes, kernel 2, stride 2, with bias)
// Down(i, o): [conv 3×3 stride 2 pad 1 with bias making o − i channels, max-pool 2] concatenated
// in that order → BatchNorm → ReLU, so in_channels < w0 < w1 < w2. NB(c, p, d), the
// non-bottleneck-1D block: two halves of factorised convs with bias, kernel 3 along one axis and 1
// along the others (3×1 then 1×3 in 2D; 3×1×1, 1×3×1, 1×1×3 in 3D), ReLU between them and
// BatchNorm after the last of each half; the first half is followed by ReLU, the second is
// dilated by d (dilation and padding d along each conv's axis) and followed by channel-wise
// dropout (Dropout2d/3d; only when p > 0, train mode only), then ReLU(out + input).
// Up(i, o): ConvTranspose 3×3 stride 2 pad 1 output_padding 1 with bias → BatchNorm → ReLU.
// Every BatchNorm uses `eps` (1e-3, ERFNet's). Dropout masks are Philox draws keyed by the seed,
// context.step and a stream per block.
// ERFNetEncoder and ERFNetDecoder are separate layers (forward/backward, registering into a given
// Parameters) so that EmbedSeg's BranchedERFNet can share one encoder between several decoders;
// ERFNet is one encoder and one decoder and owns its Parameters. Registration order, and so the
// flat layout, is the PyTorch module order of the reference network (names follow ERFNet's code):
// encoder.initial_block (conv, bn), encoder.layers.k in data-flow order (Down: conv, bn; NB:
// the first half's convs, bn1, the second half's convs, bn2), then decoder.layers.k (Up: conv, bn;
// NB as above) and decoder.output_conv. The reference encoder also registers a 1×1 output_conv
// (w2 → classes, with bias) that only an encoder trained alone uses; it is left out here.
// Source: the paper and EmbedSeg's description; tools/parity/erfnet.py builds the same network
// in PyTorch for the tests.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "semiseg/backbone/blocks.hpp"
#include "semiseg/nn/activation.hpp"
#include "semiseg/nn/batch_norm.hpp"
#include "semiseg/nn/conv.hpp"
#include "semiseg/nn/conv_transpose.hpp"
#include "semiseg/nn/dropout.hpp"
#include "semiseg/nn/merge.hpp"
#include "semiseg/nn/pooling.hpp"

namespace semiseg::backbone {

struct ERFNetOptions {
  index_t in_channels = 1;
  index_t classes = 2;
  std::array<index_t, 3> widths{16, 64, 128};  // channels after each downsampler
  index_t stage2_blocks = 5;                    // non-bottleneck blocks at widths[1]
  double stage2_dropout = 0.03;
  index_t stage3_repeats = 2;  // repeats of the dilation cycle at widths[2]
  std::vector<index_t> dilations{2, 4, 8, 16};
  double stage3_dropout = 0.3;
  index_t decoder_blocks = 2;  // non-bottleneck blocks after each upsampler (no dropout)
  double momentum = 0.1;       // BatchNorm running-statistics momentum (PyTorch's default)
  double eps = 1e-3;           // BatchNorm eps (ERFNet's)
};

namespace erfnet_detail {

inline void validate(const ERFNetOptions& o) {
  const auto fail = [](const std::string& what) { throw value_error(std::string("semiseg: erfnet: ") + what); };
  const auto str = [](auto v) { return std::to_string(v); };
  if (o.in_channels < 1) fail("in_channels must be positive, got " + str(o.in_channels));
  if (o.classes < 1) fail("classes must be positive, got " + str(o.classes));
  if (!(o.in_channels < o.widths[0] && o.widths[0] < o.widths[1] && o.widths[1] < o.widths[2]))
    fail("each downsampler's conv makes out - in channels, so in_channels < widths[0] < widths[1] < widths[2] "
         "is needed, got " +
         str(o.in_channels) + ", " + str(o.widths[0]) + ", " + str(o.widths[1]) + ", " + str(o.widths[2]));
  if (o.stage2_blocks < 0) fail("stage2_blocks must be non-negative, got " + str(o.stage2_blocks));
  if (o.stage3_repeats < 0) fail("stage3_repeats must be non-negative, got " + str(o.stage3_repeats));
  if (o.decoder_blocks < 0) fail("decoder_blocks must be non-negative, got " + str(o.decoder_blocks));
  if (o.dilations.empty()) fail("dilations must not be empty");
  for (index_t d : o.dilations)
    if (d < 1) fail("every dilation must be positive, got " + str(d));
  if (!(o.stage2_dropout >= 0 && o.stage2_dropout < 1))
    fail("stage2_dropout must be in [0, 1), got " + str(o.stage2_dropout));
  if (!(o.stage3_dropout >= 0 && o.stage3_dropout < 1))
    fail("stage3_dropout must be in [0, 1), got " + str(o.stage3_dropout));
  if (!(o.momentum >= 0 && o.momentum <= 1)) fail("momentum must be in [0, 1], got " + str(o.momentum));
  if (!(o.eps > 0)) fail("eps must be positive, got " + str(o.eps));
}

inline nn::BatchNormOptions batch_norm(index_t channels, const ERFNetOptions& o) {
  nn::BatchNormOptions b;
  b.channels = channels;
  b.eps = o.eps;
  b.momentum = o.momentum;
  return b;
}

// dx of a block whose input fed two branches: the sum of the two branch gradients.
template <class T, Device D, Dimension Dim>
const Tensor<T, D, Dim>& add_into(Tensor<T, D, Dim>& sum, TensorView<const T, D, Dim> a,
                                  TensorView<const T, D, Dim> b) {
  sum.resize(a.shape);
  launch<D>(sum.size(), Sum2<T>{a.data, b.data, sum.data()});
  return sum;
}

}  // namespace erfnet_detail

// Down(in, out): [conv 3×3 stride 2 pad 1 (out − in channels), max-pool 2] → BatchNorm → ReLU.
template <class T, Device D, SpatialDimension Dim>
class ERFNetDownsampler {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;
  static constexpr int S = Dim::spatial;

  ERFNetDownsampler(Parameters<T, D>& p, index_t in, index_t out, const ERFNetOptions& o, const std::string& name)
      : conv_(p, conv_options(in, out), name + ".conv"), bn_(p, erfnet_detail::batch_norm(out, o), name + ".bn") {}

  const Tensor<T, D, Dim>& forward(TensorView<const T, D, Dim> x, Context c) {
    const Tensor<T, D, Dim>& conv = conv_.forward(x, c);
    const Tensor<T, D, Dim>& pooled = pool_.forward(x, c);
    return relu_.forward(bn_.forward(concat_.forward(conv, pooled, c), c), c);
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    concat_.backward(bn_.backward(relu_.backward(dy)));
    const Tensor<T, D, Dim>& from_conv = conv_.backward(concat_.first_grad());
    const Tensor<T, D, Dim>& from_pool = pool_.backward(concat_.second_grad());
    return erfnet_detail::add_into(dx_, from_conv.view(), from_pool.view());
  }

 private:
  static nn::ConvOptions<Dim> conv_options(index_t in, index_t out) {
    nn::ConvOptions<Dim> c;
    c.in_channels = in;
    c.out_channels = out - in;
    c.kernel = nn::fill<S>(3);
    c.stride = nn::fill<S>(2);
    c.padding = nn::fill<S>(1);
    return c;
  }

  nn::Conv<T, D, Dim> conv_;
  nn::MaxPool<T, D, Dim> pool_;
  nn::Concat<T, D, Dim> concat_;
  nn::BatchNorm<T, D, Dim> bn_;
  nn::ReLU<T, D, Dim> relu_;
  Tensor<T, D, Dim> dx_;
};

// Up(in, out): ConvTranspose 3×3 stride 2 pad 1 output_padding 1 → BatchNorm → ReLU; doubles the
// spatial size.
template <class T, Device D, SpatialDimension Dim>
class ERFNetUpsampler {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;
  static constexpr int S = Dim::spatial;

  ERFNetUpsampler(Parameters<T, D>& p, index_t in, index_t out, const ERFNetOptions& o, const std::string& name)
      : conv_(p, conv_options(in, out), name + ".conv"), bn_(p, erfnet_detail::batch_norm(out, o), name + ".bn") {}

  const Tensor<T, D, Dim>& forward(TensorView<const T, D, Dim> x, Context c) {
    return relu_.forward(bn_.forward(conv_.forward(x, c), c), c);
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    return conv_.backward(bn_.backward(relu_.backward(dy)));
  }

 private:
  static nn::ConvTransposeOptions<Dim> conv_options(index_t in, index_t out) {
    nn::ConvTransposeOptions<Dim> c;
    c.in_channels = in;
    c.out_channels = out;
    c.kernel = nn::fill<S>(3);
    c.stride = nn::fill<S>(2);
    c.padding = nn::fill<S>(1);
    c.output_padding = nn::fill<S>(1);
    return c;
  }

  nn::ConvTranspose<T, D, Dim> conv_;
  nn::BatchNorm<T, D, Dim> bn_;
  nn::ReLU<T, D, Dim> relu_;
};

// The non-bottleneck-1D residual block NB(channels, dropout, dilation): see the file comment.
template <class T, Device D, SpatialDimension Dim>
class ERFNetNonBottleneck {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;
  static constexpr int S = Dim::spatial;

  // `stream` keys this block's dropout masks apart from the other blocks'.
  ERFNetNonBottleneck(Parameters<T, D>& p, index_t channels, double dropout, index_t dilation, const ERFNetOptions& o,
                      std::uint64_t seed, std::uint32_t stream, const std::string& name) {
    convs_.reserve(2 * S);
    for (int half = 0; half < 2; ++half) {
      const index_t d = half == 0 ? 1 : dilation;
      for (int axis = 0; axis < S; ++axis)
        convs_.emplace_back(p, conv_options(channels, axis, d), name + "." + conv_name(axis, half));
      bn_[half].emplace(p, erfnet_detail::batch_norm(channels, o), name + ".bn" + std::to_string(half + 1));
    }
    relus_.resize(2 * S);
    if (dropout > 0) {
      nn::DropoutOptions d;
      d.p = dropout;
      d.channelwise = true;
      d.seed = seed;
      d.stream = stream;
      dropout_.emplace(d);
    }
  }

  const Tensor<T, D, Dim>& forward(TensorView<const T, D, Dim> x, Context c) {
    TensorView<const T, D, Dim> h = x;
    for (int half = 0; half < 2; ++half) {
      for (int axis = 0; axis < S; ++axis) {
        h = conv(half, axis).forward(h, c);
        if (axis + 1 < S) h = relu(half, axis).forward(h, c);
      }
      h = bn_[half]->forward(h, c);
      if (half == 0) h = relu(0, S - 1).forward(h, c);
    }
    if (dropout_) h = dropout_->forward(h, c);
    return relu(1, S - 1).forward(add_.forward(h, x, c), c);
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    // The sum's gradient goes both into the residual branch and straight to the input.
    const TensorView<const T, D, Dim> skip = add_.backward(relu(1, S - 1).backward(dy));
    TensorView<const T, D, Dim> g = skip;
    if (dropout_) g = dropout_->backward(g);
    for (int half = 1; half >= 0; --half) {
      if (half == 0) g = relu(0, S - 1).backward(g);
      g = bn_[half]->backward(g);
      for (int axis = S - 1; axis >= 0; --axis) {
        if (axis + 1 < S) g = relu(half, axis).backward(g);
        g = conv(half, axis).backward(g);
      }
    }
    return erfnet_detail::add_into(dx_, g, skip);
  }

 private:
  // Kernel 3 along `axis` (dilation and padding d there), 1 along the others.
  static nn::ConvOptions<Dim> conv_options(index_t channels, int axis, index_t d) {
    nn::ConvOptions<Dim> c;
    c.in_channels = channels;
    c.out_channels = channels;
    c.kernel = nn::fill<S>(1);
    c.kernel[axis] = 3;
    c.padding = nn::fill<S>(0);
    c.padding[axis] = d;
    c.dilation = nn::fill<S>(1);
    c.dilation[axis] = d;
    return c;
  }
  // PyTorch's names: conv3x1_1, conv1x3_2 in 2D; conv3x1x1_1, conv1x1x3_2 in 3D.
  static std::string conv_name(int axis, int half) {
    std::string s = "conv";
    for (int a = 0; a < S; ++a) s += std::string(a == 0 ? "" : "x") + (a == axis ? "3" : "1");
    return s + "_" + std::to_string(half + 1);
  }

  nn::Conv<T, D, Dim>& conv(int half, int axis) { return convs_[std::size_t(half * S + axis)]; }
  // The ReLU after conv `axis` of a half; (0, S − 1) follows bn1, (1, S − 1) is the final one.
  nn::ReLU<T, D, Dim>& relu(int half, int axis) { return relus_[std::size_t(half * S + axis)]; }

  std::vector<nn::Conv<T, D, Dim>> convs_;
  std::array<std::optional<nn::BatchNorm<T, D, Dim>>, 2> bn_;
  std::vector<nn::ReLU<T, D, Dim>> relus_;
  std::optional<nn::Dropout<T, D, Dim>> dropout_;
  nn::Add<T, D, Dim> add_;
  Tensor<T, D, Dim> dx_;
};

// The encoder: N×in_channels×spatial → N×widths[2]×spatial/8. Registers under `name`
// (initial_block, layers.k) into `p`; the caller finalizes `p`. `seed` keys the dropout masks.
template <class T, Device D, SpatialDimension Dim>
class ERFNetEncoder {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;
  static constexpr int S = Dim::spatial;
  static constexpr index_t factor = 8;  // the total down-sampling

  ERFNetEncoder(Parameters<T, D>& p, const ERFNetOptions& options, std::uint64_t seed,
                const std::string& name = "encoder")
      : o_((erfnet_detail::validate(options), options)) {
    const auto& w = o_.widths;
    downs_.reserve(3);
    blocks_.reserve(std::size_t(o_.stage2_blocks + o_.stage3_repeats * index_t(o_.dilations.size())));
    downs_.emplace_back(p, o_.in_channels, w[0], o_, name + ".initial_block");
    index_t layer = 0;
    auto next = [&] { return name + ".layers." + std::to_string(layer++); };
    std::uint32_t stream = 1;
    downs_.emplace_back(p, w[0], w[1], o_, next());
    for (index_t k = 0; k < o_.stage2_blocks; ++k)
      blocks_.emplace_back(p, w[1], o_.stage2_dropout, 1, o_, seed, stream++, next());
    downs_.emplace_back(p, w[1], w[2], o_, next());
    for (index_t r = 0; r < o_.stage3_repeats; ++r)
      for (index_t d : o_.dilations) blocks_.emplace_back(p, w[2], o_.stage3_dropout, d, o_, seed, stream++, next());
  }

  const ERFNetOptions& options() const { return o_; }
  index_t out_channels() const { return o_.widths[2]; }

  // Keeps views of x for backward: keep x alive until then.
  const Tensor<T, D, Dim>& forward(TensorView<const T, D, Dim> x, Context c) {
    check_input(x.shape);
    TensorView<const T, D, Dim> h = downs_[1].forward(downs_[0].forward(x, c), c);
    for (index_t k = 0; k < o_.stage2_blocks; ++k) h = blocks_[std::size_t(k)].forward(h, c);
    const Tensor<T, D, Dim>* out = &downs_[2].forward(h, c);
    for (std::size_t k = std::size_t(o_.stage2_blocks); k < blocks_.size(); ++k) out = &blocks_[k].forward(*out, c);
    return *out;
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    TensorView<const T, D, Dim> g = dy;
    for (std::size_t k = blocks_.size(); k > std::size_t(o_.stage2_blocks); --k) g = blocks_[k - 1].backward(g);
    g = downs_[2].backward(g);
    for (index_t k = o_.stage2_blocks; k > 0; --k) g = blocks_[std::size_t(k - 1)].backward(g);
    return downs_[0].backward(downs_[1].backward(g));
  }

 private:
  void check_input(const shape_of<Dim>& shape) const {
    nn::expect_channels("erfnet", shape, o_.in_channels);
    for (int d = 0; d < S; ++d)
      if (shape[d + 2] % factor != 0 || shape[d + 2] == 0)
        throw shape_error(std::string("semiseg: erfnet: input ") + shape.str() + " has spatial size " +
                          std::to_string(shape[d + 2]) + " on axis " + std::to_string(d + 2) +
                          ", which is not a positive multiple of 8 (the encoder down-samples three times)");
  }

  ERFNetOptions o_;
  std::vector<ERFNetDownsampler<T, D, Dim>> downs_;
  std::vector<ERFNetNonBottleneck<T, D, Dim>> blocks_;  // stage 2, then stage 3
};

// The decoder: N×widths[2]×spatial/8 → N×classes×spatial. Registers under `name` (layers.k,
// output_conv) into `p`. `classes` is separate from the options so that a branched network can
// give each decoder its own.
template <class T, Device D, SpatialDimension Dim>
class ERFNetDecoder {
 public:
  using value_type = T;
  using device = D;
  using dim = Dim;
  static constexpr int S = Dim::spatial;

  ERFNetDecoder(Parameters<T, D>& p, const ERFNetOptions& options, index_t classes,
                const std::string& name = "decoder")
      : o_((erfnet_detail::validate(options), options)), classes_(classes) {
    if (classes < 1)
      throw value_error(std::string("semiseg: erfnet: decoder classes must be positive, got ") +
                        std::to_string(classes));
    const auto& w = o_.widths;
    ups_.reserve(2);
    blocks_.reserve(std::size_t(2 * o_.decoder_blocks));
    index_t layer = 0;
    auto next = [&] { return name + ".layers." + std::to_string(layer++); };
    ups_.emplace_back(p, w[2], w[1], o_, next());
    for (index_t k = 0; k < o_.decoder_blocks; ++k) blocks_.emplace_back(p, w[1], 0.0, 1, o_, 0, 0, next());
    ups_.emplace_back(p, w[1], w[0], o_, next());
    for (index_t k = 0; k < o_.decoder_blocks; ++k) blocks_.emplace_back(p, w[0], 0.0, 1, o_, 0, 0, next());
    nn::ConvTransposeOptions<Dim> out;
    out.in_channels = w[0];
    out.out_channels = classes;
    out.kernel = nn::fill<S>(2);
    out.stride = nn::fill<S>(2);
    output_.emplace(p, out, name + ".output_conv");
  }

  const ERFNetOptions& options() const { return o_; }
  index_t classes() const { return classes_; }

  const Tensor<T, D, Dim>& forward(TensorView<const T, D, Dim> x, Context c) {
    nn::expect_channels("erfnet decoder", x.shape, o_.widths[2]);
    const std::size_t n = std::size_t(o_.decoder_blocks);
    TensorView<const T, D, Dim> h = ups_[0].forward(x, c);
    for (std::size_t k = 0; k < n; ++k) h = blocks_[k].forward(h, c);
    h = ups_[1].forward(h, c);
    for (std::size_t k = n; k < 2 * n; ++k) h = blocks_[k].forward(h, c);
    return output_->forward(h, c);
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    const std::size_t n = std::size_t(o_.decoder_blocks);
    TensorView<const T, D, Dim> g = output_->backward(dy);
    for (std::size_t k = 2 * n; k > n; --k) g = blocks_[k - 1].backward(g);
    g = ups_[1].backward(g);
    for (std::size_t k = n; k > 0; --k) g = blocks_[k - 1].backward(g);
    return ups_[0].backward(g);
  }

 private:
  ERFNetOptions o_;
  index_t classes_;
  std::vector<ERFNetUpsampler<T, D, Dim>> ups_;
  std::vector<ERFNetNonBottleneck<T, D, Dim>> blocks_;  // after the first upsampler, then the second
  std::optional<nn::ConvTranspose<T, D, Dim>> output_;
};

template <class T, Device D, SpatialDimension Dim>
class ERFNet {
 public:
  static constexpr const char* name = "ERFNet";
  using value_type = T;
  using device = D;
  using input_dim = Dim;
  using output_dim = Dim;
  using Options = ERFNetOptions;
  static constexpr int S = Dim::spatial;

  // `seed` draws the initial weights (PyTorch's default uniform fan-in bounds) and keys dropout.
  explicit ERFNet(const Options& options, std::uint64_t seed = 0, const std::string& name = "erfnet")
      : params_(make_parameters<T, D>()),
        encoder_(*params_, options, seed, name + ".encoder"),
        decoder_(*params_, options, options.classes, name + ".decoder") {
    params_->finalize(seed);
  }

  const Options& options() const { return encoder_.options(); }
  Parameters<T, D>& parameters() { return *params_; }
  const Parameters<T, D>& parameters() const { return *params_; }
  Tensor<T, D, flat>& buffers() { return params_->buffers(); }
  ERFNetEncoder<T, D, Dim>& encoder() { return encoder_; }
  ERFNetDecoder<T, D, Dim>& decoder() { return decoder_; }

  // Keeps views of x (and of the layers' own outputs) for backward: keep x alive until then.
  const Tensor<T, D, Dim>& forward(TensorView<const T, D, Dim> x, Context c) {
    return decoder_.forward(encoder_.forward(x, c), c);
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dlogits) {
    return encoder_.backward(decoder_.backward(dlogits));
  }

 private:
  std::unique_ptr<Parameters<T, D>> params_;
  ERFNetEncoder<T, D, Dim> encoder_;
  ERFNetDecoder<T, D, Dim> decoder_;
};

}  // namespace semiseg::backbone
