// Instance-segmentation scores: the objects of a predicted label map matched one-to-one to the
// objects of the true one. Contract: a label map is a host array of int32, one image (0
// background, k > 0 object k; ids need not be consecutive); truth pixels < 0 are ignored and
// count for neither map, so an object with no counted pixel is no object; a prediction < 0 on a
// counted pixel is a value_error; maps of different sizes (or, where both have shapes that
// compare, different shapes) are a shape_error. Matching is StarDist's (Schmidt et al. 2018),
// which EmbedSeg's evaluation uses: IoU between every true and predicted object; costs
// −[IoU ≥ t] − IoU/(2·min(n_true, n_pred)); an optimal assignment (linear_sum_assignment below,
// our own shortest-augmenting-path Hungarian); TP = assigned pairs with IoU ≥ t, FP = n_pred − TP,
// FN = n_true − TP. The assignment is solved per connected component of the overlap graph (pairs
// with IoU 0 cost 0 and no cost is positive, so the optimum is that of the whole matrix), and not
// at all for t > 0.5, where the pairs above t are disjoint and all of them are matched. Ratios
// whose denominator is 0 are 0, as StarDist's, except for an image with no true and no predicted
// object: its precision, recall, F1 and accuracy (AP_dsb = TP/(TP+FP+FN)) are 1, as the empty
// prediction is right. StarDist and EmbedSeg score that image 0 (`TP/(TP+FP+FN) if TP > 0 else
// 0`); InstanceScores, the data-set accumulator, can follow them (EmptyImage::zero) or leave such
// images out (EmptyImage::skip). Host side only.
#pragma once

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "semiseg/core/device.hpp"
#include "semiseg/core/error.hpp"
#include "semiseg/metrics/label_range.hpp"

