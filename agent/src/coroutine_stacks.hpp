// The sizes of the engine's coroutine stacks (Boost.Context fibers from
// fixedsize_stack: only the pages a coroutine touches count in RSS).
#pragma once

#include <cstddef>

namespace loads {

// Sanitized builds (.ci/sanitize) put redzones around locals and keep more of
// them on the stack: the same code needs several times the stack.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr std::size_t kStackScale = 4;
#else
inline constexpr std::size_t kStackScale = 1;
#endif

// A virtual user: room for test code and OpenSSL.
inline constexpr std::size_t kUserStack = 64 * 1024 * kStackScale;
// A WebSocket's reader (and writer, for on_message's sends): Beast's read
// and the test's callback.
inline constexpr std::size_t kSocketStack = 32 * 1024 * kStackScale;

}  // namespace loads
