#include "semiseg/backbone/erfnet.hpp"

#include "semiseg/backbone/backbone.hpp"
#include "backbone/support.hpp"
#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

using backbone::ERFNetOptions;

static_assert(backbone::SegmentationBackbone<backbone::ERFNet<float, device, dim2>>);
static_assert(backbone::SegmentationBackbone<backbone::ERFNet<double, device, dim3>>);
static_assert(!backbone::ClassificationBackbone<backbone::ERFNet<float, device, dim2>>);

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
ERFNetOptions tiny(index_t in_channels, index_t classes, std::array<index_t, 3> widths, double dropout = 0.0) {
  ERFNetOptions o;
  o.in_channels = in_channels;
  o.classes = classes;
  o.widths = widths;
  o.stage2_blocks = 1;
  o.stage2_dropout = dropout;
  o.stage3_repeats = 1;
  o.dilations = {2, 4};
  o.stage3_dropout = dropout;
  o.decoder_blocks = 1;
  return o;
}

}  // namespace

TEST_CASE_TEMPLATE("erfnet: output shape in train and eval mode", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  backbone::ERFNet<T, device, Dim> net(tiny(2, 5, {4, 6, 8}, 0.1), 1);
  auto x = random_tensor<T, Dim>(erf_shape<Dim>(2, 2, 16, 8), 3);
  const auto& y = net.forward(x.view(), Context::training());
  CHECK(y.shape() == erf_shape<Dim>(2, 5, 16, 8));
  const auto train = values(y);
  for (double v : train) REQUIRE(std::isfinite(v));
  // Eval mode uses the running statistics, which one train step has only moved 10% of the way.
  const auto eval = values(net.forward(x.view(), Context::evaluation()));
  CHECK(relative_error(eval, train) > 1e-3);
  // The paper's widths and block counts, a batch of one in eval mode (float only: double adds
  // nothing here but time).
  if constexpr (sizeof(T) == 8) return;
  backbone::ERFNet<T, device, Dim> full(ERFNetOptions{}, 2);
  auto x1 = random_tensor<T, Dim>(erf_shape<Dim>(1, 1, 16, 8), 4);
  const auto& y1 = full.forward(x1.view(), Context::evaluation());
  CHECK(y1.shape() == erf_shape<Dim>(1, 2, 16, 8));
  for (double v : values(y1)) REQUIRE(std::isfinite(v));
}

// The counts come from the same networks built in PyTorch 1.13 by tools/parity/erfnet.py
// (`/usr/bin/python3 tools/parity/erfnet.py`): parameters are Σ p.numel() over
// model.parameters(), buffers over the floating-point model.buffers() (the BatchNorm running
// means and variances). Buffers are the same in 2D and 3D.
TEST_CASE_TEMPLATE("erfnet: parameter counts match PyTorch", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr bool is2d = Dim::spatial == 2;
  struct Expected {
    ERFNetOptions options;
    index_t params2d, params3d, buffers;
  };
  ERFNetOptions rgb;
  rgb.in_channels = 3;
  rgb.classes = 4;
  const Expected cases[] = {
      {ERFNetOptions{}, 2062872, 3281254, 6592},
      {rgb, 2063216, 3282158, 6592},
      {tiny(2, 3, {4, 6, 8}), 3835, 6971, 184},
  };
  for (const Expected& e : cases) {
    backbone::ERFNet<T, device, Dim> net(e.options);
    CHECK(net.parameters().size() == (is2d ? e.params2d : e.params3d));
    CHECK(net.buffers().size() == e.buffers);
    CHECK(net.parameters().grads().size() == net.parameters().size());
  }
}

TEST_CASE_TEMPLATE("erfnet: gradient check", C, SEMISEG_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr bool is3d = Dim::spatial == 3;
  // Train mode: batch statistics are a deterministic function of the batch, and the dropout
  // masks are fixed by context.step, so the finite differences see the same function. The
  // dropout setup runs in 2D only (3D costs ~5 times more per check and shares the code path).
  for (const double dropout : {0.0, 0.3}) {
    if (is3d && dropout > 0) continue;
    CAPTURE(dropout);
    ERFNetOptions o = tiny(1, 2, {2, 3, 4}, dropout);
    o.dilations = {2};
    backbone::ERFNet<T, device, Dim> net(o, 5);
    auto x = random_tensor<T, Dim>(erf_shape<Dim>(2, 1, 8, 8), 11);
    check_gradient_result(
        testing::check_layer_gradients(net, &net.parameters(), x, Context::training(3), {.tolerance = 1e-5}));
  }
}

TEST_CASE_TEMPLATE("erfnet: backward twice gives the same dx and accumulates gradients", C, SEMISEG_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  backbone::ERFNet<T, device, Dim> net(tiny(1, 2, {2, 4, 6}), 9);
  auto x = random_tensor<T, Dim>(erf_shape<Dim>(2, 1, 8, 8), 12);
  check_backward_accumulates(net, x);
}

