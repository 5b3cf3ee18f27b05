#include "semiseg/backbone/unet.hpp"

#include "semiseg/backbone/backbone.hpp"
#include "backbone/support.hpp"
#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

using backbone::Norm;
using backbone::UNetOptions;
using backbone::Upsample;

static_assert(backbone::SegmentationBackbone<backbone::UNet<float, device, dim2>>);
static_assert(backbone::SegmentationBackbone<backbone::UNet<double, device, dim3>>);
static_assert(!backbone::ClassificationBackbone<backbone::UNet<float, device, dim2>>);

// A spatial shape with every extent `e`, except the first 3D axis, which is `depth_extent`.
template <class Dim>
shape_of<Dim> cube(index_t n, index_t c, index_t e, index_t depth_extent) {
  if constexpr (Dim::spatial == 2)
    return shape_nc<Dim>(n, c, {e, e});
  else
    return shape_nc<Dim>(n, c, {depth_extent, e, e});
}

TEST_CASE_TEMPLATE("unet: output shape in train and eval mode", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  backbone::UNet<T, device, Dim> net({.in_channels = 2, .classes = 5, .base_channels = 4, .depth = 2}, 1);
  auto x = random_tensor<T, Dim>(cube<Dim>(2, 2, 16, 8), 3);
  const auto& y = net.forward(x.view(), Context::training());
  CHECK(y.shape() == cube<Dim>(2, 5, 16, 8));
  const auto train = values(y);
  for (double v : train) REQUIRE(std::isfinite(v));
  // Eval mode uses the running statistics, which one train step has only moved 10% of the way.
  const auto eval = values(net.forward(x.view(), Context::evaluation()));
  CHECK(relative_error(eval, train) > 1e-3);
  // A batch of one and interpolation up-sampling give the same shape.
  backbone::UNet<T, device, Dim> interp(
      {.in_channels = 2, .classes = 5, .base_channels = 4, .depth = 3, .up = Upsample::interpolation, .up_kernel = 3},
      2);
  auto x1 = random_tensor<T, Dim>(cube<Dim>(1, 2, 16, 8), 4);
  CHECK(interp.forward(x1.view(), Context::evaluation()).shape() == cube<Dim>(1, 5, 16, 8));
}

// The counts come from the same networks built in PyTorch 1.13 (nn.Conv2d/3d without bias before
// each norm, ConvTranspose k2 s2 or Conv k1/k3 for the up step, Conv 1×1 head); buffers are the
// BatchNorm running means and variances. Reproduce with `/usr/bin/python3 counts.py` where
// counts.py sums p.numel() over model.parameters() and over the floating-point model.buffers():
//   unet(d, cin, classes, base, depth, norm, groups, up, up_kernel) =
//     per level i ≤ depth: 2 × [Conv(c_in, base·2^i, 3, pad 1, bias=False), Norm, ReLU],
//     per level i < depth, deepest first: Up(2c, c), 2 × [Conv, Norm, ReLU] from 2c, Conv(base, classes, 1).
TEST_CASE_TEMPLATE("unet: parameter counts match PyTorch", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  constexpr bool is2d = Dim::spatial == 2;
  struct Expected {
    UNetOptions options;
    index_t params2d, params3d, buffers;
  };
  const Expected cases[] = {
      {UNetOptions{}, 482466, 1401282, 1408},
      {{.in_channels = 3,
        .classes = 4,
        .base_channels = 8,
        .depth = 2,
        .norm = Norm::group,
        .groups = 4,
        .up = Upsample::interpolation,
        .up_kernel = 3},
       32852,
       97796,
       0},
      {{.in_channels = 3, .classes = 4, .base_channels = 8, .depth = 2, .up = Upsample::interpolation, .up_kernel = 1},
       27732,
       81156,
       320},
  };
  for (const Expected& e : cases) {
    backbone::UNet<T, device, Dim> net(e.options);
    CHECK(net.parameters().size() == (is2d ? e.params2d : e.params3d));
    CHECK(net.buffers().size() == e.buffers);
    CHECK(net.parameters().grads().size() == net.parameters().size());
  }
}