namespace semiseg::instance {

namespace detail {

// Error messages, built by appending (operator+ on string literals trips GCC 12's -Wrestrict).
inline void append(std::string& s, const char* part) { s += part; }
inline void append(std::string& s, const std::string& part) { s += part; }
inline void append(std::string& s, double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", value);
  s += buffer;
}
template <std::integral I>
void append(std::string& s, I value) {
  s += std::to_string(value);
}
template <class... Parts>
std::string text(const Parts&... parts) {
  std::string out = "semiseg: ";
  (append(out, parts), ...);
  return out;
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Linear sum assignment.

// Pairs (row, column) of a rows×cols row-major cost matrix that minimise the summed cost, each
// row and each column used at most once: min(rows, cols) pairs, ordered by row. O(n²·m) for
// n = min(rows, cols), m = max(rows, cols): for each row in turn, a Dijkstra search over reduced
// costs (cost − u_row − v_col ≥ 0 for every assigned row) finds the cheapest augmenting path to a
// free column, then the potentials absorb the path lengths so the reduced costs stay
// non-negative. Costs must be finite (value_error); cost.size() must be rows·cols (shape_error).
inline std::vector<std::pair<std::size_t, std::size_t>> linear_sum_assignment(const std::vector<double>& cost,
                                                                              std::size_t rows, std::size_t cols) {
  if (rows != 0 && cols > std::numeric_limits<std::size_t>::max() / rows)
    throw shape_error(detail::text("linear_sum_assignment: a ", rows, "×", cols, " matrix is too large"));
  if (cost.size() != rows * cols)
    throw shape_error(detail::text("linear_sum_assignment: ", cost.size(), " costs for a ", rows, "×", cols, " matrix"));
  for (std::size_t k = 0; k < cost.size(); ++k)
    if (!std::isfinite(cost[k]))
      throw value_error(detail::text("linear_sum_assignment: cost ", k, " (row ", k / cols, ", column ", k % cols,
                                     ") is not finite"));
  std::vector<std::pair<std::size_t, std::size_t>> out;
  if (rows == 0 || cols == 0) return out;

  // Work on n ≤ m: with more rows than columns, assign the columns (the transposed problem).
  const bool flip = rows > cols;
  const std::size_t n = flip ? cols : rows, m = flip ? rows : cols;
  const auto c = [&](std::size_t i, std::size_t j) { return flip ? cost[j * cols + i] : cost[i * cols + j]; };
  constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
  constexpr double inf = std::numeric_limits<double>::infinity();

  std::vector<double> u(n, 0.0), v(m, 0.0), dist(m);
  std::vector<std::size_t> row_of(m, none), col_of(n, none), via(m, none), scanned;
  std::vector<char> done(m);
  scanned.reserve(m);
  for (std::size_t start = 0; start < n; ++start) {
    std::fill(dist.begin(), dist.end(), inf);
    std::fill(done.begin(), done.end(), char{0});
    scanned.clear();
    // Grow shortest paths from the free row `start`: `row` is the last row reached, at distance
    // `reach`; leaving it through column j costs its reduced cost. Stop at the first free column.
    std::size_t row = start, sink = none;
    double reach = 0.0;
    while (sink == none) {
      std::size_t next = none;
      double best = inf;
      for (std::size_t j = 0; j < m; ++j) {
        if (done[j]) continue;
        const double d = reach + c(row, j) - u[row] - v[j];
        if (d < dist[j]) {
          dist[j] = d;
          via[j] = row;
        }
        // Nearest column; among equals a free one, which ends the search sooner.
        if (dist[j] < best || (dist[j] == best && row_of[j] == none)) {
          best = dist[j];
          next = j;
        }
      }
      done[next] = 1;
      scanned.push_back(next);
      if (row_of[next] == none) sink = next;
      else {
        row = row_of[next];
        reach = best;
      }
    }
    // Potentials: with these shifts every assigned pair keeps reduced cost 0, none goes negative.
    const double length = dist[sink];
    u[start] += length;
    for (const std::size_t j : scanned) {
      if (j == sink) continue;
      const double shift = length - dist[j];
      u[row_of[j]] += shift;
      v[j] -= shift;
    }
    // Augment: flip the path's pairs back from the free column to `start`.
    for (std::size_t j = sink;;) {
      const std::size_t r = via[j], previous = col_of[r];
      row_of[j] = r;
      col_of[r] = j;
      if (r == start) break;
      j = previous;
    }
  }
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) out.emplace_back(flip ? col_of[i] : i, flip ? i : col_of[i]);
  std::sort(out.begin(), out.end());
  return out;
}

// ---------------------------------------------------------------------------------------------
// Per-image matching.

namespace detail {

using metrics::LabelRange;
using metrics::on_host;

// Sizes must agree; where both maps have shapes that compare with ==, the shapes as well.
template <class T, class P>
void check_maps(const T& truth, const P& prediction, const char* where) {
  static_assert(on_host<T>() && on_host<P>(),
                "semiseg: instance matching reads host memory; copy device tensors to a cpu Tensor first");
  if constexpr (requires { truth.shape() == prediction.shape(); }) {
    if (!(truth.shape() == prediction.shape()))
      throw shape_error(detail::text(where, ": truth and prediction shapes differ"));
  }
  const auto t = static_cast<std::size_t>(truth.size()), p = static_cast<std::size_t>(prediction.size());
  if (t != p) throw shape_error(detail::text(where, ": ", t, " truth labels for ", p, " predicted labels"));
}

// Images in a label map: N for an N×1×spatial cpu Tensor, 1 for any other container.
template <class M>
std::size_t images_in(const M& map, const char* where) {
  if constexpr (requires { map.n(); map.c(); map.plane(); }) {
    if (map.c() != 1) throw shape_error(detail::text(where, ": a label tensor has ", map.c(), " channels, not 1"));
    return static_cast<std::size_t>(map.n());
  } else {
    return 1;
  }
}

// The truth's data after checking that the maps agree and hold one image.
template <class T, class P>
const std::int32_t* one_image(const T& truth, const P& prediction, const char* where) {
  check_maps(truth, prediction, where);
  const std::size_t n = images_in(truth, where);
  if (n != 1)
    throw shape_error(detail::text(where, ": ", n, " images in one label tensor; match one image at a time, or add "
                                   "the batch to InstanceScores"));
  return truth.data();
}

inline void check_threshold(double threshold, const char* where) {
  if (!(threshold > 0.0 && threshold <= 1.0))
    throw value_error(detail::text(where, ": IoU threshold ", threshold, " is outside (0, 1]"));
}

// Dense indices 0..k−1 for the k distinct positive labels, in ascending label order. A lookup
// table when the largest label is not much more than the pixel count, a hash map otherwise.
class LabelIndex {
 public:
  // visit(f) calls f(label) for the label of every counted pixel.
  template <class Visit>
  LabelIndex(std::int32_t max_label, std::size_t pixels, Visit visit) {
    if (max_label <= 0) return;
    const auto top = static_cast<std::size_t>(max_label);
    if (top <= std::max<std::size_t>(pixels, std::size_t{1} << 16)) {
      constexpr std::int32_t absent = -1, present = -2;
      table_.assign(top + 1, absent);
      visit([&](std::int32_t label) {
        if (label > 0) table_[static_cast<std::size_t>(label)] = present;
      });
      for (std::size_t label = 1; label <= top; ++label)
        if (table_[label] == present) {
          table_[label] = static_cast<std::int32_t>(ids_.size());
          ids_.push_back(static_cast<std::int32_t>(label));
        }
    } else {
      hashed_ = true;
      std::int32_t last = 0;
      visit([&](std::int32_t label) {
        if (label > 0 && label != last) map_.emplace(label, 0);
        last = label;
      });
      ids_.reserve(map_.size());
      for (const auto& entry : map_) ids_.push_back(entry.first);
      std::sort(ids_.begin(), ids_.end());
      for (std::size_t k = 0; k < ids_.size(); ++k) map_[ids_[k]] = static_cast<std::int32_t>(k);
    }
  }
  // The index of a label that occurs (label > 0).
  std::size_t operator()(std::int32_t label) const {
    return static_cast<std::size_t>(hashed_ ? map_.find(label)->second : table_[static_cast<std::size_t>(label)]);
  }
  const std::vector<std::int32_t>& ids() const { return ids_; }

