// Matrix multiply. Contract: C = alpha·op(A)·op(B) + beta·C on row-major matrices with leading
// dimensions lda/ldb/ldc; op transposes when asked. cpu runs float through packed_gemm.hpp and
// other types (the double gradient checks) through Eigen, which tests also keep as the reference;
// cuda calls cuBLAS. beta = 0 ignores C's previous contents (NaN included).
#pragma once

#include <Eigen/Core>

#include <type_traits>

#include "semiseg/core/device.hpp"
#include "semiseg/kernels/packed_gemm.hpp"
#include "semiseg/config.hpp"

#if SEMISEG_HAS_CUDA
#include "semiseg/kernels/cuda/cublas.hpp"
#endif

namespace semiseg {

enum class Trans : bool { no = false, yes = true };

template <class T>
void reference_gemm(Trans ta, Trans tb, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda, const T* b,
                    index_t ldb, T beta, T* c, index_t ldc);

template <Device D, class T>
void gemm(Trans ta, Trans tb, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda, const T* b,
          index_t ldb, T beta, T* c, index_t ldc) {
  require_device_compiled<D>();
  if (m <= 0 || n <= 0) return;
  if constexpr (is_cuda<D>) {
#if SEMISEG_HAS_CUDA
    cublas_gemm_row_major(ta == Trans::yes, tb == Trans::yes, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
  } else {
    if constexpr (std::is_same_v<T, float>) {
      if (k > 0) return packed::gemm(ta == Trans::yes, tb == Trans::yes, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
    reference_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
}

// Eigen's product on the same contract, on the cpu: the path for double, and the reference the
// packed kernel is tested against.
template <class T>
void reference_gemm(Trans ta, Trans tb, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda, const T* b,
                    index_t ldb, T beta, T* c, index_t ldc) {
  if (m <= 0 || n <= 0) return;
  using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using ConstMap = Eigen::Map<const Matrix, Eigen::Unaligned, Eigen::OuterStride<>>;
  using Map = Eigen::Map<Matrix, Eigen::Unaligned, Eigen::OuterStride<>>;
  Map cm(c, m, n, Eigen::OuterStride<>(ldc));
  if (k <= 0) {
    if (beta == T(0)) cm.setZero();
    else cm *= beta;
    return;
  }
  // op(A) is m×k: stored k×m when transposed.
  const index_t ar = ta == Trans::yes ? k : m, ac = ta == Trans::yes ? m : k;
  const index_t br = tb == Trans::yes ? n : k, bc = tb == Trans::yes ? k : n;
  ConstMap am(a, ar, ac, Eigen::OuterStride<>(lda));
  ConstMap bm(b, br, bc, Eigen::OuterStride<>(ldb));
  // beta = 0 assigns the product directly, which skips a zeroing pass over C.
  auto product = [&](const auto& p) {
    if (beta == T(0)) {
      cm.noalias() = alpha * p;
    } else {
      if (beta != T(1)) cm *= beta;
      cm.noalias() += alpha * p;
    }
  };
  if (ta == Trans::no && tb == Trans::no) product(am * bm);
  else if (ta == Trans::yes && tb == Trans::no) product(am.transpose() * bm);
  else if (ta == Trans::no && tb == Trans::yes) product(am * bm.transpose());
  else product(am.transpose() * bm.transpose());
}

}  // namespace semiseg
