// Float convolution on the CPU through oneDNN, for nn::Conv when the build enables it
// (CMake option SEMISEG_ONEDNN, which defines SEMISEG_HAS_ONEDNN=1 and links oneDNN).
// Contract: the same layouts and semantics as nn::Conv: x and y are NCHW / NCDHW, the weight is
// [Cout, Cin/groups, k...], the bias [Cout]; backward data overwrites dx, backward weights adds
// into dw and db. oneDNN picks its own layouts; the reorders to and from the plain ones are part
// of every call. prepare() builds the primitives of a problem (shapes and options) once; the last
// four problems of an object are kept, so alternating batch sizes do not rebuild them.
// The oneDNN-layout copies and the scratchpads live in a grow-only workspace of the calling
// thread shared by every layer, so steady state allocates no buffer (oneDNN's own per-call
// bookkeeping aside). An object is not safe to use from two threads at once.
// Including this header without SEMISEG_HAS_ONEDNN is an error.
#pragma once

#if !SEMISEG_HAS_ONEDNN
#error "semiseg/kernels/onednn_conv.hpp needs oneDNN: configure with -DSEMISEG_ONEDNN=ON"
#endif

#include <dnnl.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "semiseg/core/error.hpp"
#include "semiseg/core/shape.hpp"

namespace semiseg::onednn {

// The CPU engine of the process, and a stream for the calling thread.
inline const dnnl::engine& cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}
inline dnnl::stream& cpu_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

// Grow-only, 64-byte aligned bytes of the calling thread.
class Workspace {
 public:
  std::byte* reserve(std::size_t bytes) {
    if (bytes > size_) {
      data_.reset(static_cast<std::byte*>(::operator new(bytes, std::align_val_t{alignment})));
      size_ = bytes;
    }
    return data_.get();
  }

 private:
  static constexpr std::size_t alignment = 64;
  struct Free {
    void operator()(std::byte* p) const { ::operator delete(p, std::align_val_t{alignment}); }
  };
  std::unique_ptr<std::byte, Free> data_;
  std::size_t size_ = 0;
};
inline Workspace& thread_workspace() {
  thread_local Workspace workspace;
  return workspace;
}

// One convolution problem: everything the primitives depend on.
template <int S>
struct ConvProblem {
  index_t batch = 1, in_channels = 1, out_channels = 1, groups = 1;
  Small<index_t, S> in{}, kernel{}, stride{}, pad_begin{}, pad_end{}, dilation{};
  bool bias = true;

  friend bool operator==(const ConvProblem&, const ConvProblem&) = default;

  Small<index_t, S> out() const {
    Small<index_t, S> o{};
    for (int d = 0; d < S; ++d) {
      const index_t span = in[d] + pad_begin[d] + pad_end[d] - dilation[d] * (kernel[d] - 1) - 1;
      o[d] = span < 0 ? 0 : span / stride[d] + 1;
    }
    return o;
  }
};

template <int S>
class Convolution {
  static_assert(S == 2 || S == 3, "oneDNN convolution is 2D or 3D");
  using tag = dnnl::memory::format_tag;
  using dims = dnnl::memory::dims;

 public:
  const ConvProblem<S>& problem() const { return current().p; }

  // Makes `p` the current problem. The primitives of the last few problems are kept, so a layer
  // that alternates between batch sizes builds each set once.
  void prepare(const ConvProblem<S>& p) {
    if (current_ && current_->p == p) {
      current_->used = ++clock_;
      return;
    }
    Built* slot = &cache_[0];
    for (Built& e : cache_) {
      if (e.used && e.p == p) {
        e.used = ++clock_;
        current_ = &e;
        return;
      }
      if (e.used < slot->used) slot = &e;
    }
    validate(p);
    current_ = nullptr;
    *slot = Built{};
    slot->p = p;
    if (p.batch > 0) build(*slot);
    slot->used = ++clock_;
    current_ = slot;
  }

  // y = conv(x, w) + b; b is null exactly when the problem has no bias.
  void forward(const float* x, const float* w, const float* b, float* y) {
    Built& c = current();
    check_bias(c, b);
    if (c.p.batch == 0) return;
    bind(c.x, x);
    bind(c.w, w);
    if (c.p.bias) bind(c.b, b);
    bind(c.y, y);
    run(c.forward);
  }

