// Multi-layer perceptron, the Pseudo-Label paper's network (Lee 2013): 784-5000-10 by default,
// ReLU after every hidden layer, dropout on the hidden activations. Contract: the input is flat
// N×in_features, or N×C×spatial read as N×(C·spatial) rows (an image batch needs no copy); the
// output is flat N×classes logits. The paper's sigmoid outputs are left to the loss, so the same
// network serves softmax cross-entropy. Dropout masks are Philox draws keyed by the
// constructor's seed and context.step; the hidden dropout default 0.5 is the paper's "dropNN".
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "semiseg/backbone/blocks.hpp"
#include "semiseg/nn/dropout.hpp"
#include "semiseg/nn/linear.hpp"

namespace semiseg::backbone {

struct MLPOptions {
  index_t in_features = 784;
  std::vector<index_t> hidden = {5000};
  index_t classes = 10;
  double dropout = 0.5;        // after each hidden ReLU, train mode only
  double input_dropout = 0.0;  // on the input, train mode only
};

template <class T, Device D, Dimension Dim>
class MLP {
 public:
  static constexpr const char* name = "MLP";
  using value_type = T;
  using device = D;
  using input_dim = Dim;
  using output_dim = flat;
  using Options = MLPOptions;

  explicit MLP(const Options& options, std::uint64_t seed = 0, const std::string& name = "mlp")
      : o_(options), params_(make_parameters<T, D>()) {
    const auto fail = [](const std::string& what) { throw value_error("semiseg: mlp: " + what); };
    if (o_.in_features < 1 || o_.classes < 1) fail("in_features and classes must be positive");
    for (index_t h : o_.hidden)
      if (h < 1) fail("hidden sizes must be positive, got " + std::to_string(h));
    if (!(o_.dropout >= 0 && o_.dropout < 1) || !(o_.input_dropout >= 0 && o_.input_dropout < 1))
      fail("dropout and input_dropout must be in [0, 1)");
    const std::size_t layers = o_.hidden.size() + 1;
    linear_.reserve(layers);
    relu_.resize(layers - 1);
    index_t in = o_.in_features;
    for (std::size_t i = 0; i < layers; ++i) {
      const index_t out = i + 1 < layers ? o_.hidden[i] : o_.classes;
      linear_.emplace_back(*params_, nn::LinearOptions{.in_features = in, .out_features = out},
                           name + ".linear" + std::to_string(i));
      in = out;
    }
    // A training step on data needs no gradient with respect to the input (Context::input_gradient).
    linear_.front().set_input_is_data(true);
    if (o_.input_dropout > 0)
      input_dropout_.emplace(nn::DropoutOptions{.p = o_.input_dropout, .seed = seed, .stream = 1});
    if (o_.dropout > 0) {
      dropout_.reserve(layers - 1);
      for (std::size_t i = 0; i + 1 < layers; ++i)
        dropout_.emplace_back(nn::DropoutOptions{.p = o_.dropout, .seed = seed, .stream = std::uint32_t(2 + i)});
    }
    params_->finalize(seed);
  }

  const Options& options() const { return o_; }
  Parameters<T, D>& parameters() { return *params_; }
  const Parameters<T, D>& parameters() const { return *params_; }
  Tensor<T, D, flat>& buffers() { return params_->buffers(); }

  // Keeps a view of x for backward: keep x alive until then.
  const Tensor<T, D, flat>& forward(TensorView<const T, D, Dim> x, Context c) {
    if (x.n() < 1 || x.size() / x.n() != o_.in_features)
      throw shape_error("semiseg: mlp: input " + x.shape.str() + " has " +
                        std::to_string(x.n() ? x.size() / x.n() : 0) +
                        " features per sample, expected in_features = " + std::to_string(o_.in_features));
    in_shape_ = x.shape;
    TensorView<const T, D, flat> h{x.data, flat_shape(x.n(), o_.in_features)};
    if (input_dropout_) h = input_dropout_->forward(h, c);
    for (std::size_t i = 0; i + 1 < linear_.size(); ++i) {
      h = relu_[i].forward(linear_[i].forward(h, c), c);
      if (!dropout_.empty()) h = dropout_[i].forward(h, c);
    }
    return linear_.back().forward(h, c);
  }

  // Returns dx with the input's shape (a view of the flat gradient), or an empty view after a
  // forward whose context had input_gradient false.
  TensorView<const T, D, Dim> backward(TensorView<const T, D, flat> dlogits) {
    TensorView<const T, D, flat> g = dlogits;
    for (std::size_t i = linear_.size(); i-- > 0;) {
      if (i + 1 < linear_.size()) {
        if (!dropout_.empty()) g = dropout_[i].backward(g);
        g = relu_[i].backward(g);
      }
      g = linear_[i].backward(g);
    }
    if (g.n() == 0) {  // the forward context asked for no input gradient
      shape_of<Dim> none = in_shape_;
      none[0] = 0;
      return {g.data, none};
    }
    if (input_dropout_) g = input_dropout_->backward(g);
    return {g.data, in_shape_};
  }

 private:
  Options o_;
  std::unique_ptr<Parameters<T, D>> params_;
  std::vector<nn::Linear<T, D>> linear_;
  std::vector<nn::ReLU<T, D, flat>> relu_;
  std::vector<nn::Dropout<T, D, flat>> dropout_;
  std::optional<nn::Dropout<T, D, flat>> input_dropout_;
  shape_of<Dim> in_shape_{};
};

}  // namespace semiseg::backbone