// ERFNet is an encoder and a decoder registered in that order: built by hand into one store with
// the same names and seed, they are the same network. This is how a branched network (one
// encoder, several decoders) reuses them.
TEST_CASE_TEMPLATE("erfnet: encoder and decoder compose to the network", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const ERFNetOptions o = tiny(2, 3, {4, 6, 8}, 0.2);
  backbone::ERFNet<T, device, Dim> net(o, 7);
  Parameters<T, device> p;
  backbone::ERFNetEncoder<T, device, Dim> encoder(p, o, 7, "erfnet.encoder");
  backbone::ERFNetDecoder<T, device, Dim> decoder(p, o, o.classes, "erfnet.decoder");
  backbone::ERFNetDecoder<T, device, Dim> second(p, o, 5, "erfnet.decoder2");
  p.finalize(7);
  const auto& entries = p.entries();
  REQUIRE(entries.size() > net.parameters().entries().size());
  for (std::size_t i = 0; i < net.parameters().entries().size(); ++i)
    REQUIRE(entries[i].name == net.parameters().entries()[i].name);
  // The second decoder's parameters follow, so the first ones have the same initial values.
  auto head = values(p.values().view());
  head.resize(std::size_t(net.parameters().size()));
  CHECK(head == values(net.parameters().values().view()));

  auto x = random_tensor<T, Dim>(erf_shape<Dim>(2, 2, 16, 8), 3);
  const Context c = Context::training(2);
  const auto y = values(net.forward(x.view(), c));
  const auto& features = encoder.forward(x.view(), c);
  CHECK(features.shape() == erf_shape<Dim>(2, 8, 2, 1));
  CHECK(values(decoder.forward(features.view(), c)) == y);
  CHECK(second.forward(features.view(), c).shape() == erf_shape<Dim>(2, 5, 16, 8));
  auto dy = random_tensor<T, Dim>(erf_shape<Dim>(2, 3, 16, 8), 4);
  net.parameters().zero_grad();
  p.zero_grad();
  CHECK(values(encoder.backward(decoder.backward(dy.view()))) == values(net.backward(dy.view())));
}

TEST_CASE_TEMPLATE("erfnet: dropout follows the mode, the step and the seed", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const ERFNetOptions o = tiny(1, 2, {2, 4, 6}, 0.5);
  backbone::ERFNet<T, device, Dim> net(o, 1), other_seed(o, 2);
  from_host(other_seed.parameters().values().view(), to_host(net.parameters().values().view()));
  auto x = random_tensor<T, Dim>(erf_shape<Dim>(2, 1, 16, 8), 3);
  const Context no_grad{.train = true, .needs_backward = false, .step = 0};
  Context step1 = no_grad;
  step1.step = 1;
  // Train mode normalises with batch statistics, so repeated train passes differ only by dropout.
  const auto a = values(net.forward(x.view(), no_grad));
  CHECK(values(net.forward(x.view(), no_grad)) == a);
  CHECK(relative_error(values(net.forward(x.view(), step1)), a) > 1e-3);
  CHECK(relative_error(values(other_seed.forward(x.view(), no_grad)), a) > 1e-3);
  // Eval mode has no dropout: two evaluations agree whatever the step.
  const auto e = values(net.forward(x.view(), Context::evaluation()));
  CHECK(values(net.forward(x.view(), Context{.train = false, .needs_backward = false, .step = 5})) == e);
  // Without dropout the step changes nothing.
  backbone::ERFNet<T, device, Dim> plain(tiny(1, 2, {2, 4, 6}), 1);
  const auto b = values(plain.forward(x.view(), no_grad));
  CHECK(values(plain.forward(x.view(), step1)) == b);
}

