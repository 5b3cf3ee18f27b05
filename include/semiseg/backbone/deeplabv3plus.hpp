// DeepLabV3+ (Chen et al. 2018) in 2D and 3D, with a ResNet-style encoder. Contract:
// N×in_channels×spatial → N×classes×spatial; every spatial extent must be a positive multiple of
// output_stride (8 or 16; that also covers the stem's /4), else shape_error at forward. In train
// mode with batch norm a batch needs at least 2 images (the image-pooling branch normalises one
// value per image and channel, as in PyTorch).
//   Encoder: stem conv 7×7 stride 2 → norm → ReLU → max-pool 3×3 stride 2 pad 1, then four
//   stages of residual blocks (ResNet-18/34: BasicBlock [2,2,2,2]/[3,4,6,3]; ResNet-50:
//   Bottleneck [3,4,6,3], expansion 4, stride on the 3×3 conv) with base·{1,2,4,8} planes.
//   Dilation follows torchvision's replace_stride_with_dilation: output stride 16 gives layer4
//   stride 1 and dilation 2, output stride 8 also layer3 dilation 2 and layer4 dilation 4; the
//   first block of a dilated stage keeps the previous dilation, the later ones use the new one
//   (in a BasicBlock, both 3×3 convs use the block's dilation). A block's shortcut is a 1×1 conv
//   (with the block's stride) → norm when the stride or the channel count changes.
//   ASPP on layer4: a 1×1 branch, three 3×3 branches at dilations `rates`, and image pooling
//   (global average → 1×1 conv → norm → ReLU, broadcast back); each branch gives aspp_channels,
//   they are concatenated in that order and projected by 1×1 conv → norm → ReLU → dropout.
//   Decoder: layer1's output through 1×1 conv → norm → ReLU to low_level_channels; the ASPP
//   output resized (linear) to layer1's size and concatenated before it ([aspp, low-level]),
//   two 3×3 conv → norm → ReLU of decoder_channels, a 1×1 conv with bias to the classes, and a
//   linear resize ×4 to the input size. Both resizes use align_corners (default true, as the
//   TensorFlow DeepLab code, smp's UpsamplingBilinear2d and the CPS reference do).
//   With `separable`, the ASPP's atrous convs and the decoder's 3×3 convs are depthwise (groups
//   = channels, no bias) followed by a pointwise 1×1 (no bias), then the norm, as in smp's
//   SeparableConv2d. Every conv before a norm has no bias. In 3D kernels and rates apply to all
//   three axes. Weights start from PyTorch's default uniform fan-in bounds.
// The network owns its Parameters; registration order, and so the flat layout, is: stem (conv,
// norm); per stage and block: block1 (conv, norm), block2, [block3], [downsample]; ASPP branch0,
// branches 1–3 (conv or depthwise, pointwise; norm), pool, project; decoder low_level, conv1,
// conv2; head (weight, bias) — the order of the same modules built in PyTorch (torchvision
// ResNet, then smp's DeepLabV3PlusDecoder layout; tools/parity/deeplabv3plus.py builds it).
// Differences from smp's DeepLabV3Plus: no extra separable 3×3 conv after the ASPP, and two
// (not one) 3×3 decoder convs, as in the paper.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "semiseg/backbone/blocks.hpp"
#include "semiseg/kernels/elementwise.hpp"
#include "semiseg/nn/dropout.hpp"
#include "semiseg/nn/merge.hpp"
#include "semiseg/nn/pooling.hpp"

