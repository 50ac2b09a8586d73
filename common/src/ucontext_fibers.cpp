// Sanitized builds only (cmake/LoadsWarnings.cmake, .ci/sanitize): the one
// piece of Boost.Context's ucontext fibers that is not in its headers. With
// BOOST_USE_UCONTEXT, boost::context::fiber (asio::spawn's coroutines) keeps
// a per-thread record of the fiber running now, reached through
// fiber_activation_record::current(), which Boost defines in its library,
// in the library's ucontext build only. Debian's libboost_context is the
// assembly (fcontext) build, so the definitions are here, as the header
// declares them: the thread's record is made the first time the thread asks
// for it and freed when the thread ends.
#if !defined(BOOST_USE_UCONTEXT)
#error "ucontext_fibers.cpp is for builds with BOOST_USE_UCONTEXT (LOADS_SANITIZE)"
#endif

#include <boost/context/fiber.hpp>

#include <cstddef>

namespace boost::context::detail {

namespace {
thread_local fiber_activation_record* this_thread_record = nullptr;  // zero-initialised per thread
thread_local std::size_t this_thread_users = 0;
}  // namespace

fiber_activation_record_initializer::fiber_activation_record_initializer() noexcept {
    if (this_thread_users++ == 0) this_thread_record = new fiber_activation_record();
}

fiber_activation_record_initializer::~fiber_activation_record_initializer() {
    if (--this_thread_users == 0) {
        delete this_thread_record;
        this_thread_record = nullptr;
    }
}

fiber_activation_record*& fiber_activation_record::current() noexcept {
    thread_local fiber_activation_record_initializer initializer;  // on the thread's first call
    return this_thread_record;
}

}  // namespace boost::context::detail
