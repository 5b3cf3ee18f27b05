#include "semiseg/loss/loss.hpp"

#include "semiseg/loss/binary_cross_entropy.hpp"
#include "semiseg/loss/consistency.hpp"
#include "semiseg/loss/cross_entropy.hpp"
#include "semiseg/loss/dice.hpp"
#include "semiseg/loss/dice_ce.hpp"
#include "semiseg/loss/focal.hpp"
#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

namespace {
struct NotALoss {
  using value_type = float;
  using device = cpu;
  using dim = dim2;
  double value_and_grad(int) { return 0; }
};
}  // namespace

template <template <class, class, class> class L, class T, class Dim>
constexpr bool hard_only = loss::HardLabelLoss<L<T, device, Dim>> && !loss::SoftTargetLoss<L<T, device, Dim>>;

static_assert(hard_only<loss::CrossEntropy, float, dim2> && hard_only<loss::CrossEntropy, double, flat>);
static_assert(hard_only<loss::BinaryCrossEntropy, float, dim3>);
static_assert(hard_only<loss::Dice, double, dim3> && hard_only<loss::DiceCE, float, dim2>);
static_assert(hard_only<loss::Focal, float, flat>);
static_assert(loss::SoftTargetLoss<loss::SoftmaxMSE<float, device, dim2>> &&
              !loss::HardLabelLoss<loss::SoftmaxMSE<float, device, dim2>>);
static_assert(loss::SoftTargetLoss<loss::SoftmaxKL<double, device, dim3>>);
static_assert(loss::Loss<loss::DiceCE<double, device, dim3>> && !loss::Loss<NotALoss>);
static_assert(loss::require_hard_label_loss<loss::DiceCE<float, device, dim2>>());
static_assert(loss::require_soft_target_loss<loss::SoftmaxKL<float, device, dim2>>());

TEST_CASE("loss: every loss is usable through the concept with the same call") {
  auto check = []<class L>(L& l) {
    using T = typename L::value_type;
    auto x = random_tensor<T, dim2>(shape_nc<dim2>(2, 3, {4, 4}), 1);
    Tensor<T, device, dim2> dx;
    double v = 0;
    if constexpr (loss::HardLabelLoss<L>) {
      // BinaryCrossEntropy's targets have the logits' channels; the others take one label map.
      const index_t channels = std::is_same_v<L, loss::BinaryCrossEntropy<T, device, dim2>> ? 3 : 1;
      Tensor<std::int32_t, device, dim2> y(shape_nc<dim2>(2, channels, {4, 4}));
      y.zero();
      v = l.value_and_grad(x.view(), y.view(), dx);
    } else {
      v = l.value_and_grad(x.view(), x.view(), dx);
    }
    CHECK(std::isfinite(v));
    CHECK(dx.shape() == x.shape());
  };
  loss::CrossEntropy<float, device, dim2> ce;
  loss::BinaryCrossEntropy<float, device, dim2> bce;
  loss::Dice<float, device, dim2> dice;
  loss::DiceCE<float, device, dim2> dice_ce;
  loss::Focal<float, device, dim2> focal;
  loss::SoftmaxMSE<float, device, dim2> mse;
  loss::SoftmaxKL<float, device, dim2> kl;
  check(ce);
  check(bce);
  check(dice);
  check(dice_ce);
  check(focal);
  check(mse);
  check(kl);
}

}  // namespace semiseg::test
