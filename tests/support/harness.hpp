// Shared test helpers: the device under test, the dimension × type cases, fixture loading and
// comparison. The CUDA variant of every test program is the same file compiled with
// SEMISEG_TEST_CUDA, so `test::device` is the only thing that changes.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "semiseg/testing/gradient_check.hpp"
#include "support/npy.hpp"

namespace semiseg::test {

#if defined(SEMISEG_TEST_CUDA)
using device = cuda;
#else
using device = cpu;
#endif

template <class Dim, class T>
struct Case {
  using dim = Dim;
  using value = T;
};

// Tolerances of the PyTorch parity tests: relative to the largest expected magnitude.
template <class T>
constexpr double parity_tolerance() {
  return sizeof(T) == 4 ? 1e-4 : 1e-5;
}

inline std::string fixture_dir(const std::string& layer) { return std::string(SEMISEG_FIXTURES_DIR) + "/" + layer; }

inline std::string dim_prefix(int spatial) { return spatial == 0 ? "flat_" : std::to_string(spatial) + "d_"; }

// The fixture cases of a layer for one spatial rank, sorted; fails the test when there are none.
inline std::vector<std::string> fixture_cases(const std::string& layer, int spatial) {
  std::vector<std::string> cases;
  const std::string prefix = spatial < 0 ? "" : dim_prefix(spatial);
  if (std::filesystem::is_directory(fixture_dir(layer)))
    for (const auto& entry : std::filesystem::directory_iterator(fixture_dir(layer))) {
      const std::string name = entry.path().filename().string();
      if (entry.is_directory() && name.rfind(prefix, 0) == 0) cases.push_back(name);
    }
  std::sort(cases.begin(), cases.end());
  REQUIRE_MESSAGE(!cases.empty(), "no fixtures for " << layer << " " << prefix);
  return cases;
}

inline NpyArray fixture(const std::string& layer, const std::string& name, const std::string& file) {
  return read_npy(fixture_dir(layer) + "/" + name + "/" + file + ".npy");
}

inline bool has_fixture(const std::string& layer, const std::string& name, const std::string& file) {
  return std::filesystem::exists(fixture_dir(layer) + "/" + name + "/" + file + ".npy");
}

// Reads `count` entries of a config vector from `pos` into a fixed array.
template <int S>
Small<index_t, S> config_small(const std::vector<double>& config, std::size_t pos) {
  Small<index_t, S> s{};
  for (int i = 0; i < S; ++i) s[i] = static_cast<index_t>(std::lround(config.at(pos + i)));
  return s;
}

template <class T, Dimension Dim>
Tensor<T, device, Dim> to_tensor(const NpyArray& a) {
  constexpr int rank = Dim::spatial + 2;
  REQUIRE(static_cast<int>(a.shape.size()) == rank);
  shape_of<Dim> shape;
  for (int i = 0; i < rank; ++i) shape[i] = a.shape[static_cast<std::size_t>(i)];
  Tensor<T, device, Dim> t(shape);
  from_host(t.view(), std::vector<T>(a.data.begin(), a.data.end()));
  return t;
}

template <class T>
void write_values(T* device_data, const NpyArray& a) {
  const std::vector<T> v(a.data.begin(), a.data.end());
  copy<device, cpu>(device_data, v.data(), static_cast<index_t>(v.size()));
}

template <class T>
std::vector<double> read_values(const T* device_data, index_t count) {
  std::vector<T> v(static_cast<std::size_t>(count));
  copy<cpu, device>(v.data(), device_data, count);
  return {v.begin(), v.end()};
}

// max |actual - expected| / max |expected|.
inline double relative_error(const std::vector<double>& actual, const std::vector<double>& expected) {
  REQUIRE(actual.size() == expected.size());
  double diff = 0.0, scale = 1e-12;
  for (std::size_t i = 0; i < actual.size(); ++i) {
    diff = std::max(diff, std::abs(actual[i] - expected[i]));
    if (std::isnan(actual[i])) diff = INFINITY;
    scale = std::max(scale, std::abs(expected[i]));
  }
  return diff / scale;
}


template <class T, Device D, Dimension Dim>
TensorView<const T, D, Dim> as_view(const Tensor<T, D, Dim>& t) {
  return t.view();
}
template <class T, Device D, Dimension Dim>
TensorView<const T, D, Dim> as_view(TensorView<T, D, Dim> t) {
  return t;
}

template <class View>
std::vector<double> values(const View& t) {
  return testing::host_values(as_view(t));
}

template <class T>
void check_parity(const std::string& what, const std::vector<double>& actual, const NpyArray& expected) {
  const double err = relative_error(actual, expected.data);
  INFO(what << ": relative error " << err);
  CHECK(err <= parity_tolerance<T>());
}

inline void check_gradient_result(const testing::GradientCheckResult& r) {
  INFO("max error " << r.max_error << " at " << r.worst << " over " << r.checked << " elements");
  CHECK(r.checked > 0);
  CHECK(r.passed);
}

template <class T>
struct NamedParam {
  std::string name;  // fixture file of the value; its gradient is "d" + name
  ParamRef<T, device> ref;
};

// The PyTorch parity check shared by single-input layers: loads the fixture's parameters and x,
// runs forward and compares y, runs backward with the fixture's dy and compares dx and the
// parameter gradients. Parameters must be finalized.
template <class T, Dimension Dim, class Layer>
void check_layer_parity(const std::string& layer_name, const std::string& name, Layer& layer,
                        const std::vector<NamedParam<T>>& params, Parameters<T, device>* store,
                        Context context = Context::training()) {
  for (const auto& p : params) write_values(p.ref.value(), fixture(layer_name, name, p.name));
  if (store) store->zero_grad();
  auto x = to_tensor<T, Dim>(fixture(layer_name, name, "x"));
  const auto& y = layer.forward(x.view(), context);
  check_parity<T>("y", testing::host_values(as_view(y)), fixture(layer_name, name, "y"));
  using Out = typename std::remove_cvref_t<decltype(y)>::dim;
  auto dy = to_tensor<T, Out>(fixture(layer_name, name, "dy"));
  const auto& dx = layer.backward(dy.view());
  check_parity<T>("dx", testing::host_values(as_view(dx)), fixture(layer_name, name, "dx"));
  for (const auto& p : params)
    check_parity<T>("d" + p.name, read_values(p.ref.grad(), p.ref.size), fixture(layer_name, name, "d" + p.name));
}

// Random values in [-1, 1) from Philox, for inputs of gradient checks.
template <class T, Dimension Dim>
Tensor<T, device, Dim> random_tensor(const shape_of<Dim>& shape, std::uint64_t seed) {
  std::vector<T> v(static_cast<std::size_t>(shape.size()));
  const Philox rng{seed, 1, 0};
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<T>(2.0 * rng.uniform<double>(i) - 1.0);
  Tensor<T, device, Dim> t(shape);
  from_host(t.view(), v);
  return t;
}

template <Dimension Dim>
shape_of<Dim> shape_nc(index_t n, index_t c, std::initializer_list<index_t> spatial) {
  shape_of<Dim> s;
  s[0] = n;
  s[1] = c;
  int i = 2;
  for (index_t v : spatial)
    if (i < Dim::spatial + 2) s[i++] = v;
  return s;
}

}  // namespace semiseg::test

TYPE_TO_STRING_AS("dim2 float", semiseg::test::Case<semiseg::dim2, float>);
TYPE_TO_STRING_AS("dim2 double", semiseg::test::Case<semiseg::dim2, double>);
TYPE_TO_STRING_AS("dim3 float", semiseg::test::Case<semiseg::dim3, float>);
TYPE_TO_STRING_AS("dim3 double", semiseg::test::Case<semiseg::dim3, double>);
TYPE_TO_STRING_AS("flat float", semiseg::test::Case<semiseg::flat, float>);
TYPE_TO_STRING_AS("flat double", semiseg::test::Case<semiseg::flat, double>);

// Every layer test runs over these; gradient checks run in double only.
#define SEMISEG_PARITY_CASES                                                                                  \
  semiseg::test::Case<semiseg::dim2, float>, semiseg::test::Case<semiseg::dim2, double>,                     \
      semiseg::test::Case<semiseg::dim3, float>, semiseg::test::Case<semiseg::dim3, double>
#define SEMISEG_GRADIENT_CASES semiseg::test::Case<semiseg::dim2, double>, semiseg::test::Case<semiseg::dim3, double>
