// Exponential moving averages of a model's parameters: Mean Teacher's teacher, and FixMatch's
// evaluation weights. Contract: teacher and student are Parameters of the same architecture (equal
// trainable and buffer sizes, else shape_error), both finalized; one update is one pass over each
// flat buffer on the parameters' device.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string>

#include "semiseg/core/error.hpp"
#include "semiseg/core/launch.hpp"
#include "semiseg/core/parameters.hpp"

namespace semiseg::optim {

// What happens to non-trainable state (BatchNorm running statistics) at each update: copied from
// the student, or averaged like the weights (METHODS.md leaves the choice to an option).
enum class BufferUpdate { copy, average };

// Mean Teacher's decay at a step: min(1 - 1/(step + 1), decay), so the teacher follows the
// student closely at first and settles to `decay`.
inline double mean_teacher_decay(std::size_t step, double decay) {
  if (!(decay >= 0.0 && decay <= 1.0)) throw value_error("mean_teacher_decay: decay must lie in [0, 1]");
  return std::min(1.0 - 1.0 / (static_cast<double>(step) + 1.0), decay);
}

// An EMA decay tied to a run's length, for short runs whose teacher must not lag far behind:
// 1 − 10/total_steps, kept in [0.9, 0.999] (METHODS.md, "Budgets").
inline double run_length_decay(std::size_t total_steps) {
  return std::clamp(1.0 - 10.0 / static_cast<double>(std::max<std::size_t>(total_steps, 1)), 0.9, 0.999);
}

namespace detail {
template <class T>
struct EmaFn {
  T* teacher;
  const T* student;
  T decay;
  SEMISEG_HD void operator()(index_t i) const { teacher[i] = decay * teacher[i] + (T(1) - decay) * student[i]; }
};

template <class T, Device D>
void require_same_layout(const Parameters<T, D>& teacher, const Parameters<T, D>& student, const char* what) {
  if (!teacher.finalized() || !student.finalized())
    throw error(std::string(what) + ": both parameter sets must be finalized");
  if (teacher.values().size() != student.values().size() || teacher.buffers().size() != student.buffers().size())
    throw shape_error(std::string(what) + ": teacher has " + std::to_string(teacher.values().size()) + " values and " +
                      std::to_string(teacher.buffers().size()) + " buffer values, student " +
                      std::to_string(student.values().size()) + " and " + std::to_string(student.buffers().size()) +
                      "; they must be the same architecture");
}
}  // namespace detail

// teacher ← decay·teacher + (1 − decay)·student, for the weights and, with BufferUpdate::average,
// the buffers; with BufferUpdate::copy the buffers are copied.
template <class T, Device D>
void ema_update(Parameters<T, D>& teacher, const Parameters<T, D>& student, double decay,
                BufferUpdate buffers = BufferUpdate::copy) {
  detail::require_same_layout(teacher, student, "ema_update");
  if (!(decay >= 0.0 && decay <= 1.0)) throw value_error("ema_update: decay must lie in [0, 1], got " + std::to_string(decay));
  const T a = static_cast<T>(decay);
  launch<D>(teacher.values().size(), detail::EmaFn<T>{teacher.values().data(), student.values().data(), a});
  if (buffers == BufferUpdate::average)
    launch<D>(teacher.buffers().size(), detail::EmaFn<T>{teacher.buffers().data(), student.buffers().data(), a});
  else
    copy<D, D>(teacher.buffers().data(), student.buffers().data(), teacher.buffers().size());
}

// Makes `teacher` an exact copy of `student`'s weights and buffers (the teacher's start).
template <class T, Device D>
void copy_parameters(Parameters<T, D>& teacher, const Parameters<T, D>& student) {
  detail::require_same_layout(teacher, student, "copy_parameters");
  copy<D, D>(teacher.values().data(), student.values().data(), teacher.values().size());
  copy<D, D>(teacher.buffers().data(), student.buffers().data(), teacher.buffers().size());
}

}  // namespace semiseg::optim
