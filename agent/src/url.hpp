// URLs as the engine needs them: scheme, host, port and request target, and
// resolution of a relative reference against --server-url.
#pragma once

#include "loads/units.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace loads {

struct Url {
    std::string scheme;  // "http", "https", "ws", "wss", "tcp"
    std::string host;    // "127.0.0.1", "localhost", "::1" (no brackets)
    std::uint16_t port = 0;
    std::string target = "/";  // path and query, always starting with '/'

    bool secure() const { return scheme == "https" || scheme == "wss"; }
    // "host" or "host:port" when the port is not the scheme's default; IPv6
    // literals in brackets. What goes into a Host header.
    std::string host_header() const;
    // scheme://host:port — the key of a connection pool.
    std::string origin() const;
    std::string str() const { return origin() + target; }
    // The path without the query, for statistics names.
    std::string_view path() const;
};

// Whether `a` and `b` have one origin (no string built).
inline bool same_origin(const Url& a, const Url& b) {
    return a.port == b.port && a.host == b.host && a.scheme == b.scheme;
}

// Parses an absolute URL. Accepts http, https, ws, wss and tcp schemes.
Parsed<Url> parse_url(std::string_view text);

// Resolves `ref` against `base` the way a browser would for the cases tests
// use: absolute URLs, "//host/x", "/path", "?query", "" (the base itself) and
// "relative/path" (against the base's directory).
Parsed<Url> resolve_url(const Url& base, std::string_view ref);

}  // namespace loads
