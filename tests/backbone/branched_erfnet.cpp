#include "semiseg/backbone/branched_erfnet.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "semiseg/backbone/backbone.hpp"
#include "backbone/support.hpp"
#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

using backbone::BranchedERFNetOptions;

static_assert(backbone::check_backbone<backbone::BranchedERFNet<float, device, dim2>>());
static_assert(backbone::check_segmentation_backbone<backbone::BranchedERFNet<double, device, dim3>>());
static_assert(!backbone::ClassificationBackbone<backbone::BranchedERFNet<float, device, dim2>>);
static_assert(backbone::BranchedERFNet<float, device, dim2>::out_channels == 5);
static_assert(backbone::BranchedERFNet<float, device, dim3>::out_channels == 7);

namespace {

// A spatial shape: e×e in 2D, e×e×depth_extent in 3D.
template <class Dim>
shape_of<Dim> erf_shape(index_t n, index_t c, index_t e, index_t depth_extent) {
  if constexpr (Dim::spatial == 2)
    return shape_nc<Dim>(n, c, {e, e});
  else
    return shape_nc<Dim>(n, c, {e, e, depth_extent});
}

// Small widths and one block per stage, so that tests run in milliseconds. Built by assignment
// (nvcc has misparsed some designated initializers).
BranchedERFNetOptions tiny(index_t in_channels, std::array<index_t, 3> widths, double dropout = 0.0) {
  BranchedERFNetOptions o;
  o.in_channels = in_channels;
  o.widths = widths;
  o.stage2_blocks = 1;
  o.stage2_dropout = dropout;
  o.stage3_repeats = 1;
  o.dilations = {2, 4};
  o.stage3_dropout = dropout;
  o.decoder_blocks = 1;
  return o;
}

// The trainable entry called `name`; fails the test when there is none.
template <class T>
typename Parameters<T, device>::Entry entry(const Parameters<T, device>& p, const std::string& name) {
  for (const auto& e : p.entries())
    if (!e.buffer && e.name == name) return e;
  FAIL("no parameter " << name);
  return {};
}

template <class T>
std::vector<double> entry_values(Parameters<T, device>& p, const std::string& name) {
  const auto e = entry(p, name);
  return read_values(p.values().data() + e.offset, e.size);
}

// Overwrites an entry with Philox draws in [-0.5, 0.5).
template <class T>
void randomize_entry(Parameters<T, device>& p, const std::string& name, std::uint64_t seed) {
  const auto e = entry(p, name);
  std::vector<T> v(std::size_t(e.size));
  const Philox rng{seed, 3, 0};
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = T(rng.uniform<double>(i) - 0.5);
  copy<device, cpu>(p.values().data() + e.offset, v.data(), e.size);
}

// Channels [first, last) of an N×C×spatial tensor's host values, sample by sample.
template <int Rank>
std::vector<double> channels(const std::vector<double>& v, const Shape<Rank>& shape, index_t first, index_t last) {
  const std::size_t plane = std::size_t(shape.plane());
  std::vector<double> out;
  for (index_t n = 0; n < shape[0]; ++n)
    for (index_t c = first; c < last; ++c) {
      const auto begin = v.begin() + std::ptrdiff_t((std::size_t(n * shape[1] + c)) * plane);
      out.insert(out.end(), begin, begin + std::ptrdiff_t(plane));
    }
  return out;
}

const std::string decoder0_out = "branched_erfnet.decoders.0.output_conv";

}  // namespace

