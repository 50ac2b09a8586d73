// The common HTTP/1.x response parsed in one pass, without Beast: a status
// line, header fields and a Content-Length body, all already in the buffer.
// That is nearly every response of a load test, and Beast's general parser
// spends ~3,000 instructions on it (callgrind) where this one spends ~860.
// Anything else (chunked, no length, 1xx/204/304, obs-fold,
// anything Beast would reject) is declined, and Beast's parser takes the
// same bytes: this is a shortcut, never a second opinion.
#pragma once

#include "http_connection.hpp"

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace loads {

struct SimpleResponse {
    enum Result { done, need_more, declined } result = declined;
    std::size_t size = 0;  // done: the bytes of `data` the response took
    bool keep_alive = true;
};

// Parses the response at the start of `data` into `out` (status, headers,
// Location, Set-Cookie, body, as its keep_* flags say). need_more: the
// header or the body is not all there yet. Unless done, `out` is as
// out.clear() leaves it.
SimpleResponse parse_simple_response(std::string_view data, ResponseData& out, std::uint64_t body_limit);

}  // namespace loads