  // dx = conv_transpose(dy, w), overwriting dx.
  void backward_data(const float* dy, const float* w, float* dx) {
    Built& c = current();
    if (c.p.batch == 0) return;
    bind(c.dy, dy);
    bind(c.w, w);
    bind(c.dx, dx);
    run(c.backward_data);
  }

  // dw += dL/dw and db += dL/db; db is null exactly when the problem has no bias.
  void backward_weights_accumulate(const float* x, const float* dy, float* dw, float* db) {
    Built& c = current();
    check_bias(c, db);
    if (c.p.batch == 0) return;
    bind(c.x, x);
    bind(c.dy, dy);
    bind(c.dw, dw);
    if (c.p.bias) bind(c.db, db);
    run(c.backward_weights);
  }

  // Both backward passes in one call: dy is reordered once when both want the same layout.
  void backward(const float* x, const float* dy, const float* w, float* dx, float* dw, float* db) {
    Built& c = current();
    check_bias(c, db);
    if (c.p.batch == 0) return;
    bind(c.x, x);
    bind(c.dy, dy);
    bind(c.w, w);
    bind(c.dx, dx);
    bind(c.dw, dw);
    if (c.p.bias) bind(c.db, db);
    run(c.backward);
  }

 private:
  // A primitive and its arguments; the C argument list is built once, so a call adds no
  // allocation of ours to those inside oneDNN.
  struct Step {
    dnnl::primitive primitive;
    std::unordered_map<int, dnnl::memory> args;
    std::vector<dnnl_exec_arg_t> c_args;
  };

  // A sequence of primitives and where its temporaries lie in the workspace.
  struct Plan {
    std::vector<Step> steps;
    std::vector<std::pair<dnnl::memory, std::size_t>> temporaries;  // memory and byte offset
    std::vector<dnnl::memory> scratchpads;                           // all at scratchpad_offset
    std::vector<std::pair<dnnl::memory, dnnl::memory>> converted;     // (plain, oneDNN layout)
    std::size_t bytes = 0, scratchpad_offset = 0, scratchpad_bytes = 0;

    dnnl::memory temporary(const dnnl::memory::desc& md) {
      dnnl::memory m(md, cpu_engine(), DNNL_MEMORY_NONE);
      temporaries.emplace_back(m, bytes);
      bytes += (md.get_size() + 63) / 64 * 64;
      return m;
    }
    // Adds a step that runs `pd`'s primitive; the scratchpad argument is added here.
    template <class Pd>
    void add(const Pd& pd, std::unordered_map<int, dnnl::memory> args) {
      const dnnl::memory::desc sp = pd.scratchpad_desc();
      if (sp.get_size() > 0) {
        dnnl::memory m(sp, cpu_engine(), DNNL_MEMORY_NONE);
        scratchpads.push_back(m);
        args.emplace(DNNL_ARG_SCRATCHPAD, m);
        scratchpad_bytes = std::max(scratchpad_bytes, sp.get_size());
      }
      std::vector<dnnl_exec_arg_t> c_args;
      for (const auto& [arg, m] : args) c_args.push_back({arg, m.get()});
      steps.push_back({dnnl::primitive(pd.get()), std::move(args), std::move(c_args)});
    }
    void copy(const dnnl::memory& from, const dnnl::memory& to, bool accumulate) {
      dnnl::primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      if (accumulate) {
        dnnl::post_ops sum;
        sum.append_sum(1.0f);
        attr.set_post_ops(sum);
      }
      add(dnnl::reorder::primitive_desc(from, to, attr), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
    }
    // `user` in the layout `want`: itself, or a temporary it is reordered into (once per plan).
    dnnl::memory input(const dnnl::memory& user, const dnnl::memory::desc& want) {
      if (user.get_desc() == want) return user;
      for (const auto& [plain, inner] : converted)
        if (plain == user && inner.get_desc() == want) return inner;
      dnnl::memory inner = temporary(want);
      copy(user, inner, false);
      converted.emplace_back(user, inner);
      return inner;
    }
    // Where a primitive writes a result meant for `user`: itself, or a temporary that `finish`
    // reorders into it.
    dnnl::memory output(const dnnl::memory& user, const dnnl::memory::desc& want) {
      return user.get_desc() == want ? user : temporary(want);
    }
    void finish(const dnnl::memory& inner, const dnnl::memory& user) {
      if (inner != user) copy(inner, user, false);
    }
    void close() {
      scratchpad_offset = bytes;
      bytes += scratchpad_bytes;
    }
  };