TEST_CASE_TEMPLATE("branched_erfnet: output shape in train and eval mode", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr index_t K = 2 * Dim::spatial + 1;
  backbone::BranchedERFNet<T, device, Dim> net(tiny(2, {4, 6, 8}, 0.1), 1);
  auto x = random_tensor<T, Dim>(erf_shape<Dim>(2, 2, 16, 8), 3);
  const auto& y = net.forward(x.view(), Context::training());
  CHECK(y.shape() == erf_shape<Dim>(2, K, 16, 8));
  const auto train = values(y);
  for (double v : train) REQUIRE(std::isfinite(v));
  // Eval mode uses the running statistics, which one train step has only moved 10% of the way
  // (only the seed channel shows it: offsets and sigmas are constant at initialisation).
  const auto eval = values(net.forward(x.view(), Context::evaluation()));
  const auto shape = y.shape();
  CHECK(relative_error(channels(eval, shape, K - 1, K), channels(train, shape, K - 1, K)) > 1e-3);
  // The paper's widths and block counts, a batch of one in eval mode (float only: double adds
  // nothing here but time).
  if constexpr (sizeof(T) == 8) return;
  backbone::BranchedERFNet<T, device, Dim> full(BranchedERFNetOptions{}, 2);
  auto x1 = random_tensor<T, Dim>(erf_shape<Dim>(1, 1, 16, 8), 4);
  const auto& y1 = full.forward(x1.view(), Context::evaluation());
  CHECK(y1.shape() == erf_shape<Dim>(1, K, 16, 8));
  for (double v : values(y1)) REQUIRE(std::isfinite(v));
}

// EmbedSeg's init_output: decoder 0's output ConvTranspose starts with weight 0 and bias
// (0,…,0, 1,…,1), so whatever the input the offsets are exactly 0 and the sigmas exactly 1.
TEST_CASE_TEMPLATE("branched_erfnet: offsets start at exactly 0 and sigmas at exactly 1", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr index_t S = Dim::spatial, K = 2 * S + 1;
  const bool is_float = sizeof(T) == 4;
  for (const bool defaults : {false, true}) {
    if (defaults && !is_float) continue;  // the paper's widths: float only, for time
    CAPTURE(defaults);
    const BranchedERFNetOptions o = defaults ? BranchedERFNetOptions{} : tiny(1, {4, 6, 8}, 0.3);
    for (const std::uint64_t seed : {1u, 2u}) {
      CAPTURE(seed);
      backbone::BranchedERFNet<T, device, Dim> net(o, seed);
      auto& p = net.parameters();
      for (double w : entry_values(p, decoder0_out + ".weight")) REQUIRE(w == 0.0);
      std::vector<double> bias(2 * S, 0.0);
      for (index_t c = S; c < 2 * S; ++c) bias[std::size_t(c)] = 1.0;
      CHECK(entry_values(p, decoder0_out + ".bias") == bias);
      // Decoder 1's output conv keeps PyTorch's default initialisation.
      const auto w1 = entry_values(p, "branched_erfnet.decoders.1.output_conv.weight");
      CHECK(std::any_of(w1.begin(), w1.end(), [](double w) { return w != 0.0; }));

      auto x = random_tensor<T, Dim>(erf_shape<Dim>(2, 1, 16, 8), 10 + seed);
      for (const Context c : {Context::training(1), Context::evaluation()}) {
        const auto& y = net.forward(x.view(), c);
        REQUIRE(y.shape() == erf_shape<Dim>(2, K, 16, 8));
        const auto v = values(y);
        for (double o0 : channels(v, y.shape(), 0, S)) REQUIRE(o0 == 0.0);
        for (double s1 : channels(v, y.shape(), S, 2 * S)) REQUIRE(s1 == 1.0);
        const auto seeds = channels(v, y.shape(), 2 * S, K);
        CHECK(*std::max_element(seeds.begin(), seeds.end()) > *std::min_element(seeds.begin(), seeds.end()));
      }
    }
  }
  // At initialisation no gradient passes through decoder 0's output conv (its weight is 0), so
  // decoder 0's other parameters get exactly zero gradient, while the output conv itself and
  // decoder 1 do learn.
  backbone::BranchedERFNet<T, device, Dim> net(tiny(1, {2, 4, 6}), 3);
  auto& p = net.parameters();
  auto x = random_tensor<T, Dim>(erf_shape<Dim>(2, 1, 16, 8), 5);
  const auto& y = net.forward(x.view(), Context::training());
  auto dy = random_tensor<T, Dim>(y.shape(), 6);
  p.zero_grad();
  net.backward(dy.view());
  auto norm = [](const std::vector<double>& v) {
    double s = 0;
    for (double e : v) s += e * e;
    return s;
  };
  const auto grads = values(p.grads().view());
  for (const auto& e : p.entries()) {
    if (e.buffer) continue;
    const std::vector<double> g(grads.begin() + std::ptrdiff_t(e.offset),
                                grads.begin() + std::ptrdiff_t(e.offset + e.size));
    CAPTURE(e.name);
    if (e.name.rfind("branched_erfnet.decoders.0.", 0) == 0 && e.name.rfind(decoder0_out, 0) != 0)
      CHECK(norm(g) == 0.0);
    else if (e.name.find(".bn") == std::string::npos)  // BatchNorm shifts before a ReLU may be idle
      CHECK(norm(g) > 0.0);
  }
}

