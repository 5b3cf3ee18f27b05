#include "semiseg/core/launch.hpp"

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

namespace {
struct Square {
  double* out;
  SEMISEG_HD void operator()(index_t i) const { out[i] = double(i) * double(i); }
};
}  // namespace

TEST_CASE("launch: visits every index once, below and above the parallel grain") {
  for (const index_t n : {index_t{1}, index_t{1000}, index_t{3 * SEMISEG_PARALLEL_GRAIN + 7}}) {
    CAPTURE(n);
    Tensor<double, device, flat> t(flat_shape(1, n));
    launch<device>(n, Square{t.data()});
    const auto h = to_host(t.view());
    bool all = true;
    for (index_t i = 0; i < n; ++i) all = all && h[std::size_t(i)] == double(i) * double(i);
    CHECK(all);
  }
  launch<device>(0, Square{nullptr});  // an empty launch does nothing
  synchronize<device>();
}

}  // namespace semiseg::test
