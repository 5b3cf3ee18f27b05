// Column unfolding for convolution. Contract: for one image of `channels` planes, im2col writes
// the matrix col[(c·K + k), p] (K kernel taps, P output positions) of input values under each
// tap, zero outside the input; col2im is its adjoint, gathering for every input element the sum
// of the column entries that read it, so it needs no atomics on either device.
#pragma once

#include "semiseg/core/launch.hpp"
#include "semiseg/core/shape.hpp"

namespace semiseg {

template <int S>
struct ConvGeometry {
  Small<index_t, S> in{}, out{}, kernel{}, stride{}, pad{}, dilation{};

  SEMISEG_HD index_t in_size() const { return in.product(); }
  SEMISEG_HD index_t out_size() const { return out.product(); }
  SEMISEG_HD index_t taps() const { return kernel.product(); }
};

template <class T, int S>
struct Im2Col {
  const T* x;
  T* col;
  ConvGeometry<S> g;

  SEMISEG_HD void operator()(index_t i) const {
    const index_t P = g.out_size(), K = g.taps();
    index_t p = i % P, k = (i / P) % K;
    const index_t c = i / (P * K);
    index_t src = 0, scale = 1;
    bool inside = true;
    for (int d = S - 1; d >= 0; --d) {
      const index_t o = p % g.out[d], kk = k % g.kernel[d];
      p /= g.out[d];
      k /= g.kernel[d];
      const index_t pos = o * g.stride[d] - g.pad[d] + kk * g.dilation[d];
      inside = inside && pos >= 0 && pos < g.in[d];
      src += pos * scale;
      scale *= g.in[d];
    }
    col[i] = inside ? x[c * g.in_size() + src] : T(0);
  }
};

template <class T, int S>
struct Col2Im {
  const T* col;
  T* x;
  ConvGeometry<S> g;

  SEMISEG_HD void operator()(index_t i) const {
    const index_t N = g.in_size(), P = g.out_size(), K = g.taps();
    const index_t c = i / N;
    Small<index_t, S> pos{};
    index_t rest = i % N;
    for (int d = S - 1; d >= 0; --d) {
      pos[d] = rest % g.in[d];
      rest /= g.in[d];
    }
    T sum = 0;
    for (index_t k = 0; k < K; ++k) {
      index_t kr = k, p = 0, scale = 1;
      bool hit = true;
      for (int d = S - 1; d >= 0 && hit; --d) {
        const index_t kk = kr % g.kernel[d];
        kr /= g.kernel[d];
        const index_t shifted = pos[d] + g.pad[d] - kk * g.dilation[d];
        if (shifted < 0 || shifted % g.stride[d] != 0) {
          hit = false;
          break;
        }
        const index_t o = shifted / g.stride[d];
        if (o >= g.out[d]) {
          hit = false;
          break;
        }
        p += o * scale;
        scale *= g.out[d];
      }
      if (hit) sum += col[(c * K + k) * P + p];
    }
    x[i] = sum;
  }
};

template <Device D, class T, int S>
void im2col(const T* x, T* col, const ConvGeometry<S>& g, index_t channels) {
  launch<D>(channels * g.taps() * g.out_size(), Im2Col<T, S>{x, col, g});
}

template <Device D, class T, int S>
void col2im(const T* col, T* x, const ConvGeometry<S>& g, index_t channels) {
  launch<D>(channels * g.in_size(), Col2Im<T, S>{col, x, g});
}

// y[n, c, p] += bias[c] over a N×C×P tensor.
template <class T>
struct AddChannelBias {
  T* y;
  const T* bias;
  index_t channels, plane;
  SEMISEG_HD void operator()(index_t i) const { y[i] += bias[(i / plane) % channels]; }
};

// db[c] += sum over n and p of dy[n, c, p]; one index per channel.
template <class T>
struct ChannelSum {
  const T* dy;
  T* db;
  index_t batch, channels, plane;
  SEMISEG_HD void operator()(index_t c) const {
    T s = 0;
    for (index_t n = 0; n < batch; ++n) {
      const T* row = dy + (n * channels + c) * plane;
      for (index_t p = 0; p < plane; ++p) s += row[p];
    }
    db[c] += s;
  }
};

}  // namespace semiseg