 private:
  bool hashed_ = false;
  std::vector<std::int32_t> table_;
  std::unordered_map<std::int32_t, std::int32_t> map_;
  std::vector<std::int32_t> ids_;
};

}  // namespace detail

// A true positive: the true and the predicted object's labels and their IoU.
struct MatchedPair {
  std::int32_t truth = 0;
  std::int32_t prediction = 0;
  double iou = 0.0;
};

// One image at one IoU threshold.
struct Matching {
  double threshold = 0.5;
  std::int64_t tp = 0, fp = 0, fn = 0;
  std::int64_t n_true = 0, n_pred = 0;
  double precision = 0.0;  // TP/(TP+FP) = TP/n_pred
  double recall = 0.0;     // TP/(TP+FN) = TP/n_true
  double f1 = 0.0;         // 2TP/(2TP+FP+FN)
  double accuracy = 0.0;   // TP/(TP+FP+FN): DSB 2018's "average precision", AP_dsb
  double mean_matched_iou = std::numeric_limits<double>::quiet_NaN();  // mean IoU of the TP pairs; NaN without any
  std::vector<MatchedPair> matches;  // the TP pairs, ordered by true label

  // No true and no predicted object: every ratio above is 1.
  bool empty() const { return n_true == 0 && n_pred == 0; }
};

// The objects of a true and a predicted label map and their overlaps, computed once and matched
// at any number of thresholds.
class Overlap {
 public:
  // Two objects that share at least one counted pixel. `truth` and `prediction` index
  // truth_ids() and prediction_ids().
  struct Pair {
    std::size_t truth = 0;
    std::size_t prediction = 0;
    std::int64_t intersection = 0;
    double iou = 0.0;
  };

