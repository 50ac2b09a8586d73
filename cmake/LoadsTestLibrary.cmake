# loads_add_test_library(<name> SOURCES <file>... [LINK <target>...])
#
# Builds lib<name>.so, a test library that loads-runner and loads-agent load:
#   loads-runner ./lib<name>.so:Class.test_method -u 10 -c 20
# The library only needs the header-only test-case API (loads::api), which
# links Boost.JSON's shared library (libboost_json: r.json() and post_json
# in loads.hpp), so a host that runs it needs that library installed
# (Debian: libboost-json1.81.0); the engine is supplied by the process that
# loads it.
function(loads_add_test_library name)
    cmake_parse_arguments(ARG "" "" "SOURCES;LINK" ${ARGN})
    if(NOT ARG_SOURCES)
        message(FATAL_ERROR "loads_add_test_library(${name}): SOURCES is required")
    endif()
    add_library(${name} MODULE ${ARG_SOURCES})
    set_target_properties(${name} PROPERTIES PREFIX "lib" SUFFIX ".so"
        CXX_STANDARD 20 CXX_STANDARD_REQUIRED ON CXX_VISIBILITY_PRESET hidden)
    target_link_libraries(${name} PRIVATE loads::api ${ARG_LINK})
endfunction()