namespace semiseg::backbone {

struct DeepLabV3PlusOptions {
  index_t in_channels = 3;
  index_t classes = 21;
  index_t layers = 50;           // ResNet depth: 18, 34 (BasicBlock) or 50 (Bottleneck)
  index_t base_channels = 64;    // stem and layer1 planes; 64 is ResNet
  index_t output_stride = 16;    // 16 or 8
  std::array<index_t, 3> rates = {6, 12, 18};  // ASPP dilations (smp's separable variant: 12, 24, 36)
  index_t aspp_channels = 256;
  index_t low_level_channels = 48;
  index_t decoder_channels = 256;
  bool separable = false;        // depthwise-separable 3×3 convs in the ASPP and the decoder
  bool align_corners = true;     // of the two linear resizes
  Norm norm = Norm::batch;
  index_t groups = 8;            // GroupNorm groups; must divide base, aspp, low-level and decoder channels
  double dropout = 0.5;          // after the ASPP projection, train mode only
  double momentum = 0.1;         // BatchNorm running-statistics momentum (PyTorch's default)
};

namespace deeplab_detail {

template <class T>
struct BroadcastPlanes {  // y[n, c, ...] = x[n, c]
  const T* x;
  T* y;
  index_t plane;
  SEMISEG_HD void operator()(index_t i) const { y[i] = x[i / plane]; }
};
template <class T>
struct SumPlanes {  // dx[n, c] = Σ dy[n, c, ...]
  const T* dy;
  T* dx;
  index_t plane;
  SEMISEG_HD void operator()(index_t i) const {
    T s = 0;
    for (index_t p = 0; p < plane; ++p) s += dy[i * plane + p];
    dx[i] = s;
  }
};
template <class T>
struct AddInto {
  T* y;
  const T* x;
  SEMISEG_HD void operator()(index_t i) const { y[i] += x[i]; }
};

// conv k×k (or depthwise k×k then pointwise 1×1) without bias → BatchNorm or GroupNorm → ReLU
// (optional). Padding keeps the size at stride 1: dilation·(k/2).
template <class T, Device D, SpatialDimension Dim>
class ConvUnit {
 public:
  static constexpr int S = Dim::spatial;
  struct Spec {
    index_t in = 1, out = 1, kernel = 1, stride = 1, dilation = 1;
    bool separable = false;
    bool relu = true;
  };

  ConvUnit(Parameters<T, D>& p, const Spec& s, const DeepLabV3PlusOptions& o, const std::string& name)
      : relu_(s.relu) {
    nn::ConvOptions<Dim> c;
    c.in_channels = s.in;
    c.out_channels = s.out;
    c.kernel = nn::fill<S>(s.kernel);
    c.stride = nn::fill<S>(s.stride);
    c.padding = nn::fill<S>(s.dilation * (s.kernel / 2));
    c.dilation = nn::fill<S>(s.dilation);
    c.bias = false;
    if (s.separable) {
      nn::ConvOptions<Dim> dw = c;
      dw.out_channels = s.in;
      dw.groups = s.in;
      depthwise_.emplace(p, dw, name + ".depthwise");
      nn::ConvOptions<Dim> pw;
      pw.in_channels = s.in;
      pw.out_channels = s.out;
      pw.kernel = nn::fill<S>(1);
      pw.bias = false;
      conv_.emplace(p, pw, name + ".pointwise");
    } else {
      conv_.emplace(p, c, name + ".conv");
    }
    if (o.norm == Norm::batch)
      bn_.emplace(p, nn::BatchNormOptions{.channels = s.out, .momentum = o.momentum}, name + ".norm");
    else
      gn_.emplace(p, nn::GroupNormOptions{.channels = s.out, .groups = o.groups}, name + ".norm");
  }

  const Tensor<T, D, Dim>& forward(TensorView<const T, D, Dim> x, Context c) {
    if (depthwise_) x = depthwise_->forward(x, c);
    const Tensor<T, D, Dim>& h = conv_->forward(x, c);
    const Tensor<T, D, Dim>& n = bn_ ? bn_->forward(h, c) : gn_->forward(h, c);
    return relu_ ? act_.forward(n, c) : n;
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    if (relu_) dy = act_.backward(dy);
    const Tensor<T, D, Dim>& g = conv_->backward(bn_ ? bn_->backward(dy) : gn_->backward(dy));
    return depthwise_ ? depthwise_->backward(g) : g;
  }

 private:
  bool relu_;
  std::optional<nn::Conv<T, D, Dim>> depthwise_, conv_;
  std::optional<nn::BatchNorm<T, D, Dim>> bn_;
  std::optional<nn::GroupNorm<T, D, Dim>> gn_;
  nn::ReLU<T, D, Dim> act_;
};

// A residual block: BasicBlock (two 3×3) or Bottleneck (1×1, 3×3 with the stride, 1×1 to
// 4·planes), plus the shortcut, then ReLU.
template <class T, Device D, SpatialDimension Dim>
class ResBlock {
 public:
  using Unit = ConvUnit<T, D, Dim>;
  using Spec = typename Unit::Spec;

