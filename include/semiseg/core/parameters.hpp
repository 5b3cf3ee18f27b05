// Flat parameter storage. Contract: layers register named blocks before `finalize`; afterwards
// all trainable values live in one contiguous buffer, their gradients in a second one of the same
// layout, and non-trainable state (BatchNorm statistics) in a third. A ParamRef stays valid across
// registration because it stores an offset. Initial values are drawn from Philox, so they do not
// depend on the device or the thread count.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "semiseg/core/philox.hpp"
#include "semiseg/core/tensor.hpp"

namespace semiseg {

// How a block starts: constant `value`, or uniform in [-bound, bound].
struct Init {
  enum class Kind { constant, uniform } kind = Kind::constant;
  double value = 0.0;
  static Init zeros() { return {Kind::constant, 0.0}; }
  static Init ones() { return {Kind::constant, 1.0}; }
  static Init uniform(double bound) { return {Kind::uniform, bound}; }
  // PyTorch's default for convolution and linear weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  static Init fan_in(index_t fan) { return uniform(1.0 / std::sqrt(static_cast<double>(fan))); }
};

template <class T, Device D>
class Parameters;

template <class T, Device D>
struct ParamRef {
  Parameters<T, D>* owner = nullptr;
  bool buffer = false;
  index_t offset = 0;
  index_t size = 0;

  T* value() const { return owner->value_data(buffer) + offset; }
  // Only trainable blocks have a gradient.
  T* grad() const { return owner->grads().data() + offset; }
  explicit operator bool() const { return owner != nullptr; }
};

template <class T, Device D>
class Parameters {
 public:
  using value_type = T;
  using device = D;

  // Layers hold ParamRefs that point at this object, so it stays where it was built: no copies
  // and no moves (a model that must move keeps its Parameters on the heap).
  Parameters() = default;
  Parameters(const Parameters&) = delete;
  Parameters& operator=(const Parameters&) = delete;

  struct Entry {
    std::string name;
    bool buffer;
    index_t offset, size;
    Init init;
  };

  ParamRef<T, D> add(std::string name, index_t size, Init init) { return add_entry(std::move(name), size, init, false); }
  ParamRef<T, D> add_buffer(std::string name, index_t size, Init init) {
    return add_entry(std::move(name), size, init, true);
  }

  // Allocates the flat buffers and draws every block's initial value. Call once, after every
  // layer is built.
  void finalize(std::uint64_t seed) {
    if (finalized_) throw error("semiseg: Parameters::finalize called twice");
    values_.resize(flat_shape(1, trainable_size_));
    grads_.resize(flat_shape(1, trainable_size_));
    buffers_.resize(flat_shape(1, buffer_size_));
    grads_.zero();
    std::vector<T> host_values(static_cast<std::size_t>(trainable_size_));
    std::vector<T> host_buffers(static_cast<std::size_t>(buffer_size_));
    for (std::size_t e = 0; e < entries_.size(); ++e) {
      const Entry& entry = entries_[e];
      T* out = (entry.buffer ? host_buffers.data() : host_values.data()) + entry.offset;
      const Philox rng{seed, static_cast<std::uint32_t>(e), 0};
      for (index_t i = 0; i < entry.size; ++i)
        out[i] = entry.init.kind == Init::Kind::constant
                     ? static_cast<T>(entry.init.value)
                     : static_cast<T>((2.0 * rng.uniform<double>(static_cast<std::uint64_t>(i)) - 1.0) * entry.init.value);
    }
    copy<D, cpu>(values_.data(), host_values.data(), trainable_size_);
    copy<D, cpu>(buffers_.data(), host_buffers.data(), buffer_size_);
    finalized_ = true;
  }

  void zero_grad() { grads_.zero(); }
  bool finalized() const { return finalized_; }
  index_t size() const { return trainable_size_; }
  const std::vector<Entry>& entries() const { return entries_; }

  Tensor<T, D, flat>& values() { return values_; }
  Tensor<T, D, flat>& grads() { return grads_; }
  Tensor<T, D, flat>& buffers() { return buffers_; }
  const Tensor<T, D, flat>& values() const { return values_; }
  const Tensor<T, D, flat>& grads() const { return grads_; }
  const Tensor<T, D, flat>& buffers() const { return buffers_; }
  T* value_data(bool buffer) {
    if (!finalized_) throw error("semiseg: parameters used before Parameters::finalize");
    return buffer ? buffers_.data() : values_.data();
  }

 private:
  ParamRef<T, D> add_entry(std::string name, index_t size, Init init, bool buffer) {
    if (finalized_) throw error("semiseg: cannot add parameter '" + name + "' after finalize");
    index_t& total = buffer ? buffer_size_ : trainable_size_;
    entries_.push_back({std::move(name), buffer, total, size, init});
    ParamRef<T, D> ref{this, buffer, total, size};
    total += size;
    return ref;
  }

  std::vector<Entry> entries_;
  index_t trainable_size_ = 0, buffer_size_ = 0;
  bool finalized_ = false;
  Tensor<T, D, flat> values_, grads_, buffers_;
};

}  // namespace semiseg
