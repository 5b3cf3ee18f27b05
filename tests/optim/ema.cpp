#include "semiseg/optim/ema.hpp"

#include "support/harness.hpp"

namespace semiseg::test {

namespace {
// Two parameter sets of one layout: 3 weights and 2 buffer values, with the given contents.
template <class T>
void fill(Parameters<T, device>& p, const std::vector<T>& values, const std::vector<T>& buffers) {
  p.add("w", 3, Init::zeros());
  p.add_buffer("running_mean", 2, Init::zeros());
  p.finalize(1);
  from_host(p.values().view(), values);
  from_host(p.buffers().view(), buffers);
}
}  // namespace

TEST_CASE_TEMPLATE("ema_update moves the teacher toward the student and copies or averages buffers", T, float, double) {
  Parameters<T, device> teacher, student;
  fill<T>(teacher, {1, 2, 3}, {10, 20});
  fill<T>(student, {5, 6, -1}, {30, 40});
  optim::ema_update(teacher, student, 0.75);
  const std::vector<T> w = to_host(teacher.values().view());
  CHECK(w[0] == doctest::Approx(0.75 * 1 + 0.25 * 5));
  CHECK(w[1] == doctest::Approx(0.75 * 2 + 0.25 * 6));
  CHECK(w[2] == doctest::Approx(0.75 * 3 + 0.25 * -1));
  CHECK(to_host(teacher.buffers().view()) == std::vector<T>{30, 40});

  from_host(teacher.buffers().view(), std::vector<T>{10, 20});
  optim::ema_update(teacher, student, 0.5, optim::BufferUpdate::average);
  const std::vector<T> b = to_host(teacher.buffers().view());
  CHECK(b[0] == doctest::Approx(20));
  CHECK(b[1] == doctest::Approx(30));
  // The student is never changed.
  CHECK(to_host(student.values().view()) == std::vector<T>{5, 6, -1});
}

TEST_CASE("copy_parameters makes an exact copy; decay 1 keeps the teacher, 0 takes the student") {
  Parameters<double, device> teacher, student;
  fill<double>(teacher, {1, 2, 3}, {10, 20});
  fill<double>(student, {0.1, 0.2, 0.3}, {7, 8});
  optim::ema_update(teacher, student, 1.0, optim::BufferUpdate::average);
  CHECK(to_host(teacher.values().view()) == std::vector<double>{1, 2, 3});
  optim::ema_update(teacher, student, 0.0);
  CHECK(to_host(teacher.values().view()) == std::vector<double>{0.1, 0.2, 0.3});
  Parameters<double, device> fresh;
  fill<double>(fresh, {9, 9, 9}, {9, 9});
  optim::copy_parameters(fresh, student);
  CHECK(to_host(fresh.values().view()) == to_host(student.values().view()));
  CHECK(to_host(fresh.buffers().view()) == std::vector<double>{7, 8});
}

TEST_CASE("Mean Teacher's decay follows the student early and settles at the set value") {
  CHECK(optim::mean_teacher_decay(0, 0.99) == 0.0);
  CHECK(optim::mean_teacher_decay(1, 0.99) == doctest::Approx(0.5));
  CHECK(optim::mean_teacher_decay(9, 0.99) == doctest::Approx(0.9));
  CHECK(optim::mean_teacher_decay(1000, 0.99) == 0.99);
  CHECK_THROWS_AS(optim::mean_teacher_decay(3, 1.5), value_error);
}

TEST_CASE("ema_update refuses parameter sets of different architectures and bad decays") {
  Parameters<double, device> teacher, student;
  fill<double>(teacher, {1, 2, 3}, {10, 20});
  student.add("w", 4, Init::zeros());
  student.finalize(1);
  CHECK_THROWS_WITH_AS(optim::ema_update(teacher, student, 0.9), doctest::Contains("same architecture"), shape_error);
  CHECK_THROWS_AS(optim::ema_update(teacher, teacher, -0.1), value_error);
  Parameters<double, device> unfinished;
  CHECK_THROWS_AS(optim::copy_parameters(unfinished, teacher), error);
}

}  // namespace semiseg::test