  ResBlock(Parameters<T, D>& p, const DeepLabV3PlusOptions& o, bool bottleneck, index_t in, index_t planes,
           index_t stride, index_t dilation, const std::string& name) {
    const index_t out = bottleneck ? 4 * planes : planes;
    units_.reserve(3);
    if (bottleneck) {
      units_.emplace_back(p, Spec{.in = in, .out = planes, .kernel = 1}, o, name + ".block1");
      units_.emplace_back(p, Spec{.in = planes, .out = planes, .kernel = 3, .stride = stride, .dilation = dilation}, o,
                          name + ".block2");
      units_.emplace_back(p, Spec{.in = planes, .out = out, .kernel = 1, .relu = false}, o, name + ".block3");
    } else {
      units_.emplace_back(p, Spec{.in = in, .out = planes, .kernel = 3, .stride = stride, .dilation = dilation}, o,
                          name + ".block1");
      units_.emplace_back(p, Spec{.in = planes, .out = out, .kernel = 3, .dilation = dilation, .relu = false}, o,
                          name + ".block2");
    }
    if (stride != 1 || in != out)
      down_.emplace(p, Spec{.in = in, .out = out, .kernel = 1, .stride = stride, .relu = false}, o,
                    name + ".downsample");
  }

  const Tensor<T, D, Dim>& forward(TensorView<const T, D, Dim> x, Context c) {
    TensorView<const T, D, Dim> h = x;
    for (Unit& u : units_) h = u.forward(h, c);
    const TensorView<const T, D, Dim> shortcut = down_ ? TensorView<const T, D, Dim>(down_->forward(x, c)) : x;
    return act_.forward(add_.forward(h, shortcut, c), c);
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    const TensorView<const T, D, Dim> g = add_.backward(act_.backward(dy));
    TensorView<const T, D, Dim> h = g;
    for (std::size_t i = units_.size(); i-- > 0;) h = units_[i].backward(h);
    const TensorView<const T, D, Dim> s = down_ ? TensorView<const T, D, Dim>(down_->backward(g)) : g;
    dx_.resize(h.shape);
    launch<D>(dx_.size(), Sum2<T>{h.data, s.data, dx_.data()});
    return dx_;
  }

 private:
  std::vector<Unit> units_;
  std::optional<Unit> down_;
  nn::Add<T, D, Dim> add_;
  nn::ReLU<T, D, Dim> act_;
  Tensor<T, D, Dim> dx_;
};

}  // namespace deeplab_detail

template <class T, Device D, SpatialDimension Dim>
class DeepLabV3Plus {
 public:
  static constexpr const char* name = "DeepLabV3Plus";
  using value_type = T;
  using device = D;
  using input_dim = Dim;
  using output_dim = Dim;
  using Options = DeepLabV3PlusOptions;
  static constexpr int S = Dim::spatial;