// The counts come from the same networks built in PyTorch 1.13 by
// tools/parity/branched_erfnet.py: parameters are Σ p.numel() over model.parameters(), buffers
// over the floating-point model.buffers(). Buffers are the same in 2D and 3D.
TEST_CASE_TEMPLATE("branched_erfnet: parameter counts match PyTorch", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr bool is2d = Dim::spatial == 2;
  struct Expected {
    BranchedERFNetOptions options;
    index_t params2d, params3d, buffers;
  };
  const Expected cases[] = {
      {BranchedERFNetOptions{}, 2251979, 3689243, 7392},
      {tiny(2, {4, 6, 8}), 5251, 10113, 244},
  };
  for (const Expected& e : cases) {
    backbone::BranchedERFNet<T, device, Dim> net(e.options);
    CHECK(net.parameters().size() == (is2d ? e.params2d : e.params3d));
    CHECK(net.buffers().size() == e.buffers);
    CHECK(net.parameters().grads().size() == net.parameters().size());
  }
}

// The network is ERFNet's encoder and two ERFNet decoders registered in that order: built by
// hand into one store with the same names and seed, they have the same layout and (apart from
// decoder 0's output conv, which init_output resets) the same initial values; with the values
// copied over they compute the same output, dx and parameter gradients.
TEST_CASE_TEMPLATE("branched_erfnet: one shared encoder, two decoders, in PyTorch's order", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr index_t S = Dim::spatial, K = 2 * S + 1;
  const BranchedERFNetOptions o = tiny(2, {4, 6, 8}, 0.2);
  backbone::BranchedERFNet<T, device, Dim> net(o, 7);
  const backbone::ERFNetOptions eo = backbone::to_erfnet_options(o, K);
  Parameters<T, device> p;
  backbone::ERFNetEncoder<T, device, Dim> encoder(p, eo, 7, "branched_erfnet.encoder");
  backbone::ERFNetDecoder<T, device, Dim> instance(p, eo, 2 * S, "branched_erfnet.decoders.0");
  backbone::ERFNetDecoder<T, device, Dim> seediness(p, eo, 1, "branched_erfnet.decoders.1");
  p.finalize(7);

  const auto& mine = net.parameters().entries();
  REQUIRE(mine.size() == p.entries().size());
  REQUIRE(net.parameters().size() == p.size());
  const auto a = values(net.parameters().values().view()), b = values(p.values().view());
  for (std::size_t i = 0; i < mine.size(); ++i) {
    const auto& e = p.entries()[i];
    CAPTURE(e.name);
    REQUIRE(mine[i].name == e.name);
    REQUIRE(mine[i].buffer == e.buffer);
    REQUIRE(mine[i].offset == e.offset);
    REQUIRE(mine[i].size == e.size);
    if (e.buffer || e.name.rfind(decoder0_out, 0) == 0) continue;
    for (index_t k = e.offset; k < e.offset + e.size; ++k) REQUIRE(a[std::size_t(k)] == b[std::size_t(k)]);
  }
  // The PyTorch module order: encoder, decoders.0, decoders.1, and no encoder output_conv.
  std::vector<std::string> names;
  for (const auto& e : mine)
    if (!e.buffer) names.push_back(e.name);
  CHECK(names.front() == "branched_erfnet.encoder.initial_block.conv.weight");
  CHECK(names.back() == "branched_erfnet.decoders.1.output_conv.bias");
  const auto first0 = std::find(names.begin(), names.end(), "branched_erfnet.decoders.0.layers.0.conv.weight");
  REQUIRE(first0 != names.end());
  REQUIRE(first0 != names.begin());
  CHECK((first0 - 1)->rfind("branched_erfnet.encoder.layers.", 0) == 0);
  const auto first1 = std::find(names.begin(), names.end(), "branched_erfnet.decoders.1.layers.0.conv.weight");
  REQUIRE(first1 != names.end());
  CHECK(*(first1 - 1) == decoder0_out + ".bias");
  CHECK(std::none_of(names.begin(), names.end(), [](const std::string& n) {
    return n.rfind("branched_erfnet.encoder.output_conv", 0) == 0;
  }));

  // Same values: same forward (train mode with dropout, keyed by the same seed), dx and gradients.
  from_host(p.values().view(), to_host(net.parameters().values().view()));
  auto x = random_tensor<T, Dim>(erf_shape<Dim>(2, 2, 16, 8), 3);
  const Context c = Context::training(2);
  const auto& y_tensor = net.forward(x.view(), c);
  const auto y = values(y_tensor);
  const auto shape = y_tensor.shape();
  const auto& features = encoder.forward(x.view(), c);
  CHECK(features.shape() == erf_shape<Dim>(2, 8, 2, 1));
  CHECK(values(instance.forward(features.view(), c)) == channels(y, shape, 0, 2 * S));
  CHECK(values(seediness.forward(features.view(), c)) == channels(y, shape, 2 * S, K));

  auto dy = random_tensor<T, Dim>(shape, 4);
  const auto dys = values(dy.view());
  Tensor<T, device, Dim> dy0(erf_shape<Dim>(2, 2 * S, 16, 8)), dy1(erf_shape<Dim>(2, 1, 16, 8));
  const auto h0 = channels(dys, shape, 0, 2 * S), h1 = channels(dys, shape, 2 * S, K);
  from_host(dy0.view(), std::vector<T>(h0.begin(), h0.end()));
  from_host(dy1.view(), std::vector<T>(h1.begin(), h1.end()));
  net.parameters().zero_grad();
  p.zero_grad();
  const auto dx = values(net.backward(dy.view()));
  const auto g0 = values(instance.backward(dy0.view())), g1 = values(seediness.backward(dy1.view()));
  std::vector<T> sum(g0.size());
  for (std::size_t i = 0; i < sum.size(); ++i) sum[i] = T(g0[i]) + T(g1[i]);
  Tensor<T, device, Dim> dfeatures(features.shape());
  from_host(dfeatures.view(), sum);
  CHECK(values(encoder.backward(dfeatures.view())) == dx);
  CHECK(values(p.grads().view()) == values(net.parameters().grads().view()));
}

