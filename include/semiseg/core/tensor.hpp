// Tensors. Contract: a TensorView is a non-owning, trivially copyable window on contiguous
// N×C(×D)×H×W memory of one device; a Tensor owns such memory, is move-only, and keeps its
// capacity when resized to a shape that fits, so a steady training step does not allocate.
// The spatial rank comes from the dimension tag, so mixing 2D and 3D fails to compile.
#pragma once

#include <type_traits>
#include <utility>
#include <vector>

#include "semiseg/core/dim.hpp"
#include "semiseg/core/memory.hpp"
#include "semiseg/core/shape.hpp"

namespace semiseg {

template <Dimension Dim>
using shape_of = Shape<Dim::spatial + 2>;

// The N×C shape of features and logits.
constexpr Shape<2> flat_shape(index_t n, index_t c) {
  Shape<2> s;
  s[0] = n;
  s[1] = c;
  return s;
}

template <class T, Device Dev, Dimension Dim>
struct TensorView {
  using value_type = std::remove_const_t<T>;
  using device = Dev;
  using dim = Dim;
  using shape_type = shape_of<Dim>;

  T* data = nullptr;
  shape_type shape{};

  TensorView() = default;
  TensorView(T* d, const shape_type& s) : data(d), shape(s) {}
  // A mutable view converts to a read-only one.
  template <class U>
    requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>)
  TensorView(const TensorView<U, Dev, Dim>& o) : data(o.data), shape(o.shape) {}

  index_t size() const { return shape.size(); }
  index_t n() const { return shape.n(); }
  index_t c() const { return shape.c(); }
  index_t plane() const { return shape.plane(); }
};

template <class T, Device Dev, Dimension Dim>
class Tensor {
 public:
  using value_type = T;
  using device = Dev;
  using dim = Dim;
  using shape_type = shape_of<Dim>;

  Tensor() = default;
  explicit Tensor(const shape_type& shape) { resize(shape); }
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;
  Tensor(Tensor&& o) noexcept { swap(o); }
  Tensor& operator=(Tensor&& o) noexcept {
    swap(o);
    return *this;
  }
  ~Tensor() { release<Dev>(data_); }

  // Changes the shape; reallocates only when the new size exceeds the capacity. Contents are
  // unspecified afterwards.
  void resize(const shape_type& shape) {
    if (shape.size() > capacity_) {
      release<Dev>(data_);
      data_ = nullptr;
      capacity_ = 0;
      data_ = allocate<Dev, T>(shape.size());
      capacity_ = shape.size();
    }
    shape_ = shape;
  }
  void zero() { semiseg::zero<Dev>(data_, size()); }

  T* data() { return data_; }
  const T* data() const { return data_; }
  const shape_type& shape() const { return shape_; }
  index_t size() const { return shape_.size(); }
  index_t capacity() const { return capacity_; }
  index_t n() const { return shape_.n(); }
  index_t c() const { return shape_.c(); }
  index_t plane() const { return shape_.plane(); }

  TensorView<T, Dev, Dim> view() { return {data_, shape_}; }
  TensorView<const T, Dev, Dim> view() const { return {data_, shape_}; }
  operator TensorView<T, Dev, Dim>() { return view(); }
  operator TensorView<const T, Dev, Dim>() const { return view(); }

 private:
  void swap(Tensor& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(shape_, o.shape_);
    std::swap(capacity_, o.capacity_);
  }
  T* data_ = nullptr;
  shape_type shape_{};
  index_t capacity_ = 0;
};

template <class X>
struct is_tensor_like : std::false_type {};
template <class T, class Dev, class Dim>
struct is_tensor_like<Tensor<T, Dev, Dim>> : std::true_type {};
template <class T, class Dev, class Dim>
struct is_tensor_like<TensorView<T, Dev, Dim>> : std::true_type {};

// Host <-> device transfer helpers, mostly for tests and I/O at the edges.
template <class T, Device Dev, Dimension Dim>
std::vector<std::remove_const_t<T>> to_host(TensorView<T, Dev, Dim> t) {
  std::vector<std::remove_const_t<T>> out(static_cast<std::size_t>(t.size()));
  copy<cpu, Dev>(out.data(), t.data, t.size());
  return out;
}

template <class T, Device Dev, Dimension Dim>
void from_host(TensorView<T, Dev, Dim> t, const std::vector<T>& values) {
  if (static_cast<index_t>(values.size()) != t.size())
    throw shape_error("semiseg: from_host expected " + std::to_string(t.size()) + " values, got " +
                      std::to_string(values.size()));
  copy<Dev, cpu>(t.data, values.data(), t.size());
}

// Copies src into dst after resizing dst to src's shape.
template <class T, Device To, class U, Device From, Dimension Dim>
  requires std::same_as<std::remove_const_t<U>, T>
void assign(Tensor<T, To, Dim>& dst, TensorView<U, From, Dim> src) {
  dst.resize(src.shape);
  copy<To, From>(dst.data(), src.data, src.size());
}

// Reinterprets the same memory under another shape of the same size.
template <Dimension To, class T, Device Dev, Dimension From>
TensorView<T, Dev, To> reshape(TensorView<T, Dev, From> t, const shape_of<To>& shape) {
  if (shape.size() != t.size())
    throw shape_error("semiseg: reshape from " + t.shape.str() + " to " + shape.str() + " changes the size");
  return {t.data, shape};
}

}  // namespace semiseg
