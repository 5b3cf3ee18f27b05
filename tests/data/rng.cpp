#include "semiseg/data/rng.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <vector>

namespace semiseg::test {

using data::Rng;

std::vector<double> draws(Rng rng, int n) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i) out.push_back(rng.uniform());
  return out;
}

TEST_CASE("an Rng's draws depend on seed, stream, step and lane only") {
  CHECK(draws(Rng(1, 2, 3, 4), 8) == draws(Rng(1, 2, 3, 4), 8));
  CHECK(draws(Rng(1, 2, 3, 4), 8) != draws(Rng(1, 2, 3, 5), 8));
  CHECK(draws(Rng(1, 2, 3, 4), 8) != draws(Rng(1, 2, 4, 4), 8));
  CHECK(draws(Rng(1, 2, 3, 4), 8) != draws(Rng(1, 3, 3, 4), 8));
  CHECK(draws(Rng(1, 2, 3, 4), 8) != draws(Rng(2, 2, 3, 4), 8));
}

TEST_CASE("fork gives the same child for the same purpose, whatever was drawn before") {
  Rng a(7, 1), b(7, 1);
  b.uniform();
  b.normal();
  CHECK(draws(a.fork(3), 5) == draws(b.fork(3), 5));
  CHECK(draws(a.fork(3), 5) != draws(a.fork(4), 5));
  CHECK(draws(a.fork(3), 5) != draws(a, 5));
  CHECK(draws(a.fork(data::forks::strong_view), 5) != draws(a.fork(1), 5));
}

TEST_CASE("integer draws cover the closed range evenly") {
  Rng rng(11, 0);
  std::vector<int> counts(7, 0);
  const int n = 70000;
  for (int i = 0; i < n; ++i) {
    const std::int64_t k = rng.integer(-3, 3);
    REQUIRE(k >= -3);
    REQUIRE(k <= 3);
    ++counts[static_cast<std::size_t>(k + 3)];
  }
  // Each of 7 values: 10000 expected, standard deviation about 93.
  for (int c : counts) CHECK(std::abs(c - 10000) < 500);
  CHECK(rng.integer(5, 5) == 5);
  const std::int64_t lo = std::numeric_limits<std::int64_t>::min(), hi = std::numeric_limits<std::int64_t>::max();
  const std::int64_t wide = rng.integer(lo, hi);
  CHECK(wide >= lo);
  CHECK_THROWS_AS(rng.integer(1, 0), value_error);
}

TEST_CASE("uniform and normal draws have the right moments") {
  Rng rng(3, 9);
  double su = 0, sn = 0, sn2 = 0;
  const int n = 40000;
  for (int i = 0; i < n; ++i) {
    const double u = rng.uniform(2.0, 4.0);
    REQUIRE(u >= 2.0);
    REQUIRE(u < 4.0);
    su += u;
    const double z = rng.normal(1.0, 2.0);
    sn += z;
    sn2 += (z - 1.0) * (z - 1.0);
  }
  CHECK(su / n == doctest::Approx(3.0).epsilon(0.01));
  CHECK(sn / n == doctest::Approx(1.0).epsilon(0.05));
  CHECK(sn2 / n == doctest::Approx(4.0).epsilon(0.03));
  int heads = 0;
  for (int i = 0; i < n; ++i) heads += rng.bernoulli(0.25);
  CHECK(heads == doctest::Approx(n / 4).epsilon(0.03));
}

}  // namespace semiseg::test