TEST_CASE_TEMPLATE("unet: gradient check", C, SEMISEG_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  struct Setup {
    Norm norm;
    Upsample up;
    index_t up_kernel, depth;
    double dropout;
  };
  for (const Setup s :
       {Setup{Norm::batch, Upsample::transposed, 1, 2, 0.0}, Setup{Norm::group, Upsample::transposed, 1, 2, 0.0},
        Setup{Norm::batch, Upsample::interpolation, 1, 2, 0.0}, Setup{Norm::group, Upsample::interpolation, 3, 2, 0.0},
        Setup{Norm::batch, Upsample::interpolation, 3, 1, 0.3}}) {
    // 3D costs ~30 times more per check: there, one channel at the top level, and the two
    // setups whose code paths the other 3D setups already cover are left out.
    constexpr bool is3d = Dim::spatial == 3;
    if (is3d && s.depth == 2 && (s.norm == Norm::group) == (s.up == Upsample::interpolation)) continue;
    CAPTURE(int(s.norm));
    CAPTURE(int(s.up));
    CAPTURE(s.up_kernel);
    CAPTURE(s.depth);
    backbone::UNet<T, device, Dim> net({.in_channels = 2,
                                        .classes = 3,
                                        .base_channels = is3d ? 1 : 2,
                                        .depth = s.depth,
                                        .norm = s.norm,
                                        .groups = is3d ? 1 : 2,
                                        .up = s.up,
                                        .up_kernel = s.up_kernel,
                                        .dropout = s.dropout},
                                       5);
    // Train mode: batch statistics are a deterministic function of the batch, and the dropout
    // mask is fixed by context.step, so the finite differences see the same function.
    const auto shape = is3d ? shape_nc<Dim>(2, 2, {4, 4, 8}) : cube<Dim>(2, 2, 8, 4);
    auto x = random_tensor<T, Dim>(shape, 11);
    check_gradient_result(
        testing::check_layer_gradients(net, &net.parameters(), x, Context::training(3), {.tolerance = 1e-5}));
  }
}

TEST_CASE_TEMPLATE("unet: the skip gradient reaches the input", C, SEMISEG_GRADIENT_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  // A second backward with the same dy gives the same dx, and parameter gradients accumulate.
  backbone::UNet<T, device, Dim> net({.in_channels = 1, .classes = 2, .base_channels = 2, .depth = 1}, 9);
  auto x = random_tensor<T, Dim>(cube<Dim>(2, 1, 8, 4), 12);
  check_backward_accumulates(net, x);
}

TEST_CASE_TEMPLATE("unet: seeds, moves, buffers and needs_backward", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  const UNetOptions o{.in_channels = 1, .classes = 2, .base_channels = 4, .depth = 2};
  backbone::UNet<T, device, Dim> a(o, 1), b(o, 1), c(o, 2);
  CHECK(values(a.parameters().values().view()) == values(b.parameters().values().view()));
  CHECK(values(a.parameters().values().view()) != values(c.parameters().values().view()));

  auto x = random_tensor<T, Dim>(cube<Dim>(2, 1, 8, 4), 3);
  const auto before = values(a.buffers().view());
  const auto y_eval = values(a.forward(x.view(), Context::evaluation()));
  CHECK(values(a.buffers().view()) == before);  // eval mode leaves the running statistics alone
  const auto y_train = values(a.forward(x.view(), Context{.train = true, .needs_backward = false}));
  CHECK(values(a.buffers().view()) != before);  // a teacher's train-mode pass updates them
  auto dy = random_tensor<T, Dim>(cube<Dim>(2, 2, 8, 4), 4);
  CHECK_THROWS_AS(a.backward(dy.view()), error);

  // A moved network keeps working: its layers point at the heap-owned parameter store.
  backbone::UNet<T, device, Dim> moved(std::move(b));
  CHECK(values(moved.forward(x.view(), Context::evaluation())) == y_eval);
  CHECK(values(moved.forward(x.view(), Context{.train = true, .needs_backward = false})) == y_train);
  CHECK(moved.parameters().entries().front().name == "unet.encoder0.block1.conv.weight");
  CHECK(moved.parameters().entries().back().name == "unet.head.bias");
}