  Overlap(const std::int32_t* truth, const std::int32_t* prediction, std::size_t count) {
    std::int32_t max_truth = 0, max_prediction = 0;
    for (std::size_t i = 0; i < count; ++i) {
      if (truth[i] < 0) {
        ++ignored_;
        continue;
      }
      if (prediction[i] < 0)
        throw value_error(detail::text("instance::Overlap: predicted label ", prediction[i], " at index ", i,
                                       " is negative on a pixel whose truth is not ignored"));
      max_truth = std::max(max_truth, truth[i]);
      max_prediction = std::max(max_prediction, prediction[i]);
    }
    const detail::LabelIndex true_index(max_truth, count, [&](auto&& f) {
      for (std::size_t i = 0; i < count; ++i)
        if (truth[i] >= 0) f(truth[i]);
    });
    const detail::LabelIndex predicted_index(max_prediction, count, [&](auto&& f) {
      for (std::size_t i = 0; i < count; ++i)
        if (truth[i] >= 0) f(prediction[i]);
    });
    truth_ids_ = true_index.ids();
    prediction_ids_ = predicted_index.ids();
    truth_areas_.assign(truth_ids_.size(), 0);
    prediction_areas_.assign(prediction_ids_.size(), 0);

    // Intersections, keyed by truth index · n_pred + prediction index; neighbouring pixels
    // mostly repeat the previous pair, so that one is looked up once per run.
    const auto n_pred = static_cast<std::uint64_t>(prediction_ids_.size());
    std::unordered_map<std::uint64_t, std::int64_t> intersections;
    std::int32_t last_t = 0, last_p = 0;
    std::size_t ti = 0, pi = 0;
    std::int64_t* run = nullptr;
    for (std::size_t i = 0; i < count; ++i) {
      const std::int32_t t = truth[i], p = prediction[i];
      if (t < 0 || (t == 0 && p == 0)) continue;
      if (t != last_t || p != last_p) {
        last_t = t;
        last_p = p;
        run = nullptr;
        if (t > 0) ti = true_index(t);
        if (p > 0) pi = predicted_index(p);
        if (t > 0 && p > 0) run = &intersections[static_cast<std::uint64_t>(ti) * n_pred + pi];
      }
      if (t > 0) ++truth_areas_[ti];
      if (p > 0) ++prediction_areas_[pi];
      if (run) ++*run;
    }
    pairs_.reserve(intersections.size());
    for (const auto& [key, inter] : intersections) {
      Pair pair;
      pair.truth = static_cast<std::size_t>(key / n_pred);
      pair.prediction = static_cast<std::size_t>(key % n_pred);
      pair.intersection = inter;
      pair.iou = static_cast<double>(inter) /
                 static_cast<double>(truth_areas_[pair.truth] + prediction_areas_[pair.prediction] - inter);
      pairs_.push_back(pair);
    }
    std::sort(pairs_.begin(), pairs_.end(), [](const Pair& a, const Pair& b) {
      return a.truth != b.truth ? a.truth < b.truth : a.prediction < b.prediction;
    });
  }

  // Label maps of equal size: std::vector, std::span, xt::xtensor<std::int32_t, N>, cpu Tensors.
  template <detail::LabelRange T, detail::LabelRange P>
  Overlap(const T& truth, const P& prediction)
      : Overlap(detail::one_image(truth, prediction, "instance::Overlap"), prediction.data(),
                static_cast<std::size_t>(truth.size())) {}

  std::size_t n_true() const { return truth_ids_.size(); }
  std::size_t n_pred() const { return prediction_ids_.size(); }
  // The objects' labels, ascending, and their areas in counted pixels.
  const std::vector<std::int32_t>& truth_ids() const { return truth_ids_; }
  const std::vector<std::int32_t>& prediction_ids() const { return prediction_ids_; }
  const std::vector<std::int64_t>& truth_areas() const { return truth_areas_; }
  const std::vector<std::int64_t>& prediction_areas() const { return prediction_areas_; }
  // Pixels skipped because their truth was < 0.
  std::int64_t ignored() const { return ignored_; }
  // Overlapping pairs, ordered by (truth, prediction).
  const std::vector<Pair>& pairs() const { return pairs_; }

