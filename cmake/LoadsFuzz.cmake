# The libFuzzer harnesses of fuzz/ (issue 12): built with clang as a project of
# their own (only the sources they reach), and one ctest test per harness that
# runs it briefly on its seed corpus (fuzz/run.sh). LOADS_FUZZ: AUTO builds
# them when clang++ can link -fsanitize=fuzzer (Debian: clang-14 and
# libclang-rt-14-dev, which .ci/setup installs); ON insists, and so does CI
# (CI=true): there a missing libFuzzer is an error, not a skipped test.
set(LOADS_FUZZ AUTO CACHE STRING "Build and test the fuzz harnesses (AUTO, ON, OFF)")
if(LOADS_FUZZ STREQUAL "OFF")
    return()
endif()

find_program(LOADS_FUZZ_CLANGXX NAMES clang++-14 clang++)
set(_fuzz_ok FALSE)
set(_fuzz_why "no clang++")
if(LOADS_FUZZ_CLANGXX)
    set(_dir ${CMAKE_BINARY_DIR}/fuzz-check)
    file(MAKE_DIRECTORY ${_dir})
    file(WRITE ${_dir}/check.cpp
        "#include <cstddef>\n#include <cstdint>\n"
        "extern \"C\" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }\n")
    execute_process(
        COMMAND ${LOADS_FUZZ_CLANGXX} -fsanitize=fuzzer,address,undefined check.cpp -o check
        WORKING_DIRECTORY ${_dir} RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_VARIABLE _err)
    if(_rc EQUAL 0)
        set(_fuzz_ok TRUE)
    else()
        set(_fuzz_why "${LOADS_FUZZ_CLANGXX} cannot link -fsanitize=fuzzer (install libclang-rt-14-dev): ${_err}")
    endif()
endif()
if(NOT _fuzz_ok)
    if(LOADS_FUZZ STREQUAL "ON" OR "$ENV{CI}" STREQUAL "true")
        message(FATAL_ERROR "fuzz harnesses: ${_fuzz_why}. Run `bash .ci/setup`, or -DLOADS_FUZZ=OFF.")
    endif()
    message(WARNING "fuzz harnesses not built, their tests not run: ${_fuzz_why}")
    return()
endif()

include(ExternalProject)
ExternalProject_Add(loads_fuzz
    SOURCE_DIR ${PROJECT_SOURCE_DIR}/fuzz
    BINARY_DIR ${CMAKE_BINARY_DIR}/fuzz
    CMAKE_ARGS -DCMAKE_CXX_COMPILER=${LOADS_FUZZ_CLANGXX} -DCMAKE_BUILD_TYPE=RelWithDebInfo
    BUILD_ALWAYS ON
    INSTALL_COMMAND "")
foreach(h decode http url options)
    add_test(NAME fuzz_${h}
        COMMAND bash ${PROJECT_SOURCE_DIR}/fuzz/run.sh ${CMAKE_BINARY_DIR}/fuzz/fuzz_${h}
                ${PROJECT_SOURCE_DIR}/fuzz/corpus/${h} 20000 20)
    set_tests_properties(fuzz_${h} PROPERTIES TIMEOUT 120 LABELS fuzz)
endforeach()
