// The dataset contract and views over datasets. Contract: a dataset has a size and returns sample
// i by value from a const method that is safe to call from several threads at once; the same i
// always gives the same sample. Augmentation happens later, in the loader.
#pragma once

#include <concepts>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "semiseg/core/error.hpp"
#include "semiseg/data/sample.hpp"

namespace semiseg::data {

template <class D>
concept Dataset = requires(const D& d, std::size_t i) {
  typename D::dim_type;
  { d.size() } -> std::convertible_to<std::size_t>;
  { d.get(i) } -> std::same_as<Sample<typename D::dim_type>>;
};

inline void check_index(std::size_t i, std::size_t size, const char* what) {
  if (i >= size)
    throw value_error(std::string(what) + ": sample " + std::to_string(i) + " requested, the dataset holds " +
                      std::to_string(size));
}

// The samples at `indices` of a dataset, which it holds by value (datasets are cheap handles or
// own their data). The returned samples keep the index they have in the parent.
template <Dataset D>
class Subset {
 public:
  using dim_type = typename D::dim_type;
  Subset(D parent, std::vector<std::size_t> indices, bool drop_labels = false)
      : parent_(std::move(parent)), indices_(std::move(indices)), drop_labels_(drop_labels) {
    for (std::size_t i : indices_) check_index(i, parent_.size(), "Subset");
  }
  std::size_t size() const { return indices_.size(); }
  Sample<dim_type> get(std::size_t i) const {
    check_index(i, size(), "Subset");
    Sample<dim_type> s = parent_.get(indices_[i]);
    if (drop_labels_) {
      s.mask = {};
      s.instances = {};
      s.label = no_label;
    }
    return s;
  }
  const std::vector<std::size_t>& indices() const { return indices_; }
  const D& parent() const { return parent_; }

 private:
  D parent_;
  std::vector<std::size_t> indices_;
  bool drop_labels_;
};

// The same samples without masks, instances or labels: the unlabeled view of labeled data.
template <Dataset D>
Subset<D> unlabeled_view(D parent, std::vector<std::size_t> indices) {
  return Subset<D>(std::move(parent), std::move(indices), true);
}

}  // namespace semiseg::data