  // The dense n_true×n_pred IoU matrix, row-major (rows: true objects).
  std::vector<double> iou_matrix() const {
    std::vector<double> out(n_true() * n_pred(), 0.0);
    for (const Pair& p : pairs_) out[p.truth * n_pred() + p.prediction] = p.iou;
    return out;
  }

  // StarDist's matching at IoU threshold `threshold` ∈ (0, 1].
  Matching match(double threshold) const {
    detail::check_threshold(threshold, "instance::Overlap::match");
    Matching out;
    out.threshold = threshold;
    out.n_true = static_cast<std::int64_t>(n_true());
    out.n_pred = static_cast<std::int64_t>(n_pred());
    const std::size_t n_matched = std::min(n_true(), n_pred());
    const bool any = std::any_of(pairs_.begin(), pairs_.end(), [&](const Pair& p) { return p.iou >= threshold; });
    double matched_iou = 0.0;
    if (threshold > 0.5) {
      // Objects of a label map are disjoint, so no object has two partners with IoU > 0.5: the
      // pairs above the threshold form a matching, every optimal assignment takes all of them,
      // and no assignment needs solving.
      for (const Pair& p : pairs_)
        if (p.iou >= threshold) {
          MatchedPair m;
          m.truth = truth_ids_[p.truth];
          m.prediction = prediction_ids_[p.prediction];
          m.iou = p.iou;
          out.matches.push_back(m);
          matched_iou += p.iou;
        }
    } else if (n_matched > 0 && any) {
      // Components of the overlap graph: nodes 0..n_true−1 true objects, then predicted ones.
      const std::size_t nodes = n_true() + n_pred();
      std::vector<std::size_t> parent(nodes);
      for (std::size_t k = 0; k < nodes; ++k) parent[k] = k;
      const auto root = [&](std::size_t k) {
        while (parent[k] != k) k = parent[k] = parent[parent[k]];
        return k;
      };
      for (const Pair& p : pairs_) {
        const std::size_t a = root(p.truth), b = root(n_true() + p.prediction);
        if (a != b) parent[std::max(a, b)] = std::min(a, b);
      }
      // Pairs grouped by component; only components with a pair above the threshold can add TPs.
      std::vector<std::size_t> order(pairs_.size());
      for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
      std::vector<std::size_t> component(pairs_.size());
      for (std::size_t k = 0; k < pairs_.size(); ++k) component[k] = root(pairs_[k].truth);
      std::stable_sort(order.begin(), order.end(),
                       [&](std::size_t a, std::size_t b) { return component[a] < component[b]; });
      const double tie = 1.0 / (2.0 * static_cast<double>(n_matched));
      // local[node]: the node's row or column in its component's matrix, valid where
      // seen[node] is the component's root.
      constexpr std::size_t unseen = std::numeric_limits<std::size_t>::max();
      std::vector<std::size_t> local(nodes, 0), seen(nodes, unseen), rows, cols;
      std::vector<double> cost, iou;
      for (std::size_t begin = 0; begin < order.size();) {
        const std::size_t id = component[order[begin]];
        std::size_t end = begin;
        bool hit = false;
        while (end < order.size() && component[order[end]] == id) {
          hit = hit || pairs_[order[end]].iou >= threshold;
          ++end;
        }
        if (hit) {
          rows.clear();
          cols.clear();
          for (std::size_t k = begin; k < end; ++k) {
            const Pair& p = pairs_[order[k]];
            if (seen[p.truth] != id) {
              seen[p.truth] = id;
              local[p.truth] = rows.size();
              rows.push_back(p.truth);
            }
            const std::size_t pn = n_true() + p.prediction;
            if (seen[pn] != id) {
              seen[pn] = id;
              local[pn] = cols.size();
              cols.push_back(p.prediction);
            }
          }
          cost.assign(rows.size() * cols.size(), 0.0);
          iou.assign(rows.size() * cols.size(), 0.0);
          for (std::size_t k = begin; k < end; ++k) {
            const Pair& p = pairs_[order[k]];
            const std::size_t cell = local[p.truth] * cols.size() + local[n_true() + p.prediction];
            iou[cell] = p.iou;
            cost[cell] = -(p.iou >= threshold ? 1.0 : 0.0) - p.iou * tie;
          }
          for (const auto& [r, c] : linear_sum_assignment(cost, rows.size(), cols.size())) {
            const double score = iou[r * cols.size() + c];
            if (!(score >= threshold)) continue;
            MatchedPair m;
            m.truth = truth_ids_[rows[r]];
            m.prediction = prediction_ids_[cols[c]];
            m.iou = score;
            out.matches.push_back(m);
            matched_iou += score;
          }
        }
        begin = end;
      }
      std::sort(out.matches.begin(), out.matches.end(),
                [](const MatchedPair& a, const MatchedPair& b) { return a.truth < b.truth; });
    }
    out.tp = static_cast<std::int64_t>(out.matches.size());
    out.fp = out.n_pred - out.tp;
    out.fn = out.n_true - out.tp;
    if (out.empty()) {
      out.precision = out.recall = out.f1 = out.accuracy = 1.0;
    } else {
      const auto ratio = [](std::int64_t num, std::int64_t den) {
        return den > 0 ? static_cast<double>(num) / static_cast<double>(den) : 0.0;
      };
      out.precision = ratio(out.tp, out.tp + out.fp);
      out.recall = ratio(out.tp, out.tp + out.fn);
      out.f1 = ratio(2 * out.tp, 2 * out.tp + out.fp + out.fn);
      out.accuracy = ratio(out.tp, out.tp + out.fp + out.fn);
    }
    if (out.tp > 0) out.mean_matched_iou = matched_iou / static_cast<double>(out.tp);
    return out;
  }