TEST_CASE_TEMPLATE("erfnet: seeds, moves, buffers, names and needs_backward", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const ERFNetOptions o = tiny(1, 2, {4, 6, 8}, 0.1);
  backbone::ERFNet<T, device, Dim> a(o, 1), b(o, 1), c(o, 2);
  CHECK(values(a.parameters().values().view()) == values(b.parameters().values().view()));
  CHECK(values(a.parameters().values().view()) != values(c.parameters().values().view()));

  auto x = random_tensor<T, Dim>(erf_shape<Dim>(2, 1, 16, 8), 3);
  const auto before = values(a.buffers().view());
  const auto y_eval = values(a.forward(x.view(), Context::evaluation()));
  CHECK(values(a.buffers().view()) == before);  // eval mode leaves the running statistics alone
  const auto y_train = values(a.forward(x.view(), Context{.train = true, .needs_backward = false, .step = 0}));
  CHECK(values(a.buffers().view()) != before);  // a teacher's train-mode pass updates them
  auto dy = random_tensor<T, Dim>(erf_shape<Dim>(2, 2, 16, 8), 4);
  CHECK_THROWS_AS(a.backward(dy.view()), error);

  // A moved network keeps working: its layers point at the heap-owned parameter store.
  backbone::ERFNet<T, device, Dim> moved(std::move(b));
  CHECK(values(moved.forward(x.view(), Context::evaluation())) == y_eval);
  CHECK(values(moved.forward(x.view(), Context{.train = true, .needs_backward = false, .step = 0})) == y_train);
  // The trainable entries carry the names of `tools/parity/erfnet.py --names`, in that order;
  // layers.1 is stage 2's non-bottleneck block.
  std::vector<std::string> names;
  for (const auto& entry : moved.parameters().entries())
    if (!entry.buffer) names.push_back(entry.name);
  CHECK(names.front() == "erfnet.encoder.initial_block.conv.weight");
  CHECK(names.back() == "erfnet.decoder.output_conv.bias");
  CHECK(names[8] == (Dim::spatial == 2 ? "erfnet.encoder.layers.1.conv3x1_1.weight"
                                       : "erfnet.encoder.layers.1.conv3x1x1_1.weight"));
  CHECK(names[8 + 2 * Dim::spatial] == "erfnet.encoder.layers.1.bn1.weight");
  CHECK(names[8 + 4 * Dim::spatial + 1] == (Dim::spatial == 2 ? "erfnet.encoder.layers.1.conv1x3_2.bias"
                                                              : "erfnet.encoder.layers.1.conv1x1x3_2.bias"));
  CHECK(std::string(backbone::ERFNet<T, device, Dim>::name) == "ERFNet");
}

TEST_CASE_TEMPLATE("erfnet: bad options and inputs", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  using Net = backbone::ERFNet<T, device, Dim>;
  const ERFNetOptions good = tiny(1, 2, {4, 6, 8});
  auto bad = [&](auto change) {
    ERFNetOptions o = good;
    change(o);
    return o;
  };
  CHECK_THROWS_WITH_AS(Net(bad([](ERFNetOptions& o) { o.in_channels = 0; })), doctest::Contains("in_channels"),
                       value_error);
  CHECK_THROWS_WITH_AS(Net(bad([](ERFNetOptions& o) { o.classes = 0; })), doctest::Contains("classes"), value_error);
  // Each downsampler's conv makes out − in channels, so the widths must grow.
  CHECK_THROWS_WITH_AS(Net(bad([](ERFNetOptions& o) { o.widths = {4, 8, 8}; })),
                       doctest::Contains("in_channels < widths[0] < widths[1] < widths[2]"), value_error);
  CHECK_THROWS_AS(Net(bad([](ERFNetOptions& o) { o.in_channels = 4; })), value_error);
  CHECK_THROWS_AS(Net(bad([](ERFNetOptions& o) { o.stage2_blocks = -1; })), value_error);
  CHECK_THROWS_AS(Net(bad([](ERFNetOptions& o) { o.stage3_repeats = -1; })), value_error);
  CHECK_THROWS_AS(Net(bad([](ERFNetOptions& o) { o.decoder_blocks = -1; })), value_error);
  CHECK_THROWS_WITH_AS(Net(bad([](ERFNetOptions& o) { o.dilations = {}; })), doctest::Contains("dilations"),
                       value_error);
  CHECK_THROWS_WITH_AS(Net(bad([](ERFNetOptions& o) { o.dilations = {2, 0}; })), doctest::Contains("dilation"),
                       value_error);
  CHECK_THROWS_WITH_AS(Net(bad([](ERFNetOptions& o) { o.stage2_dropout = 1.0; })),
                       doctest::Contains("stage2_dropout"), value_error);
  CHECK_THROWS_WITH_AS(Net(bad([](ERFNetOptions& o) { o.stage3_dropout = -0.1; })),
                       doctest::Contains("stage3_dropout"), value_error);
  CHECK_THROWS_AS(Net(bad([](ERFNetOptions& o) { o.momentum = 1.5; })), value_error);
  CHECK_THROWS_AS(Net(bad([](ERFNetOptions& o) { o.eps = 0; })), value_error);
  Parameters<T, device> p;
  using Decoder = backbone::ERFNetDecoder<T, device, Dim>;
  CHECK_THROWS_WITH_AS(Decoder(p, good, 0), doctest::Contains("decoder classes"), value_error);

  Net net(good);
  auto odd = random_tensor<T, Dim>(erf_shape<Dim>(2, 1, 12, 8), 1);  // 12 is not a multiple of 8
  CHECK_THROWS_WITH_AS(net.forward(odd.view(), Context::evaluation()), doctest::Contains("spatial size 12"),
                       shape_error);
  auto channels = random_tensor<T, Dim>(erf_shape<Dim>(2, 3, 16, 8), 1);
  CHECK_THROWS_WITH_AS(net.forward(channels.view(), Context::evaluation()), doctest::Contains("3 channels"),
                       shape_error);
  // Train-mode BatchNorm needs two values per channel at the 1/8 resolution.
  auto single = random_tensor<T, Dim>(erf_shape<Dim>(1, 1, 8, 8), 1);
  CHECK_THROWS_AS(net.forward(single.view(), Context::training()), shape_error);
  CHECK_NOTHROW(net.forward(single.view(), Context::evaluation()));
}