TEST_CASE_TEMPLATE("branched_erfnet: gradient check", C, SEMISEG_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr bool is3d = Dim::spatial == 3;
  // Train mode: batch statistics are a deterministic function of the batch, and the dropout
  // masks are fixed by context.step, so the finite differences see the same function. Decoder
  // 0's output conv is drawn at random first: at initialisation its zero weight would stop every
  // gradient into the rest of decoder 0. The dropout setup runs in 2D only.
  for (const double dropout : {0.0, 0.3}) {
    if (is3d && dropout > 0) continue;
    CAPTURE(dropout);
    BranchedERFNetOptions o = tiny(1, {2, 3, 4}, dropout);
    o.dilations = {2};
    backbone::BranchedERFNet<T, device, Dim> net(o, 5);
    randomize_entry(net.parameters(), decoder0_out + ".weight", 21);
    randomize_entry(net.parameters(), decoder0_out + ".bias", 22);
    auto x = random_tensor<T, Dim>(erf_shape<Dim>(2, 1, 8, 8), 11);
    check_gradient_result(
        testing::check_layer_gradients(net, &net.parameters(), x, Context::training(3), {.tolerance = 1e-5}));
  }
}

TEST_CASE_TEMPLATE("branched_erfnet: backward twice gives the same dx and accumulates gradients", C,
                   SEMISEG_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  backbone::BranchedERFNet<T, device, Dim> net(tiny(1, {2, 4, 6}), 9);
  randomize_entry(net.parameters(), decoder0_out + ".weight", 23);
  auto x = random_tensor<T, Dim>(erf_shape<Dim>(2, 1, 8, 8), 12);
  check_backward_accumulates(net, x);
}

