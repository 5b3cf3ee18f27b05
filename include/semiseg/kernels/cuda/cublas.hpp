// cuBLAS behind gemm<cuda>. Contract: row-major GEMM expressed as cuBLAS's column-major one
// (C^T = op(B)^T·op(A)^T); one handle per host thread, created on first use.
#pragma once

#include <cublas_v2.h>

#include <string>

#include "semiseg/core/memory.hpp"

namespace semiseg {

inline void cublas_check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw device_error(std::string("semiseg: ") + what + " failed with cuBLAS status " + std::to_string(int(status)));
}

inline cublasHandle_t cublas_handle() {
  struct Holder {
    cublasHandle_t handle{};
    Holder() { cublas_check(cublasCreate(&handle), "cublasCreate"); }
    ~Holder() { cublasDestroy(handle); }
  };
  thread_local Holder holder;
  return holder.handle;
}

inline void cublas_gemm_column_major(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha,
                                     const float* a, int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  cublas_check(cublasSgemm(cublas_handle(), ta, tb, m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc), "cublasSgemm");
}
inline void cublas_gemm_column_major(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, double alpha,
                                     const double* a, int lda, const double* b, int ldb, double beta, double* c,
                                     int ldc) {
  cublas_check(cublasDgemm(cublas_handle(), ta, tb, m, n, k, &alpha, a, lda, b, ldb, &beta, c, ldc), "cublasDgemm");
}

template <class T>
void cublas_gemm_row_major(bool ta, bool tb, index_t m, index_t n, index_t k, T alpha, const T* a, index_t lda,
                           const T* b, index_t ldb, T beta, T* c, index_t ldc) {
  cublas_gemm_column_major(tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, int(n), int(m), int(k),
                           alpha, b, int(ldb), a, int(lda), beta, c, int(ldc));
}

}  // namespace semiseg
