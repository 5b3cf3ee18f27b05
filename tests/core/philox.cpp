#include "semiseg/core/philox.hpp"

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

TEST_CASE("philox: Random123 known-answer vectors for Philox4x32-10") {
  const PhiloxResult zero = philox4x32(0, 0, 0, 0, 0, 0);
  CHECK(zero.v[0] == 0x6627e8d5u);
  CHECK(zero.v[1] == 0xe169c58du);
  CHECK(zero.v[2] == 0xbc57ac4cu);
  CHECK(zero.v[3] == 0x9b00dbd8u);
  const PhiloxResult ones = philox4x32(~0u, ~0u, ~0u, ~0u, ~0u, ~0u);
  CHECK(ones.v[0] == 0x408f276du);
  CHECK(ones.v[1] == 0x41c83b0eu);
  CHECK(ones.v[2] == 0xa20bc7c6u);
  CHECK(ones.v[3] == 0x6d5451fdu);
  const PhiloxResult pi = philox4x32(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u);
  CHECK(pi.v[0] == 0xd16cfe09u);
  CHECK(pi.v[1] == 0x94fdccebu);
  CHECK(pi.v[2] == 0x5001e420u);
  CHECK(pi.v[3] == 0x24126ea1u);
}

TEST_CASE("philox: uniform and normal draws have the right moments and depend on every key part") {
  const Philox rng{42, 3, 7};
  const int n = 200000;
  double su = 0, sn = 0, sn2 = 0, lo = 1, hi = 0;
  for (int i = 0; i < n; ++i) {
    const double u = rng.uniform<double>(i);
    lo = std::min(lo, u);
    hi = std::max(hi, u);
    su += u;
    const double z = rng.normal<double>(i);
    sn += z;
    sn2 += z * z;
  }
  CHECK(lo >= 0.0);
  CHECK(hi < 1.0);
  CHECK(su / n == doctest::Approx(0.5).epsilon(0.01));
  CHECK(std::abs(sn / n) < 0.01);
  CHECK(sn2 / n == doctest::Approx(1.0).epsilon(0.01));
  CHECK(rng.uniform<float>(5) < 1.0f);
  CHECK(rng.bits(1).v[0] != Philox{43, 3, 7}.bits(1).v[0]);
  CHECK(rng.bits(1).v[0] != Philox{42, 4, 7}.bits(1).v[0]);
  CHECK(rng.bits(1).v[0] != rng.with_step(8).bits(1).v[0]);
}

}  // namespace semiseg::test