// PyTorch parity without fixture files: weights, input and upstream gradient follow closed-form
// sequences in both programs, and the test compares a few outputs and scalar summaries. The
// PyTorch side is tools/parity/erfnet.py (run `/usr/bin/python3 tools/parity/erfnet.py`): the
// same ERFNet as an nn.Module registered in our parameter order, in float64, with the tiny
// options below (widths 4/6/8, one block per stage, dilations 2 and 4, no dropout) and
// parameter i (in the flat order) = 0.4·sin(1.3·i + 0.5), x[i] = cos(0.37·i), dy[i] = sin(0.11·i);
// y in train mode, then eval mode after that one step; <dx, c> with c[i] = sin(0.05·i) and
// <dparameters, c> with c[i] = sin(0.07·i). The numbers below are that script's output
// (PyTorch 1.13).
TEST_CASE_TEMPLATE("erfnet: PyTorch parity of a tiny network", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  struct Expected {
    int spatial;
    double y0, y37, ylast, sum_sq, eval_sum_sq, eval_y0, dx_dot, dp_dot;
  };
  const Expected cases[] = {
      {2, -0.179643898501, -0.166389595789, 0.35396798622, 131.197690778, 120.606650949, -0.182401106869,
       0.102292507841, -6.48009253771},
      {3, -0.7063094291, -0.203024334931, -0.107218775798, 1600.55710311, 1508.3922476, -0.764722756885,
       23.4578929814, -90.0985337003},
  };
  auto sequence = [](std::size_t n, double a, double b, double scale) {
    std::vector<double> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = scale * std::sin(a * double(i) + b);
    return v;
  };
  auto dot = [](const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
  };
  auto to_t = [](const std::vector<double>& v) { return std::vector<T>(v.begin(), v.end()); };
  const double tol = sizeof(T) == 4 ? 2e-4 : 1e-9;
  for (const Expected& e : cases) {
    if (e.spatial != Dim::spatial) continue;
    backbone::ERFNet<T, device, Dim> net(tiny(2, 3, {4, 6, 8}));
    auto& p = net.parameters();
    from_host(p.values().view(), to_t(sequence(std::size_t(p.size()), 1.3, 0.5, 0.4)));
    // 2×2×16×16 in 2D, 2×2×8×8×16 in 3D.
    Tensor<T, device, Dim> x(Dim::spatial == 2 ? erf_shape<Dim>(2, 2, 16, 16) : erf_shape<Dim>(2, 2, 8, 16));
    std::vector<double> xs(std::size_t(x.size()));
    for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = std::cos(0.37 * double(i));
    from_host(x.view(), to_t(xs));
    p.zero_grad();
    const auto& y_tensor = net.forward(x.view(), Context::training());
    const auto y = values(y_tensor);
    Tensor<T, device, Dim> dy(y_tensor.shape());
    from_host(dy.view(), to_t(sequence(y.size(), 0.11, 0.0, 1.0)));
    const auto dx = values(net.backward(dy.view()));
    const auto dp = values(p.grads().view());
    // Eval mode reads the running statistics that the one train-mode pass updated.
    const auto y_eval = values(net.forward(x.view(), Context::evaluation()));
    CHECK(y_eval[0] == doctest::Approx(e.eval_y0).epsilon(tol));
    CHECK(dot(y_eval, y_eval) == doctest::Approx(e.eval_sum_sq).epsilon(tol));
    CHECK(y[0] == doctest::Approx(e.y0).epsilon(tol));
    CHECK(y[37] == doctest::Approx(e.y37).epsilon(tol));
    CHECK(y.back() == doctest::Approx(e.ylast).epsilon(tol));
    CHECK(dot(y, y) == doctest::Approx(e.sum_sq).epsilon(tol));
    CHECK(dot(dx, sequence(dx.size(), 0.05, 0.0, 1.0)) == doctest::Approx(e.dx_dot).epsilon(tol));
    CHECK(dot(dp, sequence(dp.size(), 0.07, 0.0, 1.0)) == doctest::Approx(e.dp_dot).epsilon(tol));
  }
}

}  // namespace semiseg::test