TEST_CASE_TEMPLATE("unet: bad options and inputs", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  using Net = backbone::UNet<T, device, Dim>;
  CHECK_THROWS_AS(Net({.depth = 0}), value_error);
  CHECK_THROWS_AS(Net({.base_channels = 0}), value_error);
  CHECK_THROWS_AS(Net({.in_channels = 0}), value_error);
  CHECK_THROWS_AS(Net({.classes = 0}), value_error);
  CHECK_THROWS_AS(Net({.base_channels = 6, .norm = Norm::group, .groups = 4}), value_error);
  CHECK_THROWS_AS(Net({.up = Upsample::interpolation, .up_kernel = 2}), value_error);
  CHECK_THROWS_AS(Net({.dropout = 1.0}), value_error);

  Net net({.in_channels = 1, .classes = 2, .base_channels = 2, .depth = 3});
  auto odd = random_tensor<T, Dim>(cube<Dim>(1, 1, 12, 8), 1);  // 12 is not a multiple of 8
  CHECK_THROWS_WITH_AS(net.forward(odd.view(), Context::evaluation()), doctest::Contains("spatial size 12"),
                       shape_error);
  auto channels = random_tensor<T, Dim>(cube<Dim>(1, 3, 16, 8), 1);
  CHECK_THROWS_AS(net.forward(channels.view(), Context::evaluation()), shape_error);
}

