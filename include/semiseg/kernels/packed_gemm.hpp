// Single-precision matrix multiply on the cpu, written for the shapes of this library: convolution
// products with few output channels and many positions, and linear layers. Contract as gemm():
// C = alpha·op(A)·op(B) + beta·C, row-major, with leading dimensions; beta = 0 ignores C's
// previous contents.
//
// The classic blocked scheme: op(B) is packed in panels of KC × NC (strips NR columns wide), op(A)
// in blocks of MC × KC (strips MR rows tall), and a register-blocked micro-kernel multiplies one
// A strip by one B strip into an MR × NR tile of C. Packing zero-pads strips to full width, so the
// micro-kernel has one form; tiles at the matrix edge go through a small buffer. Vectors are
// GCC/Clang vector extensions as wide as the target's widest float registers (AVX-512: 16 lanes,
// AVX: 8, else 4), so the same code compiles everywhere and fills the registers of each target.
//
// Threads split the longer of the m and n axes. Each thread packs into its own buffers, which
// grow to their largest size once and are then reused: a steady state allocates nothing.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "semiseg/core/shape.hpp"

namespace semiseg::packed {

#if defined(__AVX512F__)
inline constexpr index_t lanes = 16;
inline constexpr index_t MR = 8;
#elif defined(__AVX__)
inline constexpr index_t lanes = 8;
inline constexpr index_t MR = 6;
#else
inline constexpr index_t lanes = 4;
inline constexpr index_t MR = 4;
#endif
inline constexpr index_t NR = 2 * lanes;  // two vectors per tile row
inline constexpr index_t KC = 128, MC = 16 * MR, NC = 2048;

using vfloat = float __attribute__((vector_size(lanes * sizeof(float)), aligned(alignof(float))));

inline vfloat load(const float* p) {
  vfloat v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, vfloat v) { std::memcpy(p, &v, sizeof v); }

// A row-major X with leading dimension ld, used as op(X): X or its transpose.
struct Operand {
  const float* data;
  index_t ld;
  bool transposed;
};

// Rows [i0, i0+mc) × depth [p0, p0+kc) of op(A) into MR-row strips: strip s, depth k, row r at
// out[(s·kc + k)·MR + r]; rows past mc are zero.
inline void pack_a(const Operand& a, index_t i0, index_t mc, index_t p0, index_t kc, float* out) {
  for (index_t s = 0; s < mc; s += MR) {
    const index_t rows = std::min(MR, mc - s);
    float* o = out + s * kc;
    if (a.transposed) {
      for (index_t k = 0; k < kc; ++k) {
        const float* src = a.data + (p0 + k) * a.ld + i0 + s;
        for (index_t r = 0; r < rows; ++r) o[k * MR + r] = src[r];
        for (index_t r = rows; r < MR; ++r) o[k * MR + r] = 0.f;
      }
    } else {
      // Read each row of A along its length; the writes stay inside the strip.
      for (index_t r = 0; r < rows; ++r) {
        const float* src = a.data + (i0 + s + r) * a.ld + p0;
        for (index_t k = 0; k < kc; ++k) o[k * MR + r] = src[k];
      }
      for (index_t r = rows; r < MR; ++r)
        for (index_t k = 0; k < kc; ++k) o[k * MR + r] = 0.f;
    }
  }
}

// Depth [p0, p0+kc) × columns [j0, j0+nc) of op(B) into NR-column strips: strip s, depth k,
// column c at out[(s·kc + k)·NR + c]; columns past nc are zero.
inline void pack_b(const Operand& b, index_t p0, index_t kc, index_t j0, index_t nc, float* out) {
  for (index_t s = 0; s < nc; s += NR) {
    const index_t cols = std::min(NR, nc - s);
    float* o = out + s * kc;
    if (!b.transposed) {
      for (index_t k = 0; k < kc; ++k, o += NR) {
        const float* src = b.data + (p0 + k) * b.ld + j0 + s;
        if (cols == NR) {
          store(o, load(src));
          store(o + lanes, load(src + lanes));
        } else {
          for (index_t c = 0; c < cols; ++c) o[c] = src[c];
          for (index_t c = cols; c < NR; ++c) o[c] = 0.f;
        }
      }
    } else {
      for (index_t c = 0; c < cols; ++c) {
        const float* src = b.data + (j0 + s + c) * b.ld + p0;
        for (index_t k = 0; k < kc; ++k) o[k * NR + c] = src[k];
      }
      for (index_t c = cols; c < NR; ++c)
        for (index_t k = 0; k < kc; ++k) o[k * NR + c] = 0.f;
    }
  }
}

using Tile = vfloat[MR][2];

// C's rows × cols corner = alpha·tile + beta·C (beta = 0 ignores C).
inline void write_tile(const Tile& acc, float* c, index_t ldc, index_t rows, index_t cols, float alpha, float beta) {
  if (rows == MR && cols == NR) {
    for (index_t r = 0; r < MR; ++r) {
      float* cr = c + r * ldc;
      if (beta == 0.f) {
        store(cr, alpha * acc[r][0]);
        store(cr + lanes, alpha * acc[r][1]);
      } else {
        store(cr, alpha * acc[r][0] + beta * load(cr));
        store(cr + lanes, alpha * acc[r][1] + beta * load(cr + lanes));
      }
    }
    return;
  }
  float tile[MR][NR];
  for (index_t r = 0; r < MR; ++r) {
    store(tile[r], acc[r][0]);
    store(tile[r] + lanes, acc[r][1]);
  }
  for (index_t r = 0; r < rows; ++r)
    for (index_t j = 0; j < cols; ++j) {
      float& out = c[r * ldc + j];
      out = beta == 0.f ? alpha * tile[r][j] : alpha * tile[r][j] + beta * out;
    }
}

// tile(MR × NR) = Σ_k a[k] ⊗ b[k], then C's rows × cols corner = alpha·tile + beta·C.
inline void micro_kernel(index_t kc, const float* a, const float* b, float* c, index_t ldc, index_t rows, index_t cols,
                         float alpha, float beta) {
  Tile acc;
  for (index_t r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = vfloat{};
  for (index_t k = 0; k < kc; ++k, a += MR, b += NR) {
    const vfloat b0 = load(b), b1 = load(b + lanes);
    for (index_t r = 0; r < MR; ++r) {
      const float ar = a[r];
      acc[r][0] += ar * b0;
      acc[r][1] += ar * b1;
    }
  }
  write_tile(acc, c, ldc, rows, cols, alpha, beta);
}

// op(B) given as a matrix in memory.
struct PackedOperand {
  Operand b;
  void operator()(index_t p0, index_t kc, index_t j0, index_t nc, float* out) const { pack_b(b, p0, kc, j0, nc, out); }
};

// This thread's packing buffers, grown once to the largest size asked for.
struct Buffers {
  std::vector<float> a, b;
};
inline Buffers& thread_buffers() {
  thread_local Buffers buffers;
  return buffers;
}

// C[i0.., j0..] for the block m × n of the product, on the calling thread. `pack` writes a panel
// of op(B) as pack_b does: a matrix in memory (PackedOperand) or values made on the fly.
template <class PackB>
void multiply_block(const Operand& a, const PackB& pack, index_t i0, index_t m, index_t j0, index_t n, index_t k,
                           float alpha, float beta, float* c, index_t ldc) {
  Buffers& buf = thread_buffers();
  const auto need_b = static_cast<std::size_t>(KC * ((std::min(NC, n) + NR - 1) / NR * NR));
  const auto need_a = static_cast<std::size_t>(KC * ((std::min(MC, m) + MR - 1) / MR * MR));
  if (buf.b.size() < need_b) buf.b.resize(need_b);
  if (buf.a.size() < need_a) buf.a.resize(need_a);
  for (index_t jc = 0; jc < n; jc += NC) {
    const index_t nc = std::min(NC, n - jc);
    for (index_t pc = 0; pc < k; pc += KC) {
      const index_t kc = std::min(KC, k - pc);
      const float beta_here = pc == 0 ? beta : 1.f;
      pack(pc, kc, j0 + jc, nc, buf.b.data());
      for (index_t ic = 0; ic < m; ic += MC) {
        const index_t mc = std::min(MC, m - ic);
        pack_a(a, i0 + ic, mc, pc, kc, buf.a.data());
        for (index_t jr = 0; jr < nc; jr += NR)
          for (index_t ir = 0; ir < mc; ir += MR)
            micro_kernel(kc, buf.a.data() + ir * kc, buf.b.data() + jr * kc,
                         c + (i0 + ic + ir) * ldc + j0 + jc + jr, ldc, std::min(MR, mc - ir), std::min(NR, nc - jr),
                         alpha, beta_here);
      }
    }
  }
}

// The whole product with op(B) from a packer; threads split the longer axis in whole tiles when
// the product is big enough to pay for a parallel region.
template <class PackB>
void gemm_packed_b(bool ta, const PackB& pack, index_t m, index_t n, index_t k, float alpha, const float* a, index_t lda,
                   float beta, float* c, index_t ldc) {
  const Operand oa{a, lda, ta};
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const double work = 2.0 * double(m) * double(n) * double(k);
  const bool split_n = n >= m;
  const index_t extent = split_n ? n : m, unit = split_n ? NR : MR;
  const index_t parts = std::min<index_t>(threads, extent / unit);
  if (parts <= 1 || work < 4e6) {
    multiply_block(oa, pack, 0, m, 0, n, k, alpha, beta, c, ldc);
    return;
  }
#pragma omp parallel num_threads(static_cast<int>(parts))
  {
    // Divide by the threads the region got, which may be fewer than asked for (OMP_DYNAMIC).
    const index_t t = omp_get_thread_num(), got = omp_get_num_threads(), units = (extent + unit - 1) / unit;
    const index_t begin = units * t / got * unit, end = std::min(extent, units * (t + 1) / got * unit);
    if (end > begin) {
      if (split_n) multiply_block(oa, pack, 0, m, begin, end - begin, k, alpha, beta, c, ldc);
      else multiply_block(oa, pack, begin, end - begin, 0, n, k, alpha, beta, c, ldc);
    }
  }
}

inline void gemm(bool ta, bool tb, index_t m, index_t n, index_t k, float alpha, const float* a, index_t lda,
                 const float* b, index_t ldb, float beta, float* c, index_t ldc) {
  gemm_packed_b(ta, PackedOperand{{b, ldb, tb}}, m, n, k, alpha, a, lda, beta, c, ldc);
}

// C += A·Bᵀ for A (m × k) and B (n × k), both with rows contiguous along k: each entry is a dot
// product of two rows. For a small m (a convolution's weight gradient: out channels × column
// rows, summed over positions) this beats packing, which would copy all of B to use each value m
// times: here B is read in place. Tiles of 4 × 4 rows accumulate vectors along k, in chunks of
// k that keep A's rows in cache, and reduce each tile once per chunk.
// Column tile tj of gemm_rows_dot (a plain function: nvcc's device pass fails on vector
// constants inside host lambdas).
inline void rows_dot_tile(index_t tj, index_t m, index_t n, index_t k, const float* a, index_t lda, const float* b,
                          index_t ldb, float* c, index_t ldc) {
  constexpr index_t T = 4, chunk = 2048;
  const index_t j0 = tj * T, nj = std::min(T, n - j0);
  for (index_t p0 = 0; p0 < k; p0 += chunk) {
    const index_t pk = std::min(chunk, k - p0), vec_end = pk / lanes * lanes;
    for (index_t i0 = 0; i0 < m; i0 += T) {
      const index_t ni = std::min(T, m - i0);
      const float* ar[T];
      const float* br[T];
      // Rows past the matrix edge repeat the last one; their sums are not stored.
      for (index_t t = 0; t < T; ++t) {
        ar[t] = a + (i0 + std::min(t, ni - 1)) * lda + p0;
        br[t] = b + (j0 + std::min(t, nj - 1)) * ldb + p0;
      }
      vfloat acc[T][T];
      for (index_t i = 0; i < T; ++i)
        for (index_t j = 0; j < T; ++j) acc[i][j] = vfloat{};
      for (index_t p = 0; p < vec_end; p += lanes) {
        vfloat av[T], bv[T];
        for (index_t t = 0; t < T; ++t) {
          av[t] = load(ar[t] + p);
          bv[t] = load(br[t] + p);
        }
        for (index_t i = 0; i < T; ++i)
          for (index_t j = 0; j < T; ++j) acc[i][j] += av[i] * bv[j];
      }
      for (index_t i = 0; i < ni; ++i)
        for (index_t j = 0; j < nj; ++j) {
          float sum = 0.f;
          for (index_t l = 0; l < lanes; ++l) sum += acc[i][j][l];
          for (index_t p = vec_end; p < pk; ++p) sum += ar[i][p] * br[j][p];
          c[(i0 + i) * ldc + j0 + j] += sum;
        }
    }
  }
}

inline void gemm_rows_dot(index_t m, index_t n, index_t k, const float* a, index_t lda, const float* b, index_t ldb,
                          float* c, index_t ldc) {
  const index_t tiles_n = (n + 3) / 4;
  // Threads take whole column tiles, so no two write the same entry of C.
  if (!omp_in_parallel() && omp_get_max_threads() > 1 && tiles_n > 1 && 2.0 * double(m) * double(n) * double(k) >= 4e6) {
#pragma omp parallel for schedule(static)
    for (index_t tj = 0; tj < tiles_n; ++tj) rows_dot_tile(tj, m, n, k, a, lda, b, ldb, c, ldc);
  } else {
    for (index_t tj = 0; tj < tiles_n; ++tj) rows_dot_tile(tj, m, n, k, a, lda, b, ldb, c, ldc);
  }
}

}  // namespace semiseg::packed