  // `seed` draws the initial weights (PyTorch's default uniform fan-in bounds) and keys dropout.
  explicit DeepLabV3Plus(const Options& options, std::uint64_t seed = 0, const std::string& name = "deeplabv3plus")
      : o_(options), params_(make_parameters<T, D>()) {
    validate();
    Parameters<T, D>& p = *params_;
    const bool bottleneck = o_.layers == 50;
    const index_t expansion = bottleneck ? 4 : 1;
    const std::array<index_t, 4> counts =
        o_.layers == 18 ? std::array<index_t, 4>{2, 2, 2, 2} : std::array<index_t, 4>{3, 4, 6, 3};
    // Stages 3 and 4 (index 2, 3) trade their stride for dilation.
    const std::array<bool, 4> dilate{false, false, o_.output_stride == 8, true};

    const std::string enc = name + ".encoder";
    stem_.emplace(p, Spec{.in = o_.in_channels, .out = o_.base_channels, .kernel = 7, .stride = 2}, o_, enc + ".stem");
    nn::PoolOptions<Dim> pool;
    pool.kernel = nn::fill<S>(3);
    pool.stride = nn::fill<S>(2);
    pool.padding = nn::fill<S>(1);
    maxpool_.emplace(pool);
    std::size_t total = 0;
    for (index_t c : counts) total += std::size_t(c);
    blocks_.reserve(total);
    index_t in = o_.base_channels, dilation = 1;
    for (int stage = 0; stage < 4; ++stage) {
      const index_t planes = o_.base_channels << stage;
      index_t stride = stage == 0 ? 1 : 2;
      const index_t previous = dilation;
      if (dilate[std::size_t(stage)]) {
        dilation *= stride;
        stride = 1;
      }
      for (index_t b = 0; b < counts[std::size_t(stage)]; ++b) {
        blocks_.emplace_back(p, o_, bottleneck, in, planes, b == 0 ? stride : 1, b == 0 ? previous : dilation,
                             enc + ".layer" + std::to_string(stage + 1) + "." + std::to_string(b));
        in = planes * expansion;
      }
      if (stage == 0) low_index_ = blocks_.size() - 1;
    }

    const std::string aspp = name + ".aspp";
    const index_t A = o_.aspp_channels;
    branches_.reserve(5);
    branches_.emplace_back(p, Spec{.in = in, .out = A, .kernel = 1}, o_, aspp + ".branch0");
    for (int r = 0; r < 3; ++r)
      branches_.emplace_back(
          p, Spec{.in = in, .out = A, .kernel = 3, .dilation = o_.rates[std::size_t(r)], .separable = o_.separable}, o_,
          aspp + ".branch" + std::to_string(r + 1));
    branches_.emplace_back(p, Spec{.in = in, .out = A, .kernel = 1}, o_, aspp + ".pool");
    project_.emplace(p, Spec{.in = 5 * A, .out = A, .kernel = 1}, o_, aspp + ".project");
    if (o_.dropout > 0) dropout_.emplace(nn::DropoutOptions{.p = o_.dropout, .seed = seed, .stream = 1});

    const std::string dec = name + ".decoder";
    low_.emplace(p, Spec{.in = o_.base_channels * expansion, .out = o_.low_level_channels, .kernel = 1}, o_,
                 dec + ".low_level");
    decoder_.reserve(2);
    decoder_.emplace_back(p,
                          Spec{.in = A + o_.low_level_channels,
                               .out = o_.decoder_channels,
                               .kernel = 3,
                               .separable = o_.separable},
                          o_, dec + ".conv1");
    decoder_.emplace_back(
        p, Spec{.in = o_.decoder_channels, .out = o_.decoder_channels, .kernel = 3, .separable = o_.separable}, o_,
        dec + ".conv2");
    nn::ConvOptions<Dim> head;
    head.in_channels = o_.decoder_channels;
    head.out_channels = o_.classes;
    head.kernel = nn::fill<S>(1);
    head_.emplace(p, head, name + ".head");

    nn::ResizeOptions<Dim> r;
    r.mode = ResizeMode::linear;
    r.align_corners = o_.align_corners;
    r.scale = double(o_.output_stride / 4);
    up_aspp_.emplace(r);
    r.scale = 4.0;
    up_out_.emplace(r);
    p.finalize(seed);
  }

  const Options& options() const { return o_; }
  Parameters<T, D>& parameters() { return *params_; }
  const Parameters<T, D>& parameters() const { return *params_; }
  Tensor<T, D, flat>& buffers() { return params_->buffers(); }

