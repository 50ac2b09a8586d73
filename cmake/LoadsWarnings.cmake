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

# Sanitizers for every target, test libraries and examples included (they are
# dlopen'ed into the sanitized engine): -DLOADS_SANITIZE=address,undefined or
# -DLOADS_SANITIZE=thread (.ci/sanitize). UBSan stops at the first report.
#
# The engine's coroutines (asio::spawn) run on Boost.Context fibers. Debian's
# Boost.Context switches stacks in assembly (fcontext), unseen by the
# sanitizers; the header-only ucontext fibers (BOOST_USE_UCONTEXT) tell them:
# BOOST_USE_ASAN brackets every switch with __sanitizer_start/finish_switch_fiber,
# BOOST_USE_TSAN gives each fiber its own TSan context (__tsan_create_fiber,
# __tsan_switch_to_fiber). Every target is built so, so nothing mixes the two.
if(LOADS_SANITIZE)
    add_compile_options(-fsanitize=${LOADS_SANITIZE} -fno-omit-frame-pointer)
    add_link_options(-fsanitize=${LOADS_SANITIZE})
    if(LOADS_SANITIZE MATCHES "undefined")
        add_compile_options(-fno-sanitize-recover=undefined)
    endif()
    if(LOADS_SANITIZE MATCHES "thread")
        # TSan does not model std::atomic_thread_fence (gcc: -Wtsan), which
        # Asio's fenced blocks use around handlers; their ordering comes from
        # the scheduler's mutex anyway, which TSan sees.
        add_compile_definitions(BOOST_USE_UCONTEXT BOOST_USE_TSAN BOOST_ASIO_DISABLE_FENCED_BLOCK)
    elseif(LOADS_SANITIZE MATCHES "address")
        add_compile_definitions(BOOST_USE_UCONTEXT BOOST_USE_ASAN)
    endif()
endif()