 private:
  std::vector<std::int32_t> truth_ids_, prediction_ids_;
  std::vector<std::int64_t> truth_areas_, prediction_areas_;
  std::vector<Pair> pairs_;
  std::int64_t ignored_ = 0;
};

// One image: StarDist's matching of `prediction` to `truth` at IoU threshold `threshold`.
inline Matching match_instances(const std::int32_t* truth, const std::int32_t* prediction, std::size_t count,
                                double threshold = 0.5) {
  detail::check_threshold(threshold, "instance::match_instances");
  return Overlap(truth, prediction, count).match(threshold);
}

template <detail::LabelRange T, detail::LabelRange P>
Matching match_instances(const T& truth, const P& prediction, double threshold = 0.5) {
  return match_instances(detail::one_image(truth, prediction, "instance::match_instances"), prediction.data(),
                         static_cast<std::size_t>(truth.size()), threshold);
}

// ---------------------------------------------------------------------------------------------
// Dataset scores.

// How an image with no true and no predicted object scores in the mean AP_dsb: 1 (the empty
// prediction is right), 0 (StarDist's and EmbedSeg's accuracy), or not at all.
enum class EmptyImage { perfect, zero, skip };

// Scores at one threshold over every image added.
struct ThresholdScores {
  double threshold = 0.5;
  // Mean over the scored images of each image's TP/(TP+FP+FN), as EmbedSeg reports it; NaN when
  // no image was scored.
  double ap_dsb = std::numeric_limits<double>::quiet_NaN();
  std::int64_t images = 0;  // images in that mean (all, less the empty ones under EmptyImage::skip)
  // Counts summed over all images, and the ratios of the sums (StarDist's matching_dataset with
  // by_image=False); with no object in any image, the ratios follow the EmptyImage rule (NaN
  // for skip, and when no image was added).
  std::int64_t tp = 0, fp = 0, fn = 0, n_true = 0, n_pred = 0;
  double pooled_accuracy = std::numeric_limits<double>::quiet_NaN();
  double precision = std::numeric_limits<double>::quiet_NaN();
  double recall = std::numeric_limits<double>::quiet_NaN();
  double f1 = std::numeric_limits<double>::quiet_NaN();
};

// Accumulates per-image matchings over a data set at a list of IoU thresholds (default {0.5}).
class InstanceScores {
 public:
  explicit InstanceScores(std::vector<double> thresholds = {0.5}, EmptyImage empty = EmptyImage::perfect)
      : thresholds_(std::move(thresholds)), empty_(empty) {
    if (thresholds_.empty()) throw value_error(detail::text("InstanceScores needs at least one IoU threshold"));
    for (std::size_t k = 0; k < thresholds_.size(); ++k) {
      detail::check_threshold(thresholds_[k], "InstanceScores");
      for (std::size_t j = 0; j < k; ++j)
        if (thresholds_[j] == thresholds_[k])
          throw value_error(detail::text("InstanceScores: IoU threshold ", thresholds_[k], " is listed twice"));
    }
    sums_.assign(thresholds_.size(), Sums{});
  }

