# loads_embed_files(): files of the source tree (front-end assets) compiled
# into a program, so it runs with nothing beside it and no network.
#
#   loads_embed_files(loads_web_assets
#       NAMESPACE loads::web
#       FILES uplot_js ${WEB}/node_modules/uplot/dist/uPlot.iife.min.js
#             uplot_css ${WEB}/node_modules/uplot/dist/uPlot.min.css)
#
# makes a static library target `loads_web_assets` whose header
# <loads_web_assets.hpp> declares, for each SYMBOL FILE pair,
#   namespace loads::web { extern const std::string_view uplot_js; }
# holding the file's bytes (constant-initialised: usable from any static
# initialiser). The source is generated at build time and made
# again when a file changes. A missing file stops the configure step with a
# message naming it (pass HINT to say how to get it).
set(LOADS_EMBED_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/LoadsEmbedGenerate.cmake)

function(loads_embed_files target)
    cmake_parse_arguments(PARSE_ARGV 1 E "" "NAMESPACE;HINT" "FILES")
    if(NOT E_NAMESPACE)
        message(FATAL_ERROR "loads_embed_files(${target}): NAMESPACE is required")
    endif()
    list(LENGTH E_FILES n)
    math(EXPR odd "${n} % 2")
    if(n EQUAL 0 OR odd)
        message(FATAL_ERROR "loads_embed_files(${target}): FILES takes SYMBOL FILE pairs")
    endif()
    set(symbols "")
    set(paths "")
    set(i 0)
    while(i LESS n)
        list(GET E_FILES ${i} sym)
        math(EXPR j "${i} + 1")
        list(GET E_FILES ${j} path)
        if(NOT sym MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
            message(FATAL_ERROR "loads_embed_files(${target}): '${sym}' is not a C++ identifier")
        endif()
        if(NOT EXISTS "${path}")
            message(FATAL_ERROR "loads_embed_files(${target}): ${path} is missing. ${E_HINT}")
        endif()
        list(APPEND symbols ${sym})
        list(APPEND paths ${path})
        math(EXPR i "${i} + 2")
    endwhile()
    # A file removed after configuring makes CMake configure again, which
    # then stops with the message above instead of a bare "no rule to make".
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${paths})

    set(dir ${CMAKE_CURRENT_BINARY_DIR}/${target}_embed)
    set(hpp ${dir}/${target}.hpp)
    set(cpp ${dir}/${target}.cpp)
    string(REPLACE ";" "|" symbols_arg "${symbols}")
    string(REPLACE ";" "|" paths_arg "${paths}")
    string(REPLACE ";" ", " symbols_text "${symbols}")
    add_custom_command(
        OUTPUT ${hpp} ${cpp}
        COMMAND ${CMAKE_COMMAND} -DHPP=${hpp} -DCPP=${cpp} -DNAMESPACE=${E_NAMESPACE}
                "-DSYMBOLS=${symbols_arg}" "-DPATHS=${paths_arg}" -DHEADER=${target}.hpp
                -P ${LOADS_EMBED_SCRIPT}
        DEPENDS ${paths} ${LOADS_EMBED_SCRIPT}
        COMMENT "Embedding ${symbols_text} into ${target}"
        VERBATIM)
    add_library(${target} STATIC ${cpp} ${hpp})
    target_include_directories(${target} PUBLIC ${dir})
endfunction()
