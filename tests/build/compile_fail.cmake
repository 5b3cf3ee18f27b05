# Compile-fail tests (`wrong_dimension_fails`, `wrong_trainer_fails`): in the small project
# tests/build/<CASE>/, the target `good` must compile and the target `bad` must fail with the
# one-sentence message EXPECTED. The positive control shows that the failure comes from the one
# thing the two targets differ in, not from an unrelated error.
# Extra inputs: CASE (the project folder), EXPECTED (the message).
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")
foreach(var CASE EXPECTED)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "compile_fail: -D${var}=... is required")
  endif()
endforeach()

set(binary "${WORK_DIR}/project")
set(BUILD_TYPE "")  # no optimisation: only compiling matters here
configure_project("configure" "${CMAKE_CURRENT_LIST_DIR}/${CASE}" "${binary}"
                  "-DSEMISEG_SOURCE_DIR=${SOURCE_DIR}" -DSEMISEG_CUDA=OFF -DSEMISEG_BUILD_TESTS=OFF
                  -DSEMISEG_BUILD_EXAMPLES=OFF)

run_step("positive control: ${CASE}'s good target compiles" "${CMAKE_COMMAND}" --build "${binary}" --target good)

execute_process(COMMAND "${CMAKE_COMMAND}" --build "${binary}" --target bad
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "${CASE}: the bad target compiled; it must not")
endif()
string(FIND "${out}" "${EXPECTED}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "${CASE}: compilation failed, but without the message \"${EXPECTED}\":\n${out}")
endif()
message(STATUS "${CASE}: the bad target fails with: ${EXPECTED}")