  const std::vector<double>& thresholds() const { return thresholds_; }
  EmptyImage empty_rule() const { return empty_; }
  // Images added, and those among them with no true and no predicted object.
  std::int64_t images() const { return images_; }
  std::int64_t empty_images() const { return empty_images_; }

  void add(const Overlap& overlap) {
    std::vector<Matching> at(thresholds_.size());
    for (std::size_t k = 0; k < thresholds_.size(); ++k) at[k] = overlap.match(thresholds_[k]);
    const auto half = std::find(thresholds_.begin(), thresholds_.end(), 0.5);
    const Matching at_half = half != thresholds_.end()
                                 ? at[static_cast<std::size_t>(half - thresholds_.begin())]
                                 : overlap.match(0.5);
    const bool empty = at.front().empty();
    for (std::size_t k = 0; k < thresholds_.size(); ++k) {
      Sums& s = sums_[k];
      const Matching& m = at[k];
      if (!empty || empty_ != EmptyImage::skip) {
        s.accuracy += empty && empty_ == EmptyImage::zero ? 0.0 : m.accuracy;
        ++s.images;
      }
      s.tp += m.tp;
      s.fp += m.fp;
      s.fn += m.fn;
      s.n_true += m.n_true;
      s.n_pred += m.n_pred;
    }
    for (const MatchedPair& p : at_half.matches) matched_iou_ += p.iou;
    matched_pairs_ += at_half.tp;
    ++images_;
    empty_images_ += empty ? 1 : 0;
  }
  void add(const std::int32_t* truth, const std::int32_t* prediction, std::size_t count) {
    add(Overlap(truth, prediction, count));
  }
  // One label map per image, or an N×1×spatial cpu Tensor pair: N images. All or nothing: a bad
  // image leaves the scores as they were.
  template <detail::LabelRange T, detail::LabelRange P>
  void add(const T& truth, const P& prediction) {
    detail::check_maps(truth, prediction, "InstanceScores::add");
    const std::size_t n = detail::images_in(truth, "InstanceScores::add");
    if (n == 1) return add(truth.data(), prediction.data(), static_cast<std::size_t>(truth.size()));
    const std::size_t plane = n == 0 ? 0 : static_cast<std::size_t>(truth.size()) / n;
    std::vector<Overlap> images;
    images.reserve(n);
    for (std::size_t i = 0; i < n; ++i) images.emplace_back(truth.data() + i * plane, prediction.data() + i * plane, plane);
    for (const Overlap& image : images) add(image);
  }

