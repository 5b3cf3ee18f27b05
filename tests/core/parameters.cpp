#include "semiseg/core/parameters.hpp"

#include <type_traits>

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

TEST_CASE("parameters: one flat buffer, deterministic initialisation, separate buffers") {
  Parameters<float, device> params;
  const auto w = params.add("w", 1000, Init::fan_in(100));
  const auto b = params.add("b", 10, Init::zeros());
  const auto stat = params.add_buffer("running_var", 10, Init::ones());
  CHECK_THROWS_AS(w.value(), error);  // not finalized yet
  params.finalize(7);
  CHECK(params.size() == 1010);
  CHECK(b.value() == w.value() + 1000);
  const auto values = read_values(w.value(), 1000);
  CHECK(*std::max_element(values.begin(), values.end()) <= 0.1);
  CHECK(*std::min_element(values.begin(), values.end()) >= -0.1);
  CHECK(*std::max_element(values.begin(), values.end()) > 0.09);
  const auto bias = read_values(b.value(), 10);
  CHECK(std::all_of(bias.begin(), bias.end(), [](double x) { return x == 0.0; }));
  const auto var = read_values(stat.value(), 10);
  CHECK(std::all_of(var.begin(), var.end(), [](double x) { return x == 1.0; }));
  const auto grads = read_values(w.grad(), 1010);
  CHECK(std::all_of(grads.begin(), grads.end(), [](double x) { return x == 0.0; }));

  Parameters<float, device> again;
  const auto w2 = again.add("w", 1000, Init::fan_in(100));
  again.finalize(7);
  CHECK(read_values(w2.value(), 1000) == values);
  CHECK_THROWS_AS(again.add("late", 3, Init::zeros()), error);
  CHECK_THROWS_AS(again.finalize(7), error);
}

// Layers point at their Parameters, so moving or copying them would leave dangling references.
static_assert(!std::is_copy_constructible_v<Parameters<float, device>>);
static_assert(!std::is_move_constructible_v<Parameters<float, device>>);
static_assert(!std::is_move_assignable_v<Parameters<float, device>>);

}  // namespace semiseg::test
