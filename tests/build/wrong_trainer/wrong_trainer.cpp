// Must not compile: a trainer whose supervised loss is a consistency loss (it takes a teacher's
// logits, not labels). With SEMISEG_FITTING_LOSS the loss is CrossEntropy and the file compiles,
// which shows the failure comes from the loss alone.
#include <semiseg/semiseg.hpp>

namespace ss = semiseg;

#if defined(SEMISEG_FITTING_LOSS)
template <class T, class D, class Dim>
using SupervisedLoss = ss::loss::CrossEntropy<T, D, Dim>;
#else
template <class T, class D, class Dim>
using SupervisedLoss = ss::loss::SoftmaxMSE<T, D, Dim>;
#endif

using Trainer = ss::Trainer<ss::dim2, ss::backbone::UNet, SupervisedLoss, ss::ssl::MeanTeacher<>, ss::cpu>;

int main() {
  Trainer trainer({.model = {.in_channels = 1, .classes = 2, .base_channels = 4, .depth = 1}});
  return trainer.step() == 0 ? 0 : 1;
}
