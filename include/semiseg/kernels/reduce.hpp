// Deterministic sums on any device. Contract: segmented_sum<K> adds K double-valued terms over
// `length` indices for each of `segments` segments; the terms are cut into fixed chunks of
// `reduce_chunk` indices, each chunk is added in index order by one work item, and the chunk
// partials are added on the host in chunk order. The order of every addition is therefore fixed
// by (segments, length) alone, so cpu and cuda give the same sums up to the rounding of the terms
// themselves, whatever the thread count. Accumulation is in double. A Reducer keeps its scratch
// buffers, so repeated sums of the same size do not allocate.
#pragma once

#include <vector>

#include "semiseg/core/launch.hpp"
#include "semiseg/core/memory.hpp"

namespace semiseg {

// Small enough that a cuda grid has work for every SM on a 64×64 image, large enough that the
// host pass over the partials is negligible.
inline constexpr index_t reduce_chunk = 256;

// K sums carried together, so one pass over memory can feed several reductions (Dice needs the
// intersection and both cardinalities).
template <int K>
struct Sums {
  double v[K]{};
  SEMISEG_HD double& operator[](int i) { return v[i]; }
  SEMISEG_HD const double& operator[](int i) const { return v[i]; }
};

namespace detail {
// One work item per chunk: partial[chunk·K + k] = Σ_{i in chunk} term(segment, i)[k].
template <int K, class F>
struct SumChunks {
  F term;
  double* partial;
  index_t length, chunks_per_segment;
  SEMISEG_HD void operator()(index_t chunk) const {
    const index_t segment = chunk / chunks_per_segment;
    const index_t begin = (chunk % chunks_per_segment) * reduce_chunk;
    const index_t end = begin + reduce_chunk < length ? begin + reduce_chunk : length;
    Sums<K> acc;
    for (index_t i = begin; i < end; ++i) {
      const Sums<K> t = term(segment, i);
      for (int k = 0; k < K; ++k) acc[k] += t[k];
    }
    for (int k = 0; k < K; ++k) partial[chunk * K + k] = acc[k];
  }
};

// Adapts a one-index term returning a double to the segmented form.
template <class F>
struct ScalarTerm {
  F f;
  SEMISEG_HD Sums<1> operator()(index_t, index_t i) const {
    Sums<1> s;
    s[0] = static_cast<double>(f(i));
    return s;
  }
};
}  // namespace detail

template <Device D>
class Reducer {
 public:
  // Returns segments·K sums, segment-major: out[segment·K + k], valid until the next call (no
  // allocation once warm). `term(segment, i)` must be a
  // SEMISEG_HD functor returning Sums<K>.
  template <int K, class F>
  const std::vector<double>& segmented_sum(index_t segments, index_t length, const F& term) {
    out_.assign(static_cast<std::size_t>(segments > 0 ? segments * K : 0), 0.0);
    if (segments <= 0 || length <= 0) return out_;
    const index_t per_segment = (length + reduce_chunk - 1) / reduce_chunk;
    const index_t chunks = segments * per_segment;
    reserve(chunks * K);
    launch<D>(chunks, detail::SumChunks<K, F>{term, scratch_, length, per_segment}, grain_for(reduce_chunk));
    host_.resize(static_cast<std::size_t>(chunks * K));
    copy<cpu, D>(host_.data(), scratch_, chunks * K);
    for (index_t s = 0; s < segments; ++s)
      for (index_t c = 0; c < per_segment; ++c)
        for (int k = 0; k < K; ++k)
          out_[static_cast<std::size_t>(s * K + k)] += host_[static_cast<std::size_t>((s * per_segment + c) * K + k)];
    return out_;
  }

  // Σ_{i<n} term(i), for a SEMISEG_HD functor returning a number.
  template <class F>
  double sum(index_t n, const F& term) {
    return segmented_sum<1>(1, n, detail::ScalarTerm<F>{term})[0];
  }

  Reducer() = default;
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;
  Reducer(Reducer&& o) noexcept { swap(o); }
  Reducer& operator=(Reducer&& o) noexcept {
    swap(o);
    return *this;
  }
  ~Reducer() { release<D>(scratch_); }

 private:
  void reserve(index_t count) {
    if (count <= capacity_) return;
    release<D>(scratch_);
    scratch_ = nullptr;
    capacity_ = 0;
    scratch_ = allocate<D, double>(count);
    capacity_ = count;
  }
  void swap(Reducer& o) noexcept {
    std::swap(scratch_, o.scratch_);
    std::swap(capacity_, o.capacity_);
    std::swap(host_, o.host_);
    std::swap(out_, o.out_);
  }
  double* scratch_ = nullptr;
  index_t capacity_ = 0;
  std::vector<double> host_, out_;
};

// One-off sum that allocates its scratch; use a Reducer in loops.
template <Device D, class F>
double deterministic_sum(index_t n, const F& term) {
  Reducer<D> r;
  return r.sum(n, term);
}

}  // namespace semiseg
