// Math functions callable from host-device kernels. Contract: float stays float and double stays
// double on both compilers (an unqualified exp(float) on the host would silently go through double).
#pragma once

#include <math.h>

#include "semiseg/config.hpp"

namespace semiseg::math {

SEMISEG_HD inline float exp(float x) { return ::expf(x); }
SEMISEG_HD inline double exp(double x) { return ::exp(x); }
SEMISEG_HD inline float log(float x) { return ::logf(x); }
SEMISEG_HD inline double log(double x) { return ::log(x); }
SEMISEG_HD inline float sqrt(float x) { return ::sqrtf(x); }
SEMISEG_HD inline double sqrt(double x) { return ::sqrt(x); }
SEMISEG_HD inline float tanh(float x) { return ::tanhf(x); }
SEMISEG_HD inline double tanh(double x) { return ::tanh(x); }
SEMISEG_HD inline float floor(float x) { return ::floorf(x); }
SEMISEG_HD inline double floor(double x) { return ::floor(x); }

}  // namespace semiseg::math
