# loads_set_warnings(target): our warning set, per target so that third-party
# code is never compiled with it. LOADS_WERROR (on in CI) turns warnings into errors.
function(loads_set_warnings target)
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local
                                             -Wnon-virtual-dtor -Wno-missing-field-initializers)
    # GCC 12 reports -Wrestrict inside libstdc++'s string concatenation at -O2
    # (GCC bug 105329, a false positive), which is not in our code.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
        target_compile_options(${target} PRIVATE -Wno-restrict)
    endif()
    if(LOADS_WERROR)
        target_compile_options(${target} PRIVATE -Werror)
    endif()
endfunction()

# Sanitizers for every target: -DLOADS_SANITIZE=address,undefined
if(LOADS_SANITIZE)
    add_compile_options(-fsanitize=${LOADS_SANITIZE} -fno-omit-frame-pointer)
    add_link_options(-fsanitize=${LOADS_SANITIZE})
    # Boost.Context stack switches confuse ASan unless it is told about them.
    add_compile_definitions(BOOST_USE_UCONTEXT BOOST_USE_ASAN)
endif()
