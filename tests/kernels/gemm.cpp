#include "semiseg/kernels/gemm.hpp"

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

TEST_CASE_TEMPLATE("gemm: every transpose combination, leading dimensions and beta", T, float, double) {
  const index_t m = 5, n = 7, k = 3, pad = 2;
  auto reference = [&](bool ta, bool tb, const std::vector<T>& a, const std::vector<T>& b, index_t lda, index_t ldb,
                       std::vector<T> c, T alpha, T beta) {
    for (index_t i = 0; i < m; ++i)
      for (index_t j = 0; j < n; ++j) {
        T s = 0;
        for (index_t l = 0; l < k; ++l) s += (ta ? a[l * lda + i] : a[i * lda + l]) * (tb ? b[j * ldb + l] : b[l * ldb + j]);
        c[i * (n + pad) + j] = alpha * s + beta * c[i * (n + pad) + j];
      }
    return c;
  };
  for (const bool ta : {false, true})
    for (const bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      const index_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
      std::vector<T> a(std::size_t((ta ? k : m) * lda)), b(std::size_t((tb ? n : k) * ldb)), c(std::size_t(m * ldc));
      const Philox rng{1, 2, 3};
      for (std::size_t i = 0; i < a.size(); ++i) a[i] = T(rng.uniform<double>(i) - 0.5);
      for (std::size_t i = 0; i < b.size(); ++i) b[i] = T(rng.uniform<double>(i + 1000) - 0.5);
      for (std::size_t i = 0; i < c.size(); ++i) c[i] = T(rng.uniform<double>(i + 2000) - 0.5);
      Tensor<T, device, flat> da(flat_shape(1, index_t(a.size()))), db(flat_shape(1, index_t(b.size()))),
          dc(flat_shape(1, index_t(c.size())));
      from_host(da.view(), a);
      from_host(db.view(), b);
      from_host(dc.view(), c);
      gemm<device>(ta ? Trans::yes : Trans::no, tb ? Trans::yes : Trans::no, m, n, k, T(0.5), da.data(), lda,
                   db.data(), ldb, T(2), dc.data(), ldc);
      const auto expected = reference(ta, tb, a, b, lda, ldb, c, T(0.5), T(2));
      const auto got = to_host(dc.view());
      double err = 0;
      for (std::size_t i = 0; i < got.size(); ++i) err = std::max(err, double(std::abs(got[i] - expected[i])));
      CHECK(err < 1e-5);
    }
}

}  // namespace semiseg::test
