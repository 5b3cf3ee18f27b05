# Test `wrong_dimension_fails`: a 3D tensor passed to a 2D layer must fail to compile with the
# layer's one-line message. The same source with matching dimensions must compile, so an
# unrelated error cannot make the test pass.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

set(expected "tensor dimension does not match the layer's dimension")
set(binary "${WORK_DIR}/project")
set(BUILD_TYPE "")  # no optimisation: only compiling matters here
configure_project("configure" "${CMAKE_CURRENT_LIST_DIR}/wrong_dimension" "${binary}"
                  "-DSEMISEG_SOURCE_DIR=${SOURCE_DIR}" -DSEMISEG_CUDA=OFF -DSEMISEG_BUILD_TESTS=OFF
                  -DSEMISEG_BUILD_EXAMPLES=OFF)

run_step("positive control: matching dimensions compile" "${CMAKE_COMMAND}" --build "${binary}" --target matching)

execute_process(COMMAND "${CMAKE_COMMAND}" --build "${binary}" --target mismatched
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "a 3D tensor passed to a 2D conv compiled; it must not")
endif()
string(FIND "${out}" "${expected}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "compilation failed, but without the message \"${expected}\":\n${out}")
endif()
message(STATUS "mismatched dimensions fail with: ${expected}")
