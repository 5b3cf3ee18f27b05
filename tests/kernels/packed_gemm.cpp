#include "semiseg/kernels/packed_gemm.hpp"

#include <omp.h>

#include <array>

#include "semiseg/core/philox.hpp"
#include "semiseg/kernels/gemm.hpp"
#include "semiseg/kernels/direct_conv.hpp"
#include "semiseg/kernels/implicit_columns.hpp"
#include "support/harness.hpp"

namespace semiseg::test {

// The packed float kernel against Eigen's product (computed in double) on shapes that cross
// every block edge: partial micro-tiles, several depth panels, several A blocks and B panels.
TEST_CASE("packed gemm: matches the reference across block edges, transposes, beta and threads") {
  struct Case {
    index_t m, n, k;
  };
  const Case cases[] = {{1, 1, 1},
                        {packed::MR + 1, packed::NR + 3, 5},
                        {3, 2 * packed::NR - 1, packed::KC + 7},
                        {packed::MC + packed::MR + 2, 50, 40},
                        {17, packed::NC + 40, 9},
                        {64, 4096 / 16, 144}};
  for (const Case& cs : cases)
    for (const int threads : {1, 2})
      for (const bool ta : {false, true})
        for (const bool tb : {false, true})
          for (const float beta : {0.f, 1.f, 0.5f}) {
            CAPTURE(cs.m);
            CAPTURE(cs.n);
            CAPTURE(cs.k);
            CAPTURE(threads);
            CAPTURE(ta);
            CAPTURE(tb);
            CAPTURE(beta);
            const index_t pad = 3, lda = (ta ? cs.m : cs.k) + pad, ldb = (tb ? cs.k : cs.n) + pad, ldc = cs.n + pad;
            std::vector<float> a(std::size_t((ta ? cs.k : cs.m) * lda)), b(std::size_t((tb ? cs.n : cs.k) * ldb)),
                c(std::size_t(cs.m * ldc));
            const Philox rng{7, 1, 0};
            for (std::size_t i = 0; i < a.size(); ++i) a[i] = rng.uniform<float>(i) - 0.5f;
            for (std::size_t i = 0; i < b.size(); ++i) b[i] = rng.uniform<float>(i + a.size()) - 0.5f;
            for (std::size_t i = 0; i < c.size(); ++i) c[i] = beta == 0.f ? NAN : rng.uniform<float>(i + 7 * a.size());
            std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end()), cd(c.begin(), c.end());
            for (double& v : cd)
              if (std::isnan(v)) v = 0;
            reference_gemm(ta ? Trans::yes : Trans::no, tb ? Trans::yes : Trans::no, cs.m, cs.n, cs.k, 0.75, ad.data(),
                           lda, bd.data(), ldb, double(beta), cd.data(), ldc);
            omp_set_num_threads(threads);
            packed::gemm(ta, tb, cs.m, cs.n, cs.k, 0.75f, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
            double err = 0;
            for (index_t i = 0; i < cs.m; ++i)
              for (index_t j = 0; j < cs.n; ++j) {
                const std::size_t at = std::size_t(i * ldc + j);
                err = std::max(err, std::abs(double(c[at]) - cd[at]));
              }
            CHECK(err < 1e-4 * std::sqrt(double(cs.k)));
            // The padding between rows is never written.
            bool padding_kept = true;
            for (index_t i = 0; i + 1 < cs.m; ++i)
              for (index_t j = cs.n; j < ldc; ++j) {
                const std::size_t at = std::size_t(i * ldc + j);
                padding_kept = padding_kept && (std::isnan(c[at]) ? std::isnan(cd[at]) || beta == 0.f : c[at] == float(cd[at]));
              }
            CHECK(padding_kept);
          }
  omp_set_num_threads(1);
}

TEST_CASE("packed gemm: every entry is written when OpenMP grants fewer threads than asked") {
  const index_t m = 200, n = 2500, k = 140;
  std::vector<float> a(std::size_t(m * k)), b(std::size_t(k * n)), c(std::size_t(m * n), NAN);
  const Philox rng{12, 0, 0};
  for (std::size_t i = 0; i < a.size(); ++i) a[i] = rng.uniform<float>(i) - 0.5f;
  for (std::size_t i = 0; i < b.size(); ++i) b[i] = rng.uniform<float>(i + a.size()) - 0.5f;
  std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end()), cd(c.size());
  reference_gemm(Trans::no, Trans::no, m, n, k, 1.0, ad.data(), k, bd.data(), n, 0.0, cd.data(), n);
  omp_set_dynamic(1);
  omp_set_num_threads(16);
  packed::gemm(false, false, m, n, k, 1.f, a.data(), k, b.data(), n, 0.f, c.data(), n);
  omp_set_dynamic(0);
  omp_set_num_threads(1);
  double err = 0;
  for (std::size_t i = 0; i < c.size(); ++i) err = std::max(err, std::isnan(c[i]) ? 1e9 : std::abs(double(c[i]) - cd[i]));
  CHECK(err < 1e-3);
}

