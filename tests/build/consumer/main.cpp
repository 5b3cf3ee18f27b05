// Through the installed headers: one 2D convolution forward, and a TIFF stack and a PNG written
// and read back (libtiff and stb found through the package). Exits non-zero on any mismatch.
#include <semiseg/data/io/stb_image.hpp>
#include <semiseg/data/io/tiff.hpp>
#include <semiseg/nn/conv.hpp>

#include <cstdio>
#include <filesystem>

int main() {
  namespace ss = semiseg;
  ss::Parameters<float, ss::cpu> params;
  ss::nn::Conv<float, ss::cpu, ss::dim2> conv(params, {.in_channels = 3, .out_channels = 8, .padding = ss::nn::fill<2>(1)});
  params.finalize(1);

  ss::Tensor<float, ss::cpu, ss::dim2> x(ss::make_shape<2>(2, 3, {5, 7}));
  x.zero();
  const auto& y = conv.forward(x.view(), ss::Context::evaluation());

  const auto expected = ss::make_shape<2>(2, 8, {5, 7});
  std::printf("consumer: conv output %s, expected %s\n", y.shape().str().c_str(), expected.str().c_str());
  if (y.shape() != expected) return 1;

  ss::data::Raster volume;
  volume.bits = 16;
  volume.values = xt::xtensor<float, 4>::from_shape({1, 3, 4, 5});
  for (std::size_t k = 0; k < volume.values.size(); ++k) volume.values.data()[k] = static_cast<float>(k * 100);
  ss::data::Raster plane;
  plane.bits = 8;
  plane.values = xt::xtensor<float, 4>::from_shape({1, 1, 4, 5});
  for (std::size_t k = 0; k < plane.values.size(); ++k) plane.values.data()[k] = static_cast<float>(k * 10);
  try {
    const auto dir = std::filesystem::temp_directory_path();
    ss::data::write_tiff(dir / "semiseg_consumer.tif", volume);
    ss::data::write_png(dir / "semiseg_consumer.png", plane);
    const ss::data::Raster tiff = ss::data::read_tiff(dir / "semiseg_consumer.tif");
    const ss::data::Raster png = ss::data::read_stb_image(dir / "semiseg_consumer.png");
    std::printf("consumer: TIFF stack of %zu pages and a %zux%zu PNG read back\n", tiff.depth(), png.height(),
                png.width());
    return tiff.values == volume.values && png.values == plane.values ? 0 : 1;
  } catch (const ss::error& e) {
    std::printf("consumer: %s\n", e.what());
    return 1;
  }
}