  // The primitives of one problem, and the caller's plain buffers they read and write.
  struct Built {
    ConvProblem<S> p{};
    dnnl::memory x, y, w, b, dx, dy, dw, db;
    Plan forward, backward_data, backward_weights, backward;
    std::uint64_t used = 0;  // when it was last prepared; 0 for an empty slot
  };

  Built& current() const {
    if (!current_) throw error("semiseg: onednn convolution used before prepare");
    return *current_;
  }

  static void validate(const ConvProblem<S>& p) {
    if (p.batch < 0 || p.in_channels < 1 || p.out_channels < 1 || p.groups < 1 || p.in_channels % p.groups != 0 ||
        p.out_channels % p.groups != 0)
      throw value_error("semiseg: onednn convolution: bad channel or group counts");
    for (int d = 0; d < S; ++d) {
      if (p.kernel[d] < 1 || p.stride[d] < 1 || p.dilation[d] < 1 || p.pad_begin[d] < 0 || p.pad_end[d] < 0)
        throw value_error("semiseg: onednn convolution: bad kernel, stride, dilation or padding");
      if (p.in[d] + p.pad_begin[d] + p.pad_end[d] < p.dilation[d] * (p.kernel[d] - 1) + 1)
        throw shape_error("semiseg: onednn convolution: input is smaller than the dilated kernel");
    }
  }

  static void check_bias(const Built& c, const float* b) {
    if ((b != nullptr) != c.p.bias)
      throw value_error("semiseg: onednn convolution: bias pointer given without a bias, or missing");
  }

  static dims spatial_dims(index_t n, index_t c, const Small<index_t, S>& s) {
    dims d{n, c};
    for (int i = 0; i < S; ++i) d.push_back(s[i]);
    return d;
  }
  static dims to_dims(const Small<index_t, S>& s, index_t offset = 0) {
    dims d;
    for (int i = 0; i < S; ++i) d.push_back(s[i] + offset);
    return d;
  }

  static void build(Built& c) {
    const ConvProblem<S>& p = c.p;
    using dt = dnnl::memory::data_type;
    const dnnl::engine& eng = cpu_engine();
    const bool grouped = p.groups > 1;
    const tag act = S == 2 ? tag::nchw : tag::ncdhw;
    const tag wei = S == 2 ? (grouped ? tag::goihw : tag::oihw) : (grouped ? tag::goidhw : tag::oidhw);
    const Small<index_t, S> out = p.out();

    dims wd = grouped ? dims{p.groups, p.out_channels / p.groups, p.in_channels / p.groups}
                      : dims{p.out_channels, p.in_channels};
    for (int i = 0; i < S; ++i) wd.push_back(p.kernel[i]);
    const dnnl::memory::desc src_md(spatial_dims(p.batch, p.in_channels, p.in), dt::f32, act);
    const dnnl::memory::desc dst_md(spatial_dims(p.batch, p.out_channels, out), dt::f32, act);
    const dnnl::memory::desc wei_md(wd, dt::f32, wei);
    const dnnl::memory::desc bias_md({p.out_channels}, dt::f32, tag::x);
    const auto any = [](const dnnl::memory::desc& md) { return dnnl::memory::desc(md.dims(), md.data_type(), tag::any); };

    c.x = dnnl::memory(src_md, eng, DNNL_MEMORY_NONE);
    c.dx = dnnl::memory(src_md, eng, DNNL_MEMORY_NONE);
    c.y = dnnl::memory(dst_md, eng, DNNL_MEMORY_NONE);
    c.dy = dnnl::memory(dst_md, eng, DNNL_MEMORY_NONE);
    c.w = dnnl::memory(wei_md, eng, DNNL_MEMORY_NONE);
    c.dw = dnnl::memory(wei_md, eng, DNNL_MEMORY_NONE);
    c.b = dnnl::memory(bias_md, eng, DNNL_MEMORY_NONE);
    c.db = dnnl::memory(bias_md, eng, DNNL_MEMORY_NONE);

    // oneDNN counts dilation from 0 (no gaps).
    const dims strides = to_dims(p.stride), dilates = to_dims(p.dilation, -1), pad_l = to_dims(p.pad_begin),
               pad_r = to_dims(p.pad_end);
    const auto alg = dnnl::algorithm::convolution_direct;
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);

