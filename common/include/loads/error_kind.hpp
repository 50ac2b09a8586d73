// Kinds of error a hit can end with. Shared by the test-case API (RequestError
// carries one), the statistics, the wire protocol and the reports.
// Failures of the system under test are data, counted by kind, never crashes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace loads {

enum class ErrorKind : std::uint8_t {
    connect,    // TCP connect refused, unreachable, or name not resolved
    timeout,    // connect, request, read or receive took longer than allowed
    reset,      // connection reset or closed by the peer in the middle of an exchange
    tls,        // TLS handshake or record error
    status,     // HTTP status >= 500 that no check in the test looked at
    exception,  // the test code threw something that is not a loads failure
    handshake,  // WebSocket upgrade refused or malformed
    closed,     // WebSocket or TCP stream closed by the peer while we waited
    protocol,   // malformed response: bad HTTP, oversized header or body, bad frame
    other,      // any other I/O error
    forbidden,  // the address is outside the agent's --allow list: no packet was sent
                // (added last: older readers count it as `other`)
    // HTTP/2 (added after forbidden; older readers count them as `other`):
    h2_protocol,  // a frame or header block that breaks HTTP/2, or a connection error (GOAWAY)
    h2_refused,   // stream refused (RST_STREAM REFUSED_STREAM, or above a GOAWAY's last stream id)
    h2_reset,     // stream reset by the server with another error code (CANCEL, INTERNAL_ERROR, ...)
};

inline constexpr std::size_t kErrorKindCount = 14;

// Stable lower-case names: used in reports, JSON and on the wire.
constexpr std::string_view to_string(ErrorKind k) {
    constexpr std::string_view names[kErrorKindCount] = {
        "connect", "timeout", "reset", "tls", "status",
        "exception", "handshake", "closed", "protocol", "other", "forbidden",
        "h2-protocol", "h2-refused", "h2-reset"};
    auto i = static_cast<std::size_t>(k);
    return i < kErrorKindCount ? names[i] : std::string_view("other");
}

inline std::optional<ErrorKind> error_kind_from_string(std::string_view s) {
    for (std::size_t i = 0; i < kErrorKindCount; ++i)
        if (to_string(static_cast<ErrorKind>(i)) == s) return static_cast<ErrorKind>(i);
    return std::nullopt;
}

}  // namespace loads
