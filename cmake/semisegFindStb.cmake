# Finds the directory holding stb_image.h. Debian's libstb-dev puts it in /usr/include/stb; an
# unpacked copy (tools/cuda-suite.sh's .deps) has it in <prefix>/include/stb. find_path
# searches <prefix>/include/stb for every CMAKE_PREFIX_PATH entry before the system paths.
# Sets SEMISEG_STB_INCLUDE_DIR (cached); with REQUIRED, stops with a message naming the fix.
function(semiseg_find_stb)
  cmake_parse_arguments(arg "REQUIRED" "" "HINTS" ${ARGN})
  find_path(SEMISEG_STB_INCLUDE_DIR stb_image.h
            HINTS ${arg_HINTS}
            PATH_SUFFIXES stb
            DOC "Directory containing stb_image.h")
  if(NOT SEMISEG_STB_INCLUDE_DIR AND arg_REQUIRED)
    message(FATAL_ERROR "semiseg: stb_image.h not found. Install libstb-dev (Debian/Ubuntu), or set "
                        "SEMISEG_STB_INCLUDE_DIR to the folder that holds it, or add a prefix whose "
                        "include/stb holds it to CMAKE_PREFIX_PATH.")
  endif()
endfunction()