TEST_CASE("packed gemm: row dot products add A·Bᵀ into C") {
  for (const int threads : {1, 2})
    for (const auto& [m, n, k] : {std::array<index_t, 3>{1, 1, 1}, {3, 5, 17}, {8, 144, 4096 + 7}, {17, 9, 2 * 2048 + 33}}) {
      CAPTURE(m);
      CAPTURE(n);
      CAPTURE(k);
      omp_set_num_threads(threads);
      const index_t lda = k + 1, ldb = k + 3, ldc = n + 2;
      std::vector<float> a(std::size_t(m * lda)), b(std::size_t(n * ldb)), c(std::size_t(m * ldc));
      const Philox rng{11, 0, 0};
      for (std::size_t i = 0; i < a.size(); ++i) a[i] = rng.uniform<float>(i) - 0.5f;
      for (std::size_t i = 0; i < b.size(); ++i) b[i] = rng.uniform<float>(i + a.size()) - 0.5f;
      for (std::size_t i = 0; i < c.size(); ++i) c[i] = rng.uniform<float>(i + 9 * a.size());
      std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end()), cd(c.begin(), c.end());
      reference_gemm(Trans::no, Trans::yes, m, n, k, 1.0, ad.data(), lda, bd.data(), ldb, 1.0, cd.data(), ldc);
      packed::gemm_rows_dot(m, n, k, a.data(), lda, b.data(), ldb, c.data(), ldc);
      double err = 0;
      for (std::size_t i = 0; i < c.size(); ++i) err = std::max(err, std::abs(double(c[i]) - cd[i]));
      CHECK(err < 1e-4 * std::sqrt(double(k)));
    }
  omp_set_num_threads(1);
}

// The column panels against im2col's matrix, through the same products: W·col and dY·colᵀ, on
// geometries with stride, dilation, uneven padding and rows that span several output rows.
template <int S>
void check_column_panels(const ConvGeometry<S>& g, index_t channels, index_t out_channels) {
  const index_t rows = channels * g.taps(), P = g.out_size();
  std::vector<float> x(std::size_t(channels * g.in_size())), w(std::size_t(out_channels * rows)),
      dy(std::size_t(out_channels * P)), col(std::size_t(rows * P));
  const Philox rng{9, 2, 0};
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = rng.uniform<float>(i) - 0.5f;
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = rng.uniform<float>(i + x.size()) - 0.5f;
  for (std::size_t i = 0; i < dy.size(); ++i) dy[i] = rng.uniform<float>(i + 3 * x.size()) - 0.5f;
  im2col<cpu>(x.data(), col.data(), g, channels);
  std::vector<float> y(std::size_t(out_channels * P)), y_ref = y, dw(w.size(), 1.f), dw_ref = dw;
  reference_gemm(Trans::no, Trans::no, out_channels, P, rows, 1.f, w.data(), rows, col.data(), P, 0.f, y_ref.data(), P);
  packed::gemm_packed_b(false, packed::ColumnPanel<S>{x.data(), g}, out_channels, P, rows, 1.f, w.data(), rows, 0.f,
                        y.data(), P);
  reference_gemm(Trans::no, Trans::yes, out_channels, rows, P, 1.f, dy.data(), P, col.data(), P, 1.f, dw_ref.data(), rows);
  packed::gemm_packed_b(false, packed::TransposedColumnPanel<S>{x.data(), g}, out_channels, rows, P, 1.f, dy.data(), P,
                        1.f, dw.data(), rows);
  if (packed::direct_convolution_fits(g)) {
    std::vector<float> y_direct(y.size());
    packed::direct_convolution(x.data(), 0, 1, channels, w.data(), out_channels, g, y_direct.data(), 0);
    double ed = 0;
    for (std::size_t i = 0; i < y.size(); ++i) ed = std::max(ed, double(std::abs(y_direct[i] - y_ref[i])));
    CHECK(ed < 1e-4);
  }
  double ey = 0, ew = 0;
  for (std::size_t i = 0; i < y.size(); ++i) ey = std::max(ey, double(std::abs(y[i] - y_ref[i])));
  for (std::size_t i = 0; i < dw.size(); ++i) ew = std::max(ew, double(std::abs(dw[i] - dw_ref[i])));
  CHECK(ey < 1e-4);
  CHECK(ew < 1e-3);
}

TEST_CASE("packed gemm: columns made on the fly equal im2col's, 2D and 3D") {
  for (const int threads : {1, 2}) {
    omp_set_num_threads(threads);
    ConvGeometry<2> g2;
    g2.in = {{13, 11}};
    g2.kernel = {{3, 3}};
    g2.stride = {{2, 1}};
    g2.pad = {{1, 2}};
    g2.dilation = {{1, 2}};
    g2.out = {{7, 11}};  // (in + 2·pad − dilation·(kernel − 1) − 1) / stride + 1
    check_column_panels(g2, 3, 5);
    g2.in = {{64, 64}};
    g2.stride = {{1, 1}};
    g2.pad = {{1, 1}};
    g2.dilation = {{1, 1}};
    g2.out = {{64, 64}};
    check_column_panels(g2, 4, 16);
    ConvGeometry<3> g3;
    g3.in = {{6, 7, 9}};
    g3.kernel = {{3, 2, 3}};
    g3.stride = {{1, 2, 2}};
    g3.pad = {{1, 0, 1}};
    g3.dilation = {{2, 1, 1}};
    g3.out = {{4, 3, 5}};
    check_column_panels(g3, 2, 3);
    g3.stride = {{1, 1, 1}};
    g3.pad = {{2, 0, 1}};
    g3.out = {{6, 6, 9}};  // dilation (2, 1, 1), kernel (3, 2, 3): 6 + 4 − 4, 7 − 1, 9 + 2 − 2
    check_column_panels(g3, 3, 9);
    g2.in = {{9, 40}};
    g2.pad = {{0, 3}};
    g2.out = {{7, 44}};  // kernel 3: 9 − 2, 40 + 6 − 2
    check_column_panels(g2, 2, 17);
  }
  omp_set_num_threads(1);
}

}  // namespace semiseg::test
