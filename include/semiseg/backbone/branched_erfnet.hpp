// EmbedSeg's BranchedERFNet (Lalit et al. 2021, "Embedding-based Instance Segmentation in
// Microscopy"), in 2D and 3D: one ERFNet encoder shared by two ERFNet decoders. Contract:
// N×in_channels×spatial → N×(2S + 1)×spatial with S = Dim::spatial (2D: 5 channels, 3D: 7),
// every spatial extent divisible by 8 (else shape_error at forward); train-mode BatchNorm also
// needs N·(spatial volume / 8^S) ≥ 2. Output channels:
//   [0, S)      offsets     (decoder 0, its first S channels)
//   [S, 2S)     sigmas      (decoder 0, its last S channels)
//   2S          seediness   (decoder 1)
// i.e. the outputs of decoder 0 (2S channels) and decoder 1 (1 channel) concatenated along the
// channels in that order. Backward splits dy by channels, runs each decoder's backward, and sends
// the sum of the two feature gradients through the encoder.
// The blocks, their options and defaults are ERFNet's (include/semiseg/backbone/erfnet.hpp);
// BranchedERFNetOptions is ERFNetOptions without `classes`, since the outputs are fixed by the
// dimension. Registration order, and so the flat layout, is the PyTorch module order of the
// reference: <name>.encoder..., then <name>.decoders.0..., then <name>.decoders.1... (the
// reference encoder's unused 1×1 output_conv is left out, as in ERFNet).
// Initialisation: PyTorch's defaults (as ERFNet), then, as EmbedSeg's init_output does, decoder
// 0's output ConvTranspose gets weight 0 for all its 2S output channels and bias 0 for the S
// offset channels and 1 for the S sigma channels: at initialisation, whatever the input, the
// offsets are exactly 0 and the sigmas exactly 1.
// Source: the paper and EmbedSeg's description; tools/parity/branched_erfnet.py builds the same
// network in PyTorch and writes the fixtures of tests/backbone/branched_erfnet.cpp.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "semiseg/backbone/erfnet.hpp"

namespace semiseg::backbone {

// ERFNetOptions without `classes`; same fields, order and defaults.
struct BranchedERFNetOptions {
  index_t in_channels = 1;
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

// The ERFNet options of the encoder and decoders; `classes` is what ERFNet would make.
inline ERFNetOptions to_erfnet_options(const BranchedERFNetOptions& b, index_t classes) {
  ERFNetOptions o;
  o.in_channels = b.in_channels;
  o.classes = classes;
  o.widths = b.widths;
  o.stage2_blocks = b.stage2_blocks;
  o.stage2_dropout = b.stage2_dropout;
  o.stage3_repeats = b.stage3_repeats;
  o.dilations = b.dilations;
  o.stage3_dropout = b.stage3_dropout;
  o.decoder_blocks = b.decoder_blocks;
  o.momentum = b.momentum;
  o.eps = b.eps;
  return o;
}

template <class T, Device D, SpatialDimension Dim>
class BranchedERFNet {
 public:
  static constexpr const char* name = "BranchedERFNet";
  using value_type = T;
  using device = D;
  using input_dim = Dim;
  using output_dim = Dim;
  using Options = BranchedERFNetOptions;
  static constexpr int S = Dim::spatial;
  static constexpr index_t offset_channels = S;  // output channels [0, S)
  static constexpr index_t sigma_channels = S;   // output channels [S, 2S)
  static constexpr index_t seed_channels = 1;    // output channel 2S
  static constexpr index_t out_channels = offset_channels + sigma_channels + seed_channels;

  // `seed` draws the initial weights (PyTorch's default uniform fan-in bounds, then the output
  // initialisation above) and keys the encoder's dropout.
  explicit BranchedERFNet(const Options& options, std::uint64_t seed = 0,
                          const std::string& name = "branched_erfnet")
      : options_(options),
        params_(make_parameters<T, D>()),
        encoder_(*params_, to_erfnet_options(options, out_channels), seed, name + ".encoder"),
        instance_(*params_, encoder_.options(), offset_channels + sigma_channels, name + ".decoders.0"),
        seediness_(*params_, encoder_.options(), seed_channels, name + ".decoders.1") {
    params_->finalize(seed);
    init_output(name + ".decoders.0.output_conv");
  }

  const Options& options() const { return options_; }
  Parameters<T, D>& parameters() { return *params_; }
  const Parameters<T, D>& parameters() const { return *params_; }
  Tensor<T, D, flat>& buffers() { return params_->buffers(); }
  ERFNetEncoder<T, D, Dim>& encoder() { return encoder_; }
  // decoders.0 (offsets and sigmas, 2S channels) and decoders.1 (seediness, 1 channel).
  ERFNetDecoder<T, D, Dim>& decoder(index_t k) {
    if (k != 0 && k != 1) {
      std::string msg = "semiseg: branched_erfnet: decoder index must be 0 or 1, got ";
      msg += std::to_string(k);
      throw value_error(msg);
    }
    return k == 0 ? instance_ : seediness_;
  }

  // Keeps views of x (and of the layers' own outputs) for backward: keep x alive until then.
  const Tensor<T, D, Dim>& forward(TensorView<const T, D, Dim> x, Context c) {
    const Tensor<T, D, Dim>& features = encoder_.forward(x, c);
    const Tensor<T, D, Dim>& a = instance_.forward(features, c);
    const Tensor<T, D, Dim>& b = seediness_.forward(features, c);
    return concat_.forward(a, b, c);
  }

  const Tensor<T, D, Dim>& backward(TensorView<const T, D, Dim> dy) {
    concat_.backward(dy);
    const Tensor<T, D, Dim>& from_instance = instance_.backward(concat_.first_grad());
    const Tensor<T, D, Dim>& from_seediness = seediness_.backward(concat_.second_grad());
    return encoder_.backward(erfnet_detail::add_into(dfeatures_, from_instance.view(), from_seediness.view()));
  }

 private:
  // EmbedSeg's init_output: decoder 0's output conv (weight [w0, 2S, k...]) gets weight 0 for
  // every output channel, bias 0 for the offsets and 1 for the sigmas.
  void init_output(const std::string& conv) {
    bool weight = false, bias = false;
    for (const auto& e : params_->entries()) {
      if (e.buffer) continue;
      std::vector<T> v;
      if (e.name == conv + ".weight") {
        v.assign(std::size_t(e.size), T(0));
        weight = true;
      } else if (e.name == conv + ".bias") {
        v.assign(std::size_t(e.size), T(1));
        for (index_t c = 0; c < offset_channels; ++c) v[std::size_t(c)] = T(0);
        bias = true;
      } else {
        continue;
      }
      copy<D, cpu>(params_->values().data() + e.offset, v.data(), e.size);
    }
    if (!weight || !bias) {
      std::string msg = "semiseg: branched_erfnet: output conv ";
      msg += conv;
      msg += " not found";
      throw error(msg);
    }
  }

  Options options_;
  std::unique_ptr<Parameters<T, D>> params_;
  ERFNetEncoder<T, D, Dim> encoder_;
  ERFNetDecoder<T, D, Dim> instance_;   // decoders.0: offsets, then sigmas
  ERFNetDecoder<T, D, Dim> seediness_;  // decoders.1: the seed map
  nn::Concat<T, D, Dim> concat_;
  Tensor<T, D, Dim> dfeatures_;
};

}  // namespace semiseg::backbone
