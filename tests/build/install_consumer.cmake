# Test `install_consumer`: installs the outer build into a scratch prefix, then configures,
# builds and runs tests/build/consumer against that prefix with find_package(semiseg).
# Extra input: BUILD_DIR, the outer build folder.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

set(prefix "${WORK_DIR}/prefix")
run_step("install into ${prefix}" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${prefix}")
if(NOT EXISTS "${prefix}/include/semiseg/nn/conv.hpp")
  message(FATAL_ERROR "install put no headers in ${prefix}/include/semiseg")
endif()

# The installed prefix comes first, and the package registry is off, so only it can be found.
set(PREFIX_PATH "${prefix};${PREFIX_PATH}")
configure_project("configure consumer" "${CMAKE_CURRENT_LIST_DIR}/consumer" "${WORK_DIR}/consumer")
file(STRINGS "${WORK_DIR}/consumer/CMakeCache.txt" found REGEX "^semiseg_DIR:")
string(FIND "${found}" "${prefix}/" at)
if(NOT at GREATER -1)
  message(FATAL_ERROR "consumer found semiseg outside the install prefix: ${found}")
endif()
run_step("build consumer" "${CMAKE_COMMAND}" --build "${WORK_DIR}/consumer")
find_program(consumer consumer PATHS "${WORK_DIR}/consumer" "${WORK_DIR}/consumer/${BUILD_TYPE}" NO_DEFAULT_PATH
             NO_CACHE REQUIRED)
execute_process(COMMAND "${consumer}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
message(STATUS "${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "consumer failed (${rc})")
endif()