// PyTorch parity without fixture files: weights, input and upstream gradient follow closed-form
// sequences in both programs, and the test compares a few outputs and scalar summaries. The
// PyTorch side is the same U-Net written as an nn.Module (modules registered in our parameter
// order: encoder levels, then per decoder level from the deepest the up conv and its two blocks,
// then the head), in float64, with parameter i (in the flat order) = 0.4·sin(1.3·i + 0.5),
// x[i] = cos(0.37·i), dy[i] = sin(0.11·i); y in train mode, then eval mode after that one step;
// <dx, c> with c[i] = sin(0.05·i) and <dparameters, c> with c[i] = sin(0.07·i). The numbers
// below are that script's output (PyTorch 1.13, /usr/bin/python3).
TEST_CASE_TEMPLATE("unet: PyTorch parity of a tiny network", C, SEMISEG_PARITY_CASES) {
  using T = typename C::value;
  using Dim = typename C::dim;
  struct Expected {
    int spatial;
    UNetOptions options;
    double y0, y37, ylast, sum_sq, eval_sum_sq, eval_y0, dx_dot, dp_dot;
  };
  const UNetOptions base{.in_channels = 2, .classes = 3, .base_channels = 2, .depth = 2, .groups = 2};
  UNetOptions group_interp = base, batch_interp = base;
  group_interp.norm = Norm::group;
  group_interp.up = Upsample::interpolation;
  group_interp.up_kernel = 3;
  batch_interp.up = Upsample::interpolation;
  const Expected cases[] = {
      {2, base, 0.398569834541, 0.383444761292, -0.387278105559, 40.2979867036, 38.0243911088, 0.383444761292,
       -0.0110154209425, -0.838850528475},
      {2, group_interp, -0.293184680112, -0.514087145315, 0.269421332389, 50.1821257909, 50.1821257909, -0.293184680112,
       -0.224857953865, 1.22670385172},
      {3, batch_interp, -0.390025608734, -0.314510182121, 0.16788997271, 152.302934359, 139.790552162, -0.356702493288,
       -0.411462801972, 19.3339376901},
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
    backbone::UNet<T, device, Dim> net(e.options);
    auto& p = net.parameters();
    from_host(p.values().view(), to_t(sequence(std::size_t(p.size()), 1.3, 0.5, 0.4)));
    Tensor<T, device, Dim> x(cube<Dim>(2, 2, 8, 4));
    std::vector<double> xs(std::size_t(x.size()));
    for (std::size_t i = 0; i < xs.size(); ++i) xs[i] = std::cos(0.37 * double(i));
    from_host(x.view(), to_t(xs));
    p.zero_grad();
    const auto y = values(net.forward(x.view(), Context::training()));
    Tensor<T, device, Dim> dy(cube<Dim>(2, 3, 8, 4));
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

// The reference script of the parity and count tests above (PyTorch 1.13, /usr/bin/python3):
//   import torch, torch.nn as nn, torch.nn.functional as F, math
//   torch.set_default_dtype(torch.float64)
//   class UNet(nn.Module):
//       def __init__(s, d, cin, cls, base, depth, norm, g, up, uk):
//           super().__init__()
//           C = nn.Conv2d if d == 2 else nn.Conv3d
//           N = (lambda c: (nn.BatchNorm2d if d == 2 else nn.BatchNorm3d)(c)) if norm == 'batch' else (lambda c: nn.GroupNorm(g, c))
//           ch = [base << i for i in range(depth + 1)]
//           blk = lambda i, o: nn.Sequential(C(i, o, 3, padding=1, bias=False), N(o), nn.ReLU(), C(o, o, 3, padding=1, bias=False), N(o), nn.ReLU())
//           s.enc = nn.ModuleList([blk(cin if i == 0 else ch[i-1], ch[i]) for i in range(depth + 1)])
//           s.dec = nn.ModuleList()
//           for i in reversed(range(depth)):
//               s.dec.append(nn.ModuleList([(nn.ConvTranspose2d if d == 2 else nn.ConvTranspose3d)(ch[i+1], ch[i], 2, stride=2) if up == 'transposed' else C(ch[i+1], ch[i], uk, padding=uk//2), blk(2*ch[i], ch[i])]))
//           s.head = C(ch[0], cls, 1); s.depth = depth; s.up = up; s.mode = 'bilinear' if d == 2 else 'trilinear'
//       def forward(s, x):
//           skips = []
//           for i, e in enumerate(s.enc):
//               x = e(x)
//               if i < s.depth: skips.append(x); x = F.max_pool2d(x, 2) if x.dim() == 4 else F.max_pool3d(x, 2)
//           for k in range(s.depth):
//               i = s.depth - 1 - k
//               if s.up != 'transposed': x = F.interpolate(x, scale_factor=2, mode=s.mode, align_corners=False)
//               x = s.dec[k][0](x)
//               x = s.dec[k][1](torch.cat([skips[i], x], 1))
//           return s.head(x)
//   def seq(n, a, b, scale=1.0): return torch.tensor([scale * math.sin(a * i + b) for i in range(n)])
//   for name, d, norm, up, uk, shape in [('2d batch transposed', 2, 'batch', 'transposed', 1, (2, 2, 8, 8)),
//                                          ('2d group interp k3', 2, 'group', 'interpolation', 3, (2, 2, 8, 8)),
//                                          ('3d batch interp k1', 3, 'batch', 'interpolation', 1, (2, 2, 4, 8, 8))]:
//       m = UNet(d, 2, 3, 2, 2, norm, 2, up, uk)
//       P = sum(p.numel() for p in m.parameters())
//       flatp = seq(P, 1.3, 0.5, 0.4)
//       off = 0
//       with torch.no_grad():
//           for p in m.parameters(): p.copy_(flatp[off:off + p.numel()].view_as(p)); off += p.numel()
//       n = math.prod(shape)
//       x = torch.tensor([math.cos(0.37 * i) for i in range(n)]).view(shape).requires_grad_()
//       m.train(); y = m(x)
//       dy = seq(y.numel(), 0.11, 0.0).view_as(y)
//       y.backward(dy)
//       gp = torch.cat([p.grad.flatten() for p in m.parameters()])
//       m.eval(); ye = m(x.detach())
//       yf = y.detach().flatten(); yef = ye.detach().flatten()
//       print(name, 'P', P, 'y', [round(float(yf[i]), 12) for i in (0, 37, yf.numel() - 1)],
//             'sum y^2 %.12g' % float((yf**2).sum()),
//             'eval sum y^2 %.12g' % float((yef**2).sum()), 'eval y0 %.12g' % float(yef[0]),
//             '<dx,c> %.12g' % float((x.grad.flatten() * seq(n, 0.05, 0.0)).sum()),
//             '<dp,c> %.12g' % float((gp * seq(P, 0.07, 0.0)).sum()))