TEST_CASE_TEMPLATE("branched_erfnet: seeds, moves, buffers, options and needs_backward", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr index_t K = 2 * Dim::spatial + 1;
  const BranchedERFNetOptions o = tiny(1, {4, 6, 8}, 0.1);
  backbone::BranchedERFNet<T, device, Dim> a(o, 1), b(o, 1), c(o, 2);
  CHECK(values(a.parameters().values().view()) == values(b.parameters().values().view()));
  CHECK(values(a.parameters().values().view()) != values(c.parameters().values().view()));
  CHECK(a.options().widths == o.widths);
  CHECK(a.options().dilations == o.dilations);
  CHECK(a.encoder().options().classes == K);
  CHECK(a.decoder(0).classes() == 2 * Dim::spatial);
  CHECK(a.decoder(1).classes() == 1);
  CHECK_THROWS_AS(a.decoder(2), value_error);

  auto x = random_tensor<T, Dim>(erf_shape<Dim>(2, 1, 16, 8), 3);
  const auto before = values(a.buffers().view());
  const auto y_eval = values(a.forward(x.view(), Context::evaluation()));
  CHECK(values(a.buffers().view()) == before);  // eval mode leaves the running statistics alone
  const auto y_train = values(a.forward(x.view(), Context{.train = true, .needs_backward = false, .step = 0}));
  CHECK(values(a.buffers().view()) != before);  // a teacher's train-mode pass updates them
  auto dy = random_tensor<T, Dim>(erf_shape<Dim>(2, K, 16, 8), 4);
  CHECK_THROWS_AS(a.backward(dy.view()), error);

  // A moved network keeps working: its layers point at the heap-owned parameter store.
  backbone::BranchedERFNet<T, device, Dim> moved(std::move(b));
  CHECK(values(moved.forward(x.view(), Context::evaluation())) == y_eval);
  CHECK(values(moved.forward(x.view(), Context{.train = true, .needs_backward = false, .step = 0})) == y_train);
  CHECK(std::string(backbone::BranchedERFNet<T, device, Dim>::name) == "BranchedERFNet");
}

// Designated initialisers in the user's style (host compiler only: nvcc has misparsed some).
#if !defined(__CUDACC__)
TEST_CASE("branched_erfnet: designated options") {
  const BranchedERFNetOptions o{.in_channels = 1, .widths = {4, 6, 8}, .stage2_blocks = 1, .dilations = {2}};
  backbone::BranchedERFNet<double, device, dim2> net(o, 3);
  auto x = random_tensor<double, dim2>(erf_shape<dim2>(1, 1, 8, 8), 1);
  CHECK(net.forward(x.view(), Context::evaluation()).shape() == erf_shape<dim2>(1, 5, 8, 8));
  CHECK(net.options().stage3_repeats == 2);  // the defaults of the fields left out
  CHECK(net.options().decoder_blocks == 2);
}
#endif

