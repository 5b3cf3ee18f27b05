# Helpers shared by the build tests (run with cmake -P). Inputs every test passes:
#   SOURCE_DIR  the semiseg source tree          WORK_DIR   a scratch folder, wiped first
#   GENERATOR   CMake generator of the outer build
#   CXX         C++ compiler of the outer build  BUILD_TYPE build type for the inner projects
#   PREFIX_PATH the outer CMAKE_PREFIX_PATH, entries separated by '|'

foreach(var SOURCE_DIR WORK_DIR GENERATOR CXX)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "build test: -D${var}=... is required")
  endif()
endforeach()
if(NOT BUILD_TYPE)
  set(BUILD_TYPE Release)
endif()
string(REPLACE "|" ";" PREFIX_PATH "${PREFIX_PATH}")

# Runs a command; stops the test with its output when the exit code is not zero.
function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}")
  endif()
  message(STATUS "${what}: ok")
endfunction()

# Configures an inner project with the outer build's generator, compiler and prefix path.
function(configure_project what source binary)
  run_step("${what}" "${CMAKE_COMMAND}" -S "${source}" -B "${binary}" -G "${GENERATOR}"
           "-DCMAKE_CXX_COMPILER=${CXX}" "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}" "-DCMAKE_PREFIX_PATH=${PREFIX_PATH}"
           -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF ${ARGN})
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
