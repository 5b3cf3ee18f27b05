// The Backbone contract. A backbone B names value_type, device, input_dim, output_dim and
// Options; `B(options, seed)` builds it and initialises the Parameters it owns from the seed (the
// seed also keys its dropout and noise draws, so two CPS models or an EMA teacher built with
// other seeds draw independent masks). It can be moved; copying is a new model plus a copy of
// parameters().values() and buffers().
// `forward(x, context)` returns an output it owns, valid until the next forward, and keeps what
// backward reads when context.needs_backward is set; `backward(dy)` returns dx (valid until the
// next backward) and adds parameter gradients into parameters().grads(); `parameters()` is the
// one flat store (values, grads, named entries); `buffers()` holds BatchNorm running statistics.
// Segmentation backbones map N×C×spatial to N×classes×spatial; classification ones end in the
// flat N×classes. Trainers check a backbone with the check_* functions, whose static_assert
// messages are one sentence each.
#pragma once

#include <concepts>
#include <cstdint>

#include "semiseg/core/context.hpp"
#include "semiseg/core/parameters.hpp"
#include "semiseg/core/tensor.hpp"

namespace semiseg::backbone {

template <class B>
concept BackboneTypes = requires {
  typename B::value_type;
  typename B::device;
  typename B::input_dim;
  typename B::output_dim;
  typename B::Options;
};

// Read-only views of a backbone's input and output.
template <class B>
using input_view_t = TensorView<const typename B::value_type, typename B::device, typename B::input_dim>;
template <class B>
using output_view_t = TensorView<const typename B::value_type, typename B::device, typename B::output_dim>;

template <class B>
concept Backbone = BackboneTypes<B> && std::constructible_from<B, const typename B::Options&, std::uint64_t> &&
    std::move_constructible<B> && requires(B& b, input_view_t<B> x, output_view_t<B> dy, Context c) {
  { b.forward(x, c) } -> std::convertible_to<output_view_t<B>>;
  { b.backward(dy) } -> std::convertible_to<input_view_t<B>>;
  { b.parameters() } -> std::same_as<Parameters<typename B::value_type, typename B::device>&>;
  { b.buffers() } -> std::same_as<Tensor<typename B::value_type, typename B::device, flat>&>;
};

// Per-pixel (per-voxel) logits with the input's spatial size.
template <class B>
concept SegmentationBackbone = Backbone<B> && SpatialDimension<typename B::input_dim> &&
    std::same_as<typename B::output_dim, typename B::input_dim>;

// One logit vector per sample.
template <class B>
concept ClassificationBackbone = Backbone<B> && std::same_as<typename B::output_dim, flat>;

template <class B>
constexpr bool check_backbone() {
  static_assert(Backbone<B>,
                "semiseg: a backbone needs value_type, device, input_dim, output_dim, Options, a B(options, seed) "
                "constructor, forward(x, context), backward(dy), parameters() and buffers()");
  return Backbone<B>;
}

template <class B>
constexpr bool check_segmentation_backbone() {
  static_assert(SegmentationBackbone<B>,
                "semiseg: this needs a segmentation backbone with per-pixel output (UNet, not ConvLarge or MLP)");
  return SegmentationBackbone<B>;
}

template <class B>
constexpr bool check_classification_backbone() {
  static_assert(ClassificationBackbone<B>,
                "semiseg: this needs a classification backbone with N×classes output (ConvLarge or MLP, not UNet)");
  return ClassificationBackbone<B>;
}

}  // namespace semiseg::backbone