TEST_CASE_TEMPLATE("branched_erfnet: bad options and inputs", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  using Net = backbone::BranchedERFNet<T, device, Dim>;
  const BranchedERFNetOptions good = tiny(1, {4, 6, 8});
  auto bad = [&](auto change) {
    BranchedERFNetOptions o = good;
    change(o);
    return o;
  };
  CHECK_THROWS_WITH_AS(Net(bad([](BranchedERFNetOptions& o) { o.in_channels = 0; })),
                       doctest::Contains("in_channels"), value_error);
  CHECK_THROWS_WITH_AS(Net(bad([](BranchedERFNetOptions& o) { o.widths = {4, 8, 8}; })),
                       doctest::Contains("in_channels < widths[0] < widths[1] < widths[2]"), value_error);
  CHECK_THROWS_AS(Net(bad([](BranchedERFNetOptions& o) { o.in_channels = 4; })), value_error);
  CHECK_THROWS_AS(Net(bad([](BranchedERFNetOptions& o) { o.stage2_blocks = -1; })), value_error);
  CHECK_THROWS_AS(Net(bad([](BranchedERFNetOptions& o) { o.decoder_blocks = -1; })), value_error);
  CHECK_THROWS_WITH_AS(Net(bad([](BranchedERFNetOptions& o) { o.dilations = {}; })),
                       doctest::Contains("dilations"), value_error);
  CHECK_THROWS_WITH_AS(Net(bad([](BranchedERFNetOptions& o) { o.stage3_dropout = 1.0; })),
                       doctest::Contains("stage3_dropout"), value_error);
  CHECK_THROWS_AS(Net(bad([](BranchedERFNetOptions& o) { o.momentum = -0.5; })), value_error);
  CHECK_THROWS_AS(Net(bad([](BranchedERFNetOptions& o) { o.eps = 0; })), value_error);

  Net net(good);
  auto odd = random_tensor<T, Dim>(erf_shape<Dim>(2, 1, 12, 8), 1);  // 12 is not a multiple of 8
  CHECK_THROWS_WITH_AS(net.forward(odd.view(), Context::evaluation()), doctest::Contains("spatial size 12"),
                       shape_error);
  auto two = random_tensor<T, Dim>(erf_shape<Dim>(2, 2, 16, 8), 1);
  CHECK_THROWS_WITH_AS(net.forward(two.view(), Context::evaluation()), doctest::Contains("2 channels"), shape_error);
  // dy must have the output's 2S + 1 channels.
  auto x = random_tensor<T, Dim>(erf_shape<Dim>(2, 1, 16, 8), 2);
  net.forward(x.view(), Context::training());
  auto dy = random_tensor<T, Dim>(erf_shape<Dim>(2, 2 * Dim::spatial, 16, 8), 3);
  CHECK_THROWS_AS(net.backward(dy.view()), shape_error);
}

// PyTorch parity on the fixtures of tools/parity/branched_erfnet.py
// (`/usr/bin/python3 tools/parity/branched_erfnet.py`; tests/fixtures/branched_erfnet/README.md
// lists the files): the same network in PyTorch 1.13, float64, with its parameters in our flat
// order. One train-mode pass: y, then dx and the parameter gradients for the fixture's dy, and
// the BatchNorm running statistics that pass left.
TEST_CASE_TEMPLATE("branched_erfnet: PyTorch parity", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const std::string layer = "branched_erfnet";
  for (const std::string& name : fixture_cases(layer, Dim::spatial)) {
    CAPTURE(name);
    const auto config = fixture(layer, name, "config").data;
    REQUIRE(config.size() >= 10);
    auto integer = [&](std::size_t i) { return index_t(std::lround(config[i])); };
    BranchedERFNetOptions o;
    o.in_channels = integer(0);
    o.widths = {integer(1), integer(2), integer(3)};
    o.stage2_blocks = integer(4);
    o.stage2_dropout = 0.0;
    o.stage3_repeats = integer(5);
    o.stage3_dropout = 0.0;
    o.decoder_blocks = integer(6);
    o.momentum = config[7];
    o.eps = config[8];
    o.dilations.clear();
    for (std::size_t i = 9; i < config.size(); ++i) o.dilations.push_back(integer(i));
    backbone::BranchedERFNet<T, device, Dim> net(o, 1);
    auto& p = net.parameters();

    const auto params = fixture(layer, name, "params");
    REQUIRE(index_t(params.data.size()) == p.size());
    write_values(p.values().data(), params);
    p.zero_grad();
    auto x = to_tensor<T, Dim>(fixture(layer, name, "x"));
    const auto& y = net.forward(x.view(), Context::training());
    const auto expected_y = fixture(layer, name, "y");
    std::vector<std::int64_t> y_shape;
    for (int i = 0; i < Dim::spatial + 2; ++i) y_shape.push_back(std::int64_t(y.shape()[i]));
    REQUIRE(y_shape == expected_y.shape);
    check_parity<T>("y", values(y), expected_y);
    check_parity<T>("running statistics", values(net.buffers().view()), fixture(layer, name, "running_after"));
    auto dy = to_tensor<T, Dim>(fixture(layer, name, "dy"));
    check_parity<T>("dx", values(net.backward(dy.view())), fixture(layer, name, "dx"));
    check_parity<T>("dparams", values(p.grads().view()), fixture(layer, name, "dparams"));
  }
}

}  // namespace semiseg::test