    const auto fwd_desc =
        p.bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, any(src_md), any(wei_md),
                                                 any(bias_md), any(dst_md), strides, dilates, pad_l, pad_r)
               : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, alg, any(src_md), any(wei_md),
                                                 any(dst_md), strides, dilates, pad_l, pad_r);
    const dnnl::convolution_forward::primitive_desc fwd(fwd_desc, attr, eng);
    const dnnl::convolution_backward_data::primitive_desc bwd_data(
        dnnl::convolution_backward_data::desc(alg, any(src_md), any(wei_md), any(dst_md), strides, dilates, pad_l,
                                              pad_r),
        attr, eng, fwd);
    const auto bwd_weights_desc =
        p.bias ? dnnl::convolution_backward_weights::desc(alg, any(src_md), any(wei_md), any(bias_md), any(dst_md),
                                                          strides, dilates, pad_l, pad_r)
               : dnnl::convolution_backward_weights::desc(alg, any(src_md), any(wei_md), any(dst_md), strides,
                                                          dilates, pad_l, pad_r);
    const dnnl::convolution_backward_weights::primitive_desc bwd_weights(bwd_weights_desc, attr, eng, fwd);

    {
      Plan& plan = c.forward;
      std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, plan.input(c.x, fwd.src_desc())},
                                                 {DNNL_ARG_WEIGHTS, plan.input(c.w, fwd.weights_desc())}};
      if (p.bias) args.emplace(DNNL_ARG_BIAS, plan.input(c.b, fwd.bias_desc()));
      const dnnl::memory y = plan.output(c.y, fwd.dst_desc());
      args.emplace(DNNL_ARG_DST, y);
      plan.add(fwd, std::move(args));
      plan.finish(y, c.y);
      plan.close();
    }
    const auto add_backward_data = [&](Plan& plan) {
      std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_DIFF_DST, plan.input(c.dy, bwd_data.diff_dst_desc())},
                                                 {DNNL_ARG_WEIGHTS, plan.input(c.w, bwd_data.weights_desc())}};
      const dnnl::memory dx = plan.output(c.dx, bwd_data.diff_src_desc());
      args.emplace(DNNL_ARG_DIFF_SRC, dx);
      plan.add(bwd_data, std::move(args));
      plan.finish(dx, c.dx);
    };
    const auto add_backward_weights = [&](Plan& plan) {
      // oneDNN overwrites its result, so it writes into temporaries that are added into dw and db.
      const dnnl::memory dw = plan.temporary(bwd_weights.diff_weights_desc());
      std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, plan.input(c.x, bwd_weights.src_desc())},
                                                 {DNNL_ARG_DIFF_DST, plan.input(c.dy, bwd_weights.diff_dst_desc())},
                                                 {DNNL_ARG_DIFF_WEIGHTS, dw}};
      dnnl::memory db;
      if (p.bias) {
        db = plan.temporary(bwd_weights.diff_bias_desc());
        args.emplace(DNNL_ARG_DIFF_BIAS, db);
      }
      plan.add(bwd_weights, std::move(args));
      plan.copy(dw, c.dw, true);
      if (p.bias) plan.copy(db, c.db, true);
    };
    add_backward_data(c.backward_data);
    c.backward_data.close();
    add_backward_weights(c.backward_weights);
    c.backward_weights.close();
    add_backward_weights(c.backward);
    add_backward_data(c.backward);
    c.backward.close();
  }

  static void bind(dnnl::memory& m, const float* data) { m.set_data_handle(const_cast<float*>(data)); }

  static void run(Plan& plan) {
    std::byte* base = thread_workspace().reserve(plan.bytes);
    for (auto& [m, offset] : plan.temporaries) m.set_data_handle(base + offset);
    for (auto& m : plan.scratchpads) m.set_data_handle(base + plan.scratchpad_offset);
    dnnl::stream& stream = cpu_stream();
    for (const Step& step : plan.steps)
      dnnl::error::wrap_c_api(dnnl_primitive_execute(step.primitive.get(), stream.get(),
                                                     static_cast<int>(step.c_args.size()), step.c_args.data()),
                              "semiseg: onednn convolution: a primitive failed");
    stream.wait();
  }

  static constexpr int cache_size = 4;
  std::array<Built, cache_size> cache_{};
  Built* current_ = nullptr;
  std::uint64_t clock_ = 0;
};

}  // namespace semiseg::onednn
