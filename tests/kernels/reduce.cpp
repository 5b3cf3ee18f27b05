#include "semiseg/kernels/reduce.hpp"

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

namespace {
struct Iota {
  SEMISEG_HD double operator()(index_t i) const { return static_cast<double>(i); }
};

template <class T>
struct Read {
  const T* x;
  SEMISEG_HD T operator()(index_t i) const { return x[i]; }
};

// Segment s, index i: {x[s·length + i], x[s·length + i]²}.
template <class T>
struct TwoMoments {
  const T* x;
  index_t length;
  SEMISEG_HD Sums<2> operator()(index_t s, index_t i) const {
    Sums<2> r;
    const double v = static_cast<double>(x[s * length + i]);
    r[0] = v;
    r[1] = v * v;
    return r;
  }
};

// The order the contract promises: in-chunk sums in index order, then chunk partials in order.
double chunked_reference(const std::vector<double>& v, index_t begin, index_t length) {
  double total = 0;
  for (index_t c = 0; c < length; c += reduce_chunk) {
    double acc = 0;
    for (index_t i = c; i < std::min(length, c + reduce_chunk); ++i) acc += v[std::size_t(begin + i)];
    total += acc;
  }
  return total;
}
}  // namespace

TEST_CASE("reduce: exact integer sums, empty and short ranges") {
  Reducer<device> r;
  CHECK(r.sum(0, Iota{}) == 0.0);
  CHECK(r.sum(1, Iota{}) == 0.0);
  CHECK(r.sum(10, Iota{}) == 45.0);
  for (index_t n : {index_t(255), index_t(256), index_t(257), index_t(100003)}) {
    CAPTURE(n);
    CHECK(r.sum(n, Iota{}) == double(n) * double(n - 1) / 2.0);
  }
  CHECK(deterministic_sum<device>(1000, Iota{}) == 499500.0);
}

TEST_CASE_TEMPLATE("reduce: the result is bit-identical to the documented chunk order", T, float, double) {
  const index_t n = 70001;
  auto x = random_tensor<T, flat>(flat_shape(1, n), 9);
  const auto host = to_host(x.view());
  const std::vector<double> v(host.begin(), host.end());
  Reducer<device> r;
  const double s = r.sum(n, Read<T>{x.data()});
  CHECK(s == chunked_reference(v, 0, n));
  CHECK(r.sum(n, Read<T>{x.data()}) == s);  // repeatable with the scratch reused
}

TEST_CASE("reduce: segmented sums with several components") {
  const index_t segments = 5, length = 777;
  auto x = random_tensor<double, flat>(flat_shape(segments, length), 4);
  const auto v = to_host(x.view());
  std::vector<double> squares(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) squares[i] = v[i] * v[i];
  Reducer<device> r;
  const std::vector<double> s = r.segmented_sum<2>(segments, length, TwoMoments<double>{x.data(), length});
  REQUIRE(s.size() == std::size_t(2 * segments));
  for (index_t k = 0; k < segments; ++k) {
    CAPTURE(k);
    CHECK(s[std::size_t(2 * k)] == chunked_reference(v, k * length, length));
    CHECK(s[std::size_t(2 * k + 1)] == chunked_reference(squares, k * length, length));
  }
  CHECK(r.segmented_sum<2>(0, length, TwoMoments<double>{x.data(), length}).empty());
  const auto zero_length = r.segmented_sum<2>(3, 0, TwoMoments<double>{x.data(), length});
  CHECK(zero_length == std::vector<double>(6, 0.0));
}

}  // namespace semiseg::test
