#include "semiseg/instance/matching.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <utility>
#include <vector>

#if !defined(__CUDACC__)
#include <xtensor/xtensor.hpp>
#endif

#include "support/harness.hpp"

// Inside the namespace, dim3 means semiseg::dim3 and not CUDA's dim3.
namespace semiseg::test {

using instance::EmptyImage;
using instance::InstanceScores;
using instance::linear_sum_assignment;
using instance::match_instances;
using instance::Matching;
using instance::Overlap;
using Labels = std::vector<std::int32_t>;
using Assignment = std::vector<std::pair<std::size_t, std::size_t>>;

namespace {

double total_cost(const std::vector<double>& cost, std::size_t cols, const Assignment& a) {
  double sum = 0;
  for (const auto& [r, c] : a) sum += cost[r * cols + c];
  return sum;
}

// The least cost over every way to pair min(rows, cols) rows and columns one-to-one.
double brute_force(const std::vector<double>& cost, std::size_t rows, std::size_t cols) {
  const std::size_t n = std::min(rows, cols), m = std::max(rows, cols);
  std::vector<std::size_t> perm(m);
  std::iota(perm.begin(), perm.end(), std::size_t{0});
  double best = std::numeric_limits<double>::infinity();
  do {
    double sum = 0;
    for (std::size_t k = 0; k < n; ++k) sum += rows <= cols ? cost[k * cols + perm[k]] : cost[perm[k] * cols + k];
    best = std::min(best, sum);
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

// min(rows, cols) pairs, ordered by row, no row or column twice, all in range.
void check_structure(const Assignment& a, std::size_t rows, std::size_t cols) {
  REQUIRE(a.size() == std::min(rows, cols));
  std::vector<char> used(cols, 0);
  for (std::size_t k = 0; k < a.size(); ++k) {
    CHECK(a[k].first < rows);
    REQUIRE(a[k].second < cols);
    if (k > 0) CHECK(a[k - 1].first < a[k].first);
    CHECK_FALSE(used[a[k].second]);
    used[a[k].second] = 1;
  }
}

// StarDist's rule on the whole dense IoU matrix, for comparison with the per-component solve.
std::int64_t dense_true_positives(const Overlap& o, double threshold) {
  const std::size_t n_true = o.n_true(), n_pred = o.n_pred(), n_matched = std::min(n_true, n_pred);
  if (n_matched == 0) return 0;
  const std::vector<double> iou = o.iou_matrix();
  std::vector<double> cost(iou.size());
  for (std::size_t k = 0; k < iou.size(); ++k)
    cost[k] = -(iou[k] >= threshold ? 1.0 : 0.0) - iou[k] / (2.0 * static_cast<double>(n_matched));
  std::int64_t tp = 0;
  for (const auto& [r, c] : linear_sum_assignment(cost, n_true, n_pred)) tp += iou[r * n_pred + c] >= threshold;
  return tp;
}

void check_counts(const Matching& m, std::int64_t tp, std::int64_t fp, std::int64_t fn) {
  CHECK(m.tp == tp);
  CHECK(m.fp == fp);
  CHECK(m.fn == fn);
  CHECK(m.n_true == tp + fn);
  CHECK(m.n_pred == tp + fp);
  CHECK(m.matches.size() == static_cast<std::size_t>(tp));
}

}  // namespace

TEST_CASE("matching: Hungarian on a hand-solved matrix and degenerate sizes") {
  const std::vector<double> cost{4, 1, 3, 2, 0, 5, 3, 2, 2};
  const auto a = linear_sum_assignment(cost, 3, 3);
  CHECK(a == Assignment{{0, 1}, {1, 0}, {2, 2}});
  CHECK(total_cost(cost, 3, a) == 5);
  // 2×3 and its transpose: the best two of three columns, then of three rows.
  const std::vector<double> wide{1, 9, 2, 8, 1, 9};
  CHECK(linear_sum_assignment(wide, 2, 3) == Assignment{{0, 0}, {1, 1}});
  const std::vector<double> tall{1, 8, 9, 1, 2, 9};
  CHECK(linear_sum_assignment(tall, 3, 2) == Assignment{{0, 0}, {1, 1}});
  CHECK(linear_sum_assignment({}, 0, 4).empty());
  CHECK(linear_sum_assignment({}, 3, 0).empty());
  CHECK(linear_sum_assignment({-7.5}, 1, 1) == Assignment{{0, 0}});
  CHECK_THROWS_AS(linear_sum_assignment(cost, 2, 3), shape_error);
  CHECK_THROWS_AS(linear_sum_assignment({1, std::nan(""), 2, 3}, 2, 2), value_error);
  CHECK_THROWS_AS(linear_sum_assignment({1, std::numeric_limits<double>::infinity(), 2, 3}, 2, 2), value_error);
}

TEST_CASE("matching: Hungarian equals brute force on random square and rectangular matrices") {
  std::mt19937 rng(20240611u);
  const std::vector<std::pair<std::size_t, std::size_t>> shapes{{1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 5}, {6, 6},
                                                                {7, 7}, {1, 6}, {6, 1}, {2, 5}, {5, 2}, {3, 7},
                                                                {7, 3}, {4, 6}, {6, 4}, {5, 7}, {7, 6}};
  int checked = 0;
  for (const auto& [rows, cols] : shapes)
    for (int trial = 0; trial < 12; ++trial) {
      std::vector<double> cost(rows * cols);
      for (double& c : cost) {
        // Small integers (many ties), reals of both signs, or StarDist-like costs in [−1.5, 0].
        if (trial % 3 == 0) c = static_cast<double>(rng() % 5);
        else if (trial % 3 == 1) c = static_cast<double>(static_cast<int>(rng() % 200001) - 100000) / 997.0;
        else c = -static_cast<double>(rng() % 2) - static_cast<double>(rng() % 1001) / 2000.0;
      }
      const auto a = linear_sum_assignment(cost, rows, cols);
      check_structure(a, rows, cols);
      CHECK(total_cost(cost, cols, a) == doctest::Approx(brute_force(cost, rows, cols)).epsilon(1e-12));
      ++checked;
    }
  CHECK(checked == 17 * 12);
}

TEST_CASE("matching: no objects in either map") {
  const Matching m = match_instances(Labels(12, 0), Labels(12, 0));
  check_counts(m, 0, 0, 0);
  CHECK(m.empty());
  // The empty prediction of an empty image is perfect (StarDist and EmbedSeg say 0).
  CHECK(m.accuracy == 1.0);
  CHECK(m.precision == 1.0);
  CHECK(m.recall == 1.0);
  CHECK(m.f1 == 1.0);
  CHECK(std::isnan(m.mean_matched_iou));

  // In a data set, under each rule: one empty image, one perfect one (accuracy 1), one whose
  // objects are all missed (accuracy 0).
  const Labels object{0, 1, 1, 0}, nothing(4, 0);
  const auto fill = [&](InstanceScores& s) {
    s.add(nothing, nothing);
    s.add(object, object);
    s.add(object, nothing);
  };
  InstanceScores perfect, zero({0.5}, EmptyImage::zero), skip({0.5}, EmptyImage::skip);
  fill(perfect);
  fill(zero);
  fill(skip);
  CHECK(perfect.images() == 3);
  CHECK(perfect.empty_images() == 1);
  CHECK(perfect.ap_dsb() == doctest::Approx(2.0 / 3));
  CHECK(zero.ap_dsb() == doctest::Approx(1.0 / 3));
  CHECK(skip.ap_dsb() == doctest::Approx(0.5));
  CHECK(perfect.at(0.5).images == 3);
  CHECK(zero.at(0.5).images == 3);
  CHECK(skip.at(0.5).images == 2);
  CHECK(skip.images() == 3);
  // Pooled counts are the same under every rule: TP 1, FN 1.
  CHECK(skip.at(0.5).pooled_accuracy == doctest::Approx(0.5));
  CHECK(perfect.at(0.5).tp == 1);
  CHECK(perfect.at(0.5).fn == 1);

  // A data set of empty images only.
  InstanceScores only_perfect, only_zero({0.5}, EmptyImage::zero), only_skip({0.5}, EmptyImage::skip);
  only_perfect.add(nothing, nothing);
  only_zero.add(nothing, nothing);
  only_skip.add(nothing, nothing);
  CHECK(only_perfect.ap_dsb() == 1.0);
  CHECK(only_perfect.at(0.5).pooled_accuracy == 1.0);
  CHECK(only_zero.ap_dsb() == 0.0);
  CHECK(only_zero.at(0.5).f1 == 0.0);
  CHECK(std::isnan(only_skip.ap_dsb()));
  CHECK(std::isnan(only_skip.at(0.5).pooled_accuracy));
  CHECK(std::isnan(only_perfect.mean_matched_iou()));
  // Nothing added: NaN everywhere.
  const InstanceScores none;
  CHECK(std::isnan(none.ap_dsb()));
  CHECK(std::isnan(none.at(0.5).precision));
  CHECK(none.images() == 0);
}

TEST_CASE("matching: all objects missed, and only false positives") {
  // Two 2×2 objects in a 4×4 image.
  const Labels truth{1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 2, 2, 0, 0, 2, 2}, nothing(16, 0);
  const Matching missed = match_instances(truth, nothing);
  check_counts(missed, 0, 0, 2);
  CHECK_FALSE(missed.empty());
  CHECK(missed.accuracy == 0.0);
  CHECK(missed.precision == 0.0);  // 0/0 is 0 as StarDist's
  CHECK(missed.recall == 0.0);
  CHECK(missed.f1 == 0.0);
  CHECK(std::isnan(missed.mean_matched_iou));

  const Labels prediction{3, 0, 0, 4, 0, 0, 0, 4, 0, 0, 0, 0, 9, 9, 0, 0};
  const Matching spurious = match_instances(nothing, prediction);
  check_counts(spurious, 0, 3, 0);
  CHECK(spurious.accuracy == 0.0);
  CHECK(spurious.precision == 0.0);
  CHECK(spurious.recall == 0.0);

  InstanceScores scores;
  scores.add(truth, nothing);
  scores.add(nothing, prediction);
  const auto s = scores.at(0.5);
  CHECK(s.ap_dsb == 0.0);
  CHECK(s.tp == 0);
  CHECK(s.fp == 3);
  CHECK(s.fn == 2);
  CHECK(s.n_true == 2);
  CHECK(s.n_pred == 3);
  CHECK(s.pooled_accuracy == 0.0);
  CHECK(std::isnan(scores.mean_matched_iou()));
}

TEST_CASE("matching: a perfect match whatever the ids") {
  const Labels truth{1, 1, 0, 2, 1, 1, 0, 2, 0, 0, 0, 2, 3, 3, 3, 0};
  const Labels prediction{7, 7, 0, 3, 7, 7, 0, 3, 0, 0, 0, 3, 1, 1, 1, 0};
  const Matching m = match_instances(truth, prediction);
  check_counts(m, 3, 0, 0);
  CHECK(m.accuracy == 1.0);
  CHECK(m.f1 == 1.0);
  CHECK(m.mean_matched_iou == 1.0);
  REQUIRE(m.matches.size() == 3);
  CHECK(m.matches[0].truth == 1);
  CHECK(m.matches[0].prediction == 7);
  CHECK(m.matches[1].truth == 2);
  CHECK(m.matches[1].prediction == 3);
  CHECK(m.matches[2].truth == 3);
  CHECK(m.matches[2].prediction == 1);

  // Ids far beyond the pixel count (a hashed index rather than a table).
  Labels big = prediction;
  for (auto& v : big) v = v == 7 ? (std::int32_t{1} << 30) : v == 3 ? 123456789 : v;
  Labels big_truth = truth;
  for (auto& v : big_truth) v = v == 2 ? std::numeric_limits<std::int32_t>::max() : v;
  const Matching b = match_instances(big_truth, big);
  check_counts(b, 3, 0, 0);
  REQUIRE(b.matches.size() == 3);
  CHECK(b.matches[0].prediction == (std::int32_t{1} << 30));
  CHECK(b.matches[1].truth == 3);
  CHECK(b.matches[2].truth == std::numeric_limits<std::int32_t>::max());
  CHECK(b.matches[2].prediction == 123456789);

  const Overlap o(truth, prediction);
  CHECK(o.truth_ids() == Labels{1, 2, 3});
  CHECK(o.prediction_ids() == Labels{1, 3, 7});
  CHECK(o.truth_areas() == std::vector<std::int64_t>{4, 3, 3});
  CHECK(o.pairs().size() == 3);
  CHECK(o.iou_matrix() == std::vector<double>{0, 0, 1, 0, 1, 0, 1, 0, 0});
}

TEST_CASE("matching: a split object matches its larger piece at 0.5") {
  // One 2×5 true object; the prediction cuts it into a 2×3 (IoU 0.6) and a 2×2 (IoU 0.4) piece.
  const Labels truth(10, 1);
  const Labels prediction{4, 4, 4, 9, 9, 4, 4, 4, 9, 9};
  const Matching m = match_instances(truth, prediction, 0.5);
  check_counts(m, 1, 1, 0);
  REQUIRE(m.matches.size() == 1);
  CHECK(m.matches[0].truth == 1);
  CHECK(m.matches[0].prediction == 4);
  CHECK(m.matches[0].iou == doctest::Approx(0.6));
  CHECK(m.precision == 0.5);
  CHECK(m.recall == 1.0);
  CHECK(m.f1 == doctest::Approx(2.0 / 3));
  CHECK(m.accuracy == 0.5);
  CHECK(m.mean_matched_iou == doctest::Approx(0.6));
  // At 0.3 both pieces qualify; the IoU tie-break still picks the larger one, and one piece is
  // still a false positive.
  const Matching low = match_instances(truth, prediction, 0.3);
  check_counts(low, 1, 1, 0);
  CHECK(low.matches[0].prediction == 4);
  // At 0.7 neither piece does.
  check_counts(match_instances(truth, prediction, 0.7), 0, 2, 1);
}

TEST_CASE("matching: merged objects match only one of the true objects") {
  // Two true objects (2×3 and 2×2) predicted as one 2×5 object: IoU 0.6 and 0.4.
  const Labels truth{1, 1, 1, 2, 2, 1, 1, 1, 2, 2};
  const Labels prediction(10, 5);
  const Matching m = match_instances(truth, prediction);
  check_counts(m, 1, 0, 1);
  CHECK(m.matches[0].truth == 1);
  CHECK(m.matches[0].prediction == 5);
  CHECK(m.precision == 1.0);
  CHECK(m.recall == 0.5);
  CHECK(m.accuracy == 0.5);
  // Equal halves: both IoUs are exactly 0.5, which passes (IoU ≥ threshold), but only one of
  // the two true objects can take the prediction.
  const Labels halves{1, 1, 2, 2, 1, 1, 2, 2};
  const Matching h = match_instances(halves, Labels(8, 3));
  check_counts(h, 1, 0, 1);
  CHECK(h.matches[0].iou == 0.5);
  CHECK(h.accuracy == 0.5);
}

TEST_CASE("matching: thresholds 0.5 and 0.9 on the same pair") {
  // A 2×5 true object; the prediction covers 8 of its 10 pixels and nothing else: IoU 0.8.
  const Labels truth(10, 1);
  const Labels prediction{2, 2, 2, 2, 0, 2, 2, 2, 2, 0};
  const Matching at5 = match_instances(truth, prediction, 0.5);
  check_counts(at5, 1, 0, 0);
  CHECK(at5.accuracy == 1.0);
  CHECK(at5.mean_matched_iou == doctest::Approx(0.8));
  const Matching at9 = match_instances(truth, prediction, 0.9);
  check_counts(at9, 0, 1, 1);
  CHECK(at9.accuracy == 0.0);
  CHECK(std::isnan(at9.mean_matched_iou));
  // The threshold 0.8 itself passes.
  CHECK(match_instances(truth, prediction, 0.8).tp == 1);

  // The same image and a perfect one in one data set.
  InstanceScores scores({0.5, 0.9});
  scores.add(truth, prediction);
  scores.add(truth, truth);
  CHECK(scores.ap_dsb(0.5) == 1.0);
  CHECK(scores.ap_dsb(0.9) == doctest::Approx(0.5));
  const auto s9 = scores.at(0.9);
  CHECK(s9.tp == 1);
  CHECK(s9.fp == 1);
  CHECK(s9.fn == 1);
  CHECK(s9.pooled_accuracy == doctest::Approx(1.0 / 3));
  CHECK(s9.precision == doctest::Approx(0.5));
  CHECK(s9.recall == doctest::Approx(0.5));
  CHECK(s9.f1 == doctest::Approx(0.5));
  const auto all = scores.all();
  REQUIRE(all.size() == 2);
  CHECK(all[0].threshold == 0.5);
  CHECK(all[1].threshold == 0.9);
  CHECK(all[1].ap_dsb == s9.ap_dsb);
  // Mean matched IoU is at IoU ≥ 0.5, whichever thresholds the accumulator scores.
  CHECK(scores.mean_matched_iou() == doctest::Approx(0.9));
  CHECK(scores.matched_pairs() == 2);
  InstanceScores strict({0.9});
  strict.add(truth, prediction);
  strict.add(truth, truth);
  CHECK(strict.mean_matched_iou() == doctest::Approx(0.9));
  CHECK(strict.ap_dsb(0.9) == doctest::Approx(0.5));
}

TEST_CASE("matching: a low threshold needs the optimal assignment, not the best IoU first") {
  // A 1×16 strip. Truth: A = [0, 10), B = [10, 16). Prediction: Y = [0, 2), X = [2, 13).
  // IoU(A, X) = 8/13, IoU(A, Y) = 2/10, IoU(B, X) = 3/14. Taking the best IoU first (A–X)
  // gives one TP at threshold 0.15; the optimum pairs A–Y and B–X for two.
  Labels truth(16, 2), prediction(16, 0);
  for (int i = 0; i < 10; ++i) truth[i] = 1;
  for (int i = 0; i < 2; ++i) prediction[i] = 1;
  for (int i = 2; i < 13; ++i) prediction[i] = 2;
  const Matching low = match_instances(truth, prediction, 0.15);
  check_counts(low, 2, 0, 0);
  CHECK(low.matches[0].prediction == 1);
  CHECK(low.matches[0].iou == doctest::Approx(0.2));
  CHECK(low.matches[1].prediction == 2);
  CHECK(low.matches[1].iou == doctest::Approx(3.0 / 14));
  CHECK(low.mean_matched_iou == doctest::Approx((0.2 + 3.0 / 14) / 2));
  const Matching half = match_instances(truth, prediction, 0.5);
  check_counts(half, 1, 1, 1);
  CHECK(half.matches[0].truth == 1);
  CHECK(half.matches[0].prediction == 2);
  CHECK(half.matches[0].iou == doctest::Approx(8.0 / 13));
}

TEST_CASE("matching: ignored truth pixels count for neither map") {
  // 3×4. Truth object 1 is 2×2; the right half is ignored. Prediction 5 spills 2 pixels into the
  // ignored region, and prediction 7 lies wholly inside it.
  const Labels truth{1, 1, -1, -1, 1, 1, -1, -1, 0, 0, -1, -1};
  Labels prediction{5, 5, 5, 0, 5, 5, 5, 7, 0, 0, 0, 7};
  const Overlap o(truth, prediction);
  CHECK(o.ignored() == 6);
  CHECK(o.prediction_ids() == Labels{5});  // 7 has no counted pixel: no object
  CHECK(o.prediction_areas() == std::vector<std::int64_t>{4});
  const Matching m = o.match(0.5);
  check_counts(m, 1, 0, 0);
  CHECK(m.mean_matched_iou == 1.0);
  // Without the ignore region, the spill costs IoU (4/6) and 7 is a false positive.
  const Labels plain{1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0};
  const Matching p = match_instances(plain, prediction);
  check_counts(p, 1, 1, 0);
  CHECK(p.mean_matched_iou == doctest::Approx(4.0 / 6));
  // A negative prediction is not looked at where the truth is ignored, and is an error elsewhere.
  prediction[3] = -1;
  CHECK(match_instances(truth, prediction).tp == 1);
  prediction[8] = -1;
  CHECK_THROWS_AS(match_instances(truth, prediction), value_error);
  // Only ignored pixels: an empty image.
  CHECK(match_instances(Labels(4, -1), Labels{0, 3, -2, 1}).empty());
}

TEST_CASE("matching: 3D label maps") {
  // 2×3×3. Truth 1 (5 voxels) is predicted exactly as 4; truth 2 (3 voxels) by 6 with 1 voxel.
  const Labels truth{1, 1, 0, 1, 1, 0, 0, 0, 2,  //
                     1, 1, 0, 0, 0, 0, 0, 2, 2};
  const Labels prediction{4, 4, 0, 4, 4, 0, 0, 0, 0,  //
                          4, 4, 0, 0, 0, 0, 0, 0, 6};
  const auto check = [](const Matching& at5, const Matching& at3) {
    check_counts(at5, 1, 1, 1);
    CHECK(at5.accuracy == doctest::Approx(1.0 / 3));
    CHECK(at5.mean_matched_iou == 1.0);
    check_counts(at3, 2, 0, 0);
    CHECK(at3.accuracy == 1.0);
    CHECK(at3.mean_matched_iou == doctest::Approx((1.0 + 1.0 / 3) / 2));
  };
  check(match_instances(truth, prediction, 0.5), match_instances(truth, prediction, 0.3));
#if !defined(__CUDACC__)
  xt::xtensor<std::int32_t, 3> t({2, 3, 3}), p({2, 3, 3});
  std::copy(truth.begin(), truth.end(), t.begin());
  std::copy(prediction.begin(), prediction.end(), p.begin());
  check(match_instances(t, p, 0.5), match_instances(t, p, 0.3));
  InstanceScores scores({0.3, 0.5});
  scores.add(t, p);
  CHECK(scores.ap_dsb(0.3) == 1.0);
  CHECK(scores.ap_dsb(0.5) == doctest::Approx(1.0 / 3));
  CHECK(scores.mean_matched_iou() == 1.0);
  xt::xtensor<std::int32_t, 3> other({3, 3, 2});
  other.fill(0);
  CHECK_THROWS_AS(match_instances(t, other), shape_error);  // same size, other shape
  CHECK_THROWS_AS(scores.add(other, p), shape_error);
  // 2D maps as xtensors too.
  xt::xtensor<std::int32_t, 2> t2({2, 5}), p2({2, 5});
  t2.fill(1);
  const Labels split{4, 4, 4, 9, 9, 4, 4, 4, 9, 9};
  std::copy(split.begin(), split.end(), p2.begin());
  check_counts(match_instances(t2, p2), 1, 1, 0);
#endif
  // cpu Tensors (N×1×D×H×W) are label maps as well.
  Tensor<std::int32_t, cpu, dim3> tt(make_shape<3>(1, 1, {2, 3, 3})), pt(make_shape<3>(1, 1, {2, 3, 3}));
  from_host(tt.view(), truth);
  from_host(pt.view(), prediction);
  check(match_instances(tt, pt, 0.5), match_instances(tt, pt, 0.3));
}

TEST_CASE("matching: an N×1×spatial label tensor adds one image per sample") {
  // Two 2×5 samples that reuse id 1: as one image they would merge into one object.
  const Labels truth{1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  //
                     1, 1, 0, 0, 0, 1, 1, 0, 0, 0};
  const Labels prediction{4, 4, 4, 9, 9, 4, 4, 4, 9, 9,  // split: accuracy 1/2
                          1, 1, 0, 0, 0, 1, 1, 0, 0, 0};  // perfect
  Tensor<std::int32_t, cpu, dim2> t(make_shape<2>(2, 1, {2, 5})), p(make_shape<2>(2, 1, {2, 5}));
  from_host(t.view(), truth);
  from_host(p.view(), prediction);
  InstanceScores scores;
  scores.add(t, p);
  CHECK(scores.images() == 2);
  CHECK(scores.ap_dsb() == doctest::Approx(0.75));
  CHECK(scores.at(0.5).n_true == 2);
  CHECK(scores.at(0.5).n_pred == 3);
  CHECK(scores.mean_matched_iou() == doctest::Approx(0.8));  // (0.6 + 1) / 2
  // One image at a time for the per-image functions.
  CHECK_THROWS_AS(match_instances(t, p), shape_error);
  CHECK_THROWS_AS(Overlap(t, p), shape_error);
  // Labels have one channel.
  Tensor<std::int32_t, cpu, dim2> two(make_shape<2>(1, 2, {2, 5}));
  two.zero();
  CHECK_THROWS_AS(scores.add(two, two), shape_error);
  // A bad sample leaves the scores as they were.
  Labels bad = prediction;
  bad[12] = 0;
  bad[13] = -1;
  from_host(p.view(), bad);
  CHECK_THROWS_AS(scores.add(t, p), value_error);
  CHECK(scores.images() == 2);
  CHECK(scores.ap_dsb() == doctest::Approx(0.75));
}

TEST_CASE("matching: per-component assignment equals StarDist's rule on the whole matrix") {
  // Random rectangles, later ones on top; the prediction jitters the true ones, drops some and
  // adds others, under shuffled ids.
  std::mt19937 rng(7u);
  const int H = 24, W = 24;
  const auto draw = [&](Labels& map, std::int32_t id, int y, int x, int h, int w) {
    for (int i = std::max(0, y); i < std::min(H, y + h); ++i)
      for (int j = std::max(0, x); j < std::min(W, x + w); ++j) map[static_cast<std::size_t>(i * W + j)] = id;
  };
  const auto jitter = [&](int v) { return v + static_cast<int>(rng() % 5) - 2; };
  int components_checked = 0;
  for (int image = 0; image < 40; ++image) {
    Labels truth(H * W, 0), prediction(H * W, 0);
    const int objects = 1 + static_cast<int>(rng() % 12);
    for (int k = 1; k <= objects; ++k) {
      const int y = static_cast<int>(rng() % H), x = static_cast<int>(rng() % W);
      const int h = 2 + static_cast<int>(rng() % 8), w = 2 + static_cast<int>(rng() % 8);
      draw(truth, k, y, x, h, w);
      if (rng() % 5 != 0) draw(prediction, 100 - 3 * k, jitter(y), jitter(x), jitter(h), jitter(w));
    }
    for (int extra = static_cast<int>(rng() % 3); extra > 0; --extra)
      draw(prediction, 500 + extra, static_cast<int>(rng() % H), static_cast<int>(rng() % W), 3, 3);
    if (image % 4 == 0) draw(truth, -1, static_cast<int>(rng() % H), 0, 4, W);  // an ignored band
    const Overlap o(truth, prediction);
    for (const double threshold : {0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0}) {
      const Matching m = o.match(threshold);
      CHECK(m.tp == dense_true_positives(o, threshold));
      CHECK(m.fp == m.n_pred - m.tp);
      CHECK(m.fn == m.n_true - m.tp);
      for (const auto& pair : m.matches) CHECK(pair.iou >= threshold);
      ++components_checked;
    }
  }
  CHECK(components_checked == 40 * 11);
}

TEST_CASE("matching: the accumulator averages per image, merges and resets") {
  const Labels truth(10, 1);
  const Labels split{4, 4, 4, 9, 9, 4, 4, 4, 9, 9};  // accuracy 1/2 at 0.5, IoU 0.6
  const Labels covered{2, 2, 2, 2, 0, 2, 2, 2, 2, 0};  // accuracy 1 at 0.5, IoU 0.8
  const Labels nothing(10, 0);                          // accuracy 0
  InstanceScores whole({0.5, 0.7}), first({0.5, 0.7}), second({0.5, 0.7});
  whole.add(truth, split);
  whole.add(truth, covered);
  whole.add(truth, nothing);
  first.add(truth, split);
  second.add(truth, covered);
  second.add(truth, nothing);
  first.merge(second);
  for (const InstanceScores* s : {&whole, &first}) {
    CHECK(s->images() == 3);
    CHECK(s->ap_dsb(0.5) == doctest::Approx(0.5));       // (1/2 + 1 + 0) / 3
    CHECK(s->ap_dsb(0.7) == doctest::Approx(1.0 / 3));   // (0 + 1 + 0) / 3
    const auto at5 = s->at(0.5);
    CHECK(at5.tp == 2);
    CHECK(at5.fp == 1);
    CHECK(at5.fn == 1);
    CHECK(at5.pooled_accuracy == doctest::Approx(0.5));  // 2 / (2 + 1 + 1)
    CHECK(s->mean_matched_iou() == doctest::Approx(0.7));
    CHECK(s->matched_pairs() == 2);
  }
  CHECK_THROWS_AS(first.merge(InstanceScores({0.5})), value_error);
  CHECK_THROWS_AS(first.merge(InstanceScores({0.5, 0.7}, EmptyImage::skip)), value_error);
  first.reset();
  CHECK(first.images() == 0);
  CHECK(std::isnan(first.ap_dsb(0.5)));
  CHECK(first.at(0.7).tp == 0);
  CHECK(first.matched_pairs() == 0);
  // The Overlap of an image can be added directly.
  first.add(Overlap(truth, covered));
  CHECK(first.ap_dsb(0.5) == 1.0);
}

TEST_CASE("matching: bad input is a typed error and changes nothing") {
  CHECK_THROWS_AS(match_instances(Labels(6, 0), Labels(5, 0)), shape_error);
  CHECK_THROWS_AS(Overlap(Labels(6, 0), Labels(7, 0)), shape_error);
  const auto a = Tensor<std::int32_t, cpu, dim2>(make_shape<2>(1, 1, {2, 3}));
  const auto b = Tensor<std::int32_t, cpu, dim2>(make_shape<2>(1, 1, {3, 2}));
  CHECK_THROWS_AS(match_instances(a, b), shape_error);  // same size, other shape
  InstanceScores scores;
  CHECK_THROWS_AS(scores.add(Labels(6, 1), Labels(5, 1)), shape_error);
  CHECK_THROWS_AS(scores.add(Labels{1, 1}, Labels{1, -3}), value_error);
  CHECK(scores.images() == 0);
  CHECK(scores.at(0.5).tp == 0);

  for (const double bad : {0.0, -0.5, 1.01, std::nan("")}) {
    CHECK_THROWS_AS(match_instances(Labels{1}, Labels{1}, bad), value_error);
    CHECK_THROWS_AS(Overlap(Labels{1}, Labels{1}).match(bad), value_error);
    CHECK_THROWS_AS(InstanceScores({0.5, bad}), value_error);
  }
  CHECK(match_instances(Labels{1}, Labels{1}, 1.0).tp == 1);  // 1 itself is allowed
  CHECK_THROWS_AS(InstanceScores(std::vector<double>{}), value_error);
  CHECK_THROWS_AS(InstanceScores({0.5, 0.75, 0.5}), value_error);
  CHECK_THROWS_AS(scores.at(0.75), value_error);
  CHECK_THROWS_AS(scores.scores(1), value_error);
}

}  // namespace semiseg::test