  // Adds another accumulator's images, e.g. one filled by another thread or process.
  void merge(const InstanceScores& other) {
    if (other.thresholds_ != thresholds_ || other.empty_ != empty_)
      throw value_error(detail::text("InstanceScores::merge: the thresholds or the empty-image rule differ"));
    for (std::size_t k = 0; k < sums_.size(); ++k) {
      Sums& s = sums_[k];
      const Sums& o = other.sums_[k];
      s.accuracy += o.accuracy;
      s.images += o.images;
      s.tp += o.tp;
      s.fp += o.fp;
      s.fn += o.fn;
      s.n_true += o.n_true;
      s.n_pred += o.n_pred;
    }
    matched_iou_ += other.matched_iou_;
    matched_pairs_ += other.matched_pairs_;
    images_ += other.images_;
    empty_images_ += other.empty_images_;
  }

  void reset() {
    sums_.assign(thresholds_.size(), Sums{});
    matched_iou_ = 0.0;
    matched_pairs_ = images_ = empty_images_ = 0;
  }

  // Scores at the k-th threshold, or at a threshold of the list (value_error for another).
  ThresholdScores scores(std::size_t k) const {
    if (k >= thresholds_.size())
      throw value_error(detail::text("InstanceScores::scores: index ", k, " for ", thresholds_.size(), " thresholds"));
    const Sums& s = sums_[k];
    ThresholdScores out;
    out.threshold = thresholds_[k];
    out.images = s.images;
    if (s.images > 0) out.ap_dsb = s.accuracy / static_cast<double>(s.images);
    out.tp = s.tp;
    out.fp = s.fp;
    out.fn = s.fn;
    out.n_true = s.n_true;
    out.n_pred = s.n_pred;
    if (images_ == 0) return out;
    if (s.n_true == 0 && s.n_pred == 0) {
      const double value = empty_ == EmptyImage::perfect ? 1.0
                           : empty_ == EmptyImage::zero  ? 0.0
                                                         : std::numeric_limits<double>::quiet_NaN();
      out.pooled_accuracy = out.precision = out.recall = out.f1 = value;
      return out;
    }
    const auto ratio = [](std::int64_t num, std::int64_t den) {
      return den > 0 ? static_cast<double>(num) / static_cast<double>(den) : 0.0;
    };
    out.pooled_accuracy = ratio(s.tp, s.tp + s.fp + s.fn);
    out.precision = ratio(s.tp, s.tp + s.fp);
    out.recall = ratio(s.tp, s.tp + s.fn);
    out.f1 = ratio(2 * s.tp, 2 * s.tp + s.fp + s.fn);
    return out;
  }
  ThresholdScores at(double threshold) const {
    const auto it = std::find(thresholds_.begin(), thresholds_.end(), threshold);
    if (it == thresholds_.end())
      throw value_error(
          detail::text("InstanceScores::at: IoU threshold ", threshold, " is not one of the accumulator's thresholds"));
    return scores(static_cast<std::size_t>(it - thresholds_.begin()));
  }
  std::vector<ThresholdScores> all() const {
    std::vector<ThresholdScores> out;
    for (std::size_t k = 0; k < thresholds_.size(); ++k) out.push_back(scores(k));
    return out;
  }
  // Mean AP_dsb over the images at one of the thresholds.
  double ap_dsb(double threshold = 0.5) const { return at(threshold).ap_dsb; }

  // Mean IoU over the TP pairs of every image at IoU ≥ 0.5 (whatever the thresholds); NaN when
  // there is none.
  double mean_matched_iou() const {
    return matched_pairs_ > 0 ? matched_iou_ / static_cast<double>(matched_pairs_)
                              : std::numeric_limits<double>::quiet_NaN();
  }
  std::int64_t matched_pairs() const { return matched_pairs_; }

 private:
  struct Sums {
    double accuracy = 0.0;
    std::int64_t images = 0;
    std::int64_t tp = 0, fp = 0, fn = 0, n_true = 0, n_pred = 0;
  };

  std::vector<double> thresholds_;
  EmptyImage empty_;
  std::vector<Sums> sums_;
  double matched_iou_ = 0.0;
  std::int64_t matched_pairs_ = 0, images_ = 0, empty_images_ = 0;
};

}  // namespace semiseg::instance