  // Keeps views of x (and of the layers' own outputs) for backward: keep x alive until then.
  const Tensor<T, D, Dim>& forward(TensorView<const T, D, Dim> x, Context c) {
    check_input(x.shape, c);
    TensorView<const T, D, Dim> h = maxpool_->forward(stem_->forward(x, c), c);
    for (std::size_t b = 0; b < blocks_.size(); ++b) {
      h = blocks_[b].forward(h, c);
      if (b == low_index_) low_input_ = h;
    }
    h = decoder_concat_.forward(up_aspp_->forward(aspp_forward(h, c), c), low_->forward(low_input_, c), c);
    for (Unit& u : decoder_) h = u.forward(h, c);
    return up_out_->forward(head_->forward(h, c), c);
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dlogits) {
    TensorView<const T, D, Dim> g = head_->backward(up_out_->backward(dlogits));
    for (std::size_t i = decoder_.size(); i-- > 0;) g = decoder_[i].backward(g);
    decoder_concat_.backward(g);
    g = aspp_backward(up_aspp_->backward(decoder_concat_.first_grad()));
    for (std::size_t b = blocks_.size(); b-- > 0;) {
      g = blocks_[b].backward(g);
      if (b == low_index_ + 1) {
        // layer1's output fed layer2 and the low-level branch: add the two gradients.
        const Tensor<T, D, Dim>& low = low_->backward(decoder_concat_.second_grad());
        low_grad_.resize(low.shape());
        launch<D>(low_grad_.size(), Sum2<T>{g.data, low.data(), low_grad_.data()});
        g = low_grad_;
      }
    }
    return stem_->backward(maxpool_->backward(g));
  }

 private:
  using Unit = deeplab_detail::ConvUnit<T, D, Dim>;
  using Spec = typename Unit::Spec;
  using Block = deeplab_detail::ResBlock<T, D, Dim>;

  const Tensor<T, D, Dim>& aspp_forward(TensorView<const T, D, Dim> x, Context c) {
    TensorView<const T, D, Dim> cat = branches_[0].forward(x, c);
    for (std::size_t i = 1; i < 4; ++i) cat = aspp_concat_[i - 1].forward(cat, branches_[i].forward(x, c), c);
    // Image pooling: the per-channel mean as an N×C×1…1 tensor, its unit, then broadcast.
    const TensorView<const T, D, flat> mean = gap_.forward(x, c).view();
    shape_of<Dim> one = x.shape;
    for (int d = 0; d < S; ++d) one[d + 2] = 1;
    const Tensor<T, D, Dim>& pooled = branches_[4].forward(reshape<Dim>(mean, one), c);
    shape_of<Dim> wide = x.shape;
    wide[1] = pooled.c();
    broadcast_.resize(wide);
    launch<D>(broadcast_.size(), deeplab_detail::BroadcastPlanes<T>{pooled.data(), broadcast_.data(), x.plane()});
    cat = aspp_concat_[3].forward(cat, broadcast_, c);
    const Tensor<T, D, Dim>& y = project_->forward(cat, c);
    return dropout_ ? dropout_->forward(y, c) : y;
  }

  const Tensor<T, D, Dim>& aspp_backward(TensorView<const T, D, Dim> dy) {
    if (dropout_) dy = dropout_->backward(dy);
    aspp_concat_[3].backward(project_->backward(dy));
    const Tensor<T, D, Dim>& dwide = aspp_concat_[3].second_grad();
    shape_of<Dim> one = dwide.shape();
    for (int d = 0; d < S; ++d) one[d + 2] = 1;
    pooled_grad_.resize(one);
    launch<D>(pooled_grad_.size(),
              deeplab_detail::SumPlanes<T>{dwide.data(), pooled_grad_.data(), dwide.plane()}, grain_for(dwide.plane()));
    const Tensor<T, D, Dim>& dmean = branches_[4].backward(pooled_grad_);
    const Tensor<T, D, Dim>& dpool = gap_.backward(reshape<flat>(dmean.view(), flat_shape(dmean.n(), dmean.c())));
    assign(dx_aspp_, dpool.view());
    TensorView<const T, D, Dim> dcat = aspp_concat_[3].first_grad();
    for (std::size_t i = 3; i >= 1; --i) {
      aspp_concat_[i - 1].backward(dcat);
      accumulate(branches_[i].backward(aspp_concat_[i - 1].second_grad()));
      dcat = aspp_concat_[i - 1].first_grad();
    }
    accumulate(branches_[0].backward(dcat));
    return dx_aspp_;
  }

