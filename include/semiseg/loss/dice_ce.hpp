// Dice plus cross-entropy. Contract: value = λ_ce·CrossEntropy + λ_dice·Dice on the same logits
// and labels, and the gradient is the same combination of the two gradients (MONAI's DiceCELoss
// with softmax and one-hot labels). Both parts share the ignore index and the per-pixel weights;
// the ignore index in `Options` overrides the ones inside `ce` and `dice`, so the two cannot
// disagree about which pixels are labeled.
#pragma once

#include "semiseg/loss/cross_entropy.hpp"
#include "semiseg/loss/dice.hpp"

namespace semiseg::loss {

template <class T, Device D, Dimension Dim>
class DiceCE {
 public:
  static constexpr const char* name = "DiceCE";
  using value_type = T;
  using device = D;
  using dim = Dim;

  struct Options {
    std::int32_t ignore_index = default_ignore_index;    // −1, our masks' mark
    double lambda_ce = 1.0;                              // MONAI default
    double lambda_dice = 1.0;                            // MONAI default
    typename CrossEntropy<T, D, Dim>::Options ce = {};  // its ignore_index is replaced
    typename Dice<T, D, Dim>::Options dice = {};        // its ignore_index is replaced
  };

  DiceCE() : DiceCE(Options{}) {}
  explicit DiceCE(Options options)
      : options_(std::move(options)), ce_(with_ignore(options_.ce)), dice_(with_ignore(options_.dice)) {
    if (!(options_.lambda_ce >= 0.0) || !(options_.lambda_dice >= 0.0))
      throw value_error("semiseg: dice_ce: lambda_ce and lambda_dice must be non-negative");
  }
  const Options& options() const { return options_; }

  double value_and_grad(TensorView<const T, D, Dim> logits, TensorView<const std::int32_t, D, Dim> target,
                        Tensor<T, D, Dim>& dlogits, TensorView<const T, D, Dim> weights = {}) {
    const double dice = dice_.value_and_grad(logits, target, ddice_, weights);
    const double ce = ce_.value_and_grad(logits, target, dlogits, weights);
    const index_t n = dlogits.size();
    launch<D>(n, detail::Scale<T>{static_cast<T>(options_.lambda_ce), dlogits.data()});
    launch<D>(n, detail::Axpy<T>{static_cast<T>(options_.lambda_dice), ddice_.data(), dlogits.data()});
    return options_.lambda_ce * ce + options_.lambda_dice * dice;
  }
  double value(TensorView<const T, D, Dim> logits, TensorView<const std::int32_t, D, Dim> target,
               TensorView<const T, D, Dim> weights = {}) {
    return options_.lambda_ce * ce_.value(logits, target, weights) +
           options_.lambda_dice * dice_.value(logits, target, weights);
  }

 private:
  template <class O>
  O with_ignore(O o) const {
    o.ignore_index = options_.ignore_index;
    return o;
  }

  Options options_;
  CrossEntropy<T, D, Dim> ce_;
  Dice<T, D, Dim> dice_;
  Tensor<T, D, Dim> ddice_;
};

}  // namespace semiseg::loss