  void accumulate(const Tensor<T, D, Dim>& g) {
    launch<D>(dx_aspp_.size(), deeplab_detail::AddInto<T>{dx_aspp_.data(), g.data()});
  }

  void validate() const {
    const auto fail = [](const std::string& what) { throw value_error("semiseg: deeplabv3plus: " + what); };
    const auto positive = [&](const char* what, index_t v) {
      if (v < 1) fail(std::string(what) + " must be positive, got " + std::to_string(v));
    };
    positive("in_channels", o_.in_channels);
    positive("classes", o_.classes);
    positive("base_channels", o_.base_channels);
    positive("aspp_channels", o_.aspp_channels);
    positive("low_level_channels", o_.low_level_channels);
    positive("decoder_channels", o_.decoder_channels);
    if (o_.layers != 18 && o_.layers != 34 && o_.layers != 50)
      fail("layers must be 18, 34 or 50, got " + std::to_string(o_.layers));
    if (o_.output_stride != 8 && o_.output_stride != 16)
      fail("output_stride must be 8 or 16, got " + std::to_string(o_.output_stride));
    for (index_t r : o_.rates)
      if (r < 1) fail("ASPP rates must be positive, got " + std::to_string(r));
    if (o_.norm == Norm::group) {
      if (o_.groups < 1) fail("group norm groups must be positive, got " + std::to_string(o_.groups));
      const std::pair<const char*, index_t> normed[] = {{"base_channels", o_.base_channels},
                                                        {"aspp_channels", o_.aspp_channels},
                                                        {"low_level_channels", o_.low_level_channels},
                                                        {"decoder_channels", o_.decoder_channels}};
      for (const auto& [what, channels] : normed)
        if (channels % o_.groups != 0)
          fail("group norm groups (" + std::to_string(o_.groups) + ") must divide " + what + " (" +
               std::to_string(channels) + ")");
    }
    if (!(o_.dropout >= 0 && o_.dropout < 1)) fail("dropout must be in [0, 1), got " + std::to_string(o_.dropout));
    if (!(o_.momentum >= 0 && o_.momentum <= 1))
      fail("momentum must be in [0, 1], got " + std::to_string(o_.momentum));
  }

  void check_input(const shape_of<Dim>& shape, Context c) const {
    nn::expect_channels("deeplabv3plus", shape, o_.in_channels);
    for (int d = 0; d < S; ++d)
      if (shape[d + 2] % o_.output_stride != 0 || shape[d + 2] == 0)
        throw shape_error(std::string("semiseg: deeplabv3plus: input ") + shape.str() + " has spatial size " +
                          std::to_string(shape[d + 2]) + " on axis " + std::to_string(d + 2) +
                          ", which is not a positive multiple of the output stride " +
                          std::to_string(o_.output_stride));
    if (c.train && o_.norm == Norm::batch && shape.n() < 2)
      throw shape_error(std::string("semiseg: deeplabv3plus: input ") + shape.str() +
                        " has one image; train mode with batch norm needs at least 2 (the image-pooling branch "
                        "normalises one value per image and channel)");
  }

  Options o_;
  std::unique_ptr<Parameters<T, D>> params_;
  std::optional<Unit> stem_;
  std::optional<nn::MaxPool<T, D, Dim>> maxpool_;
  std::vector<Block> blocks_;
  std::size_t low_index_ = 0;  // the last block of layer1
  std::vector<Unit> branches_;  // 1×1, three atrous, image pooling
  nn::GlobalAvgPool<T, D, Dim> gap_;
  std::array<nn::Concat<T, D, Dim>, 4> aspp_concat_;
  std::optional<Unit> project_;
  std::optional<nn::Dropout<T, D, Dim>> dropout_;
  std::optional<Unit> low_;
  std::vector<Unit> decoder_;
  std::optional<nn::Conv<T, D, Dim>> head_;
  std::optional<nn::Resize<T, D, Dim>> up_aspp_, up_out_;
  nn::Concat<T, D, Dim> decoder_concat_;
  TensorView<const T, D, Dim> low_input_{};
  Tensor<T, D, Dim> broadcast_, pooled_grad_, dx_aspp_, low_grad_;
};

}  // namespace semiseg::backbone
