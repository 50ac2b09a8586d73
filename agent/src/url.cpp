#include "url.hpp"

#include <algorithm>
#include <charconv>

namespace loads {
namespace {

std::uint16_t default_port(std::string_view scheme) {
    if (scheme == "https" || scheme == "wss") return 443;
    if (scheme == "http" || scheme == "ws") return 80;
    return 0;
}

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// "" when `host` can be a URL's host, else why not. Lenient on purpose (a
// test may read a --server-url such as "ws://a:1,ws://b:2" as a list), but a
// host must print back as one: no '[' or ']' of its own (the brackets of an
// IPv6 literal are not part of it), no space or control character (which
// would also end up in the Host header).
std::string bad_host(std::string_view host) {
    for (const char c : host) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) return "a space or control character in the host";
        if (c == '[' || c == ']') return "a stray '" + std::string(1, c) + "' in the host";
    }
    return "";
}

}  // namespace

std::string Url::host_header() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    if (port != default_port(scheme)) h += ":" + std::to_string(port);
    return h;
}

std::string Url::origin() const {
    std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return scheme + "://" + h + ":" + std::to_string(port);
}

std::string_view Url::path() const {
    std::string_view t = target;
    return t.substr(0, t.find('?'));
}

Parsed<Url> parse_url(std::string_view text) {
    auto fail = [&](std::string why) {
        return Parsed<Url>{{}, "invalid URL \"" + std::string(text) + "\": " + why};
    };
    auto sep = text.find("://");
    if (sep == std::string_view::npos || sep == 0) return fail("expected scheme://host");
    Url u;
    u.scheme = lower(text.substr(0, sep));
    if (u.scheme != "http" && u.scheme != "https" && u.scheme != "ws" && u.scheme != "wss" &&
        u.scheme != "tcp")
        return fail("unsupported scheme \"" + u.scheme + "\" (use http, https, ws, wss or tcp)");
    std::string_view rest = text.substr(sep + 3);
    auto slash = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, slash);
    std::string_view target = slash == std::string_view::npos ? "" : rest.substr(slash);
    if (auto at = authority.rfind('@'); at != std::string_view::npos)
        return fail("user information in URLs is not supported");
    std::string_view port_text;
    if (!authority.empty() && authority.front() == '[') {
        auto close = authority.find(']');
        if (close == std::string_view::npos) return fail("unclosed '[' in host");
        u.host = std::string(authority.substr(1, close - 1));
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return fail("unexpected text after ']'");
            port_text = after.substr(1);
        }
    } else {
        auto colon = authority.rfind(':');
        u.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    }
    if (u.host.empty()) return fail("missing host");
    if (auto why = bad_host(u.host); !why.empty()) return fail(why);
    u.host = lower(u.host);
    if (!port_text.empty()) {
        unsigned p = 0;
        auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), p);
        if (ec != std::errc() || end != port_text.data() + port_text.size() || p == 0 || p > 65535)
            return fail("bad port \"" + std::string(port_text) + "\"");
        u.port = static_cast<std::uint16_t>(p);
    } else {
        u.port = default_port(u.scheme);
        if (u.port == 0) return fail("a port is required for " + u.scheme + "://");
    }
    if (auto hash = target.find('#'); hash != std::string_view::npos) target = target.substr(0, hash);
    if (target.empty() || target.front() != '/') u.target = "/" + std::string(target);
    else u.target = std::string(target);
    if (u.target.find_first_of(" \r\n") != std::string::npos)
        return fail("spaces and line breaks must be percent-encoded");
    return {std::move(u), {}};
}

Parsed<Url> resolve_url(const Url& base, std::string_view ref) {
    if (ref.find("://") != std::string_view::npos) return parse_url(ref);
    // A fragment is the client's own: it never goes into a request target.
    ref = ref.substr(0, ref.find('#'));
    Url u = base;
    if (ref.empty()) return {std::move(u), {}};
    if (ref.starts_with("//")) return parse_url(base.scheme + ":" + std::string(ref));
    if (ref.find_first_of(" \r\n") != std::string_view::npos)
        return {{}, "invalid URL \"" + std::string(ref) + "\": spaces and line breaks must be percent-encoded"};
    if (ref.front() == '/') {
        u.target = std::string(ref);
    } else if (ref.front() == '?') {
        u.target = std::string(base.path()) + std::string(ref);
    } else {
        std::string_view dir = base.path();
        dir = dir.substr(0, dir.rfind('/') + 1);
        u.target = std::string(dir) + std::string(ref);
    }
    return {std::move(u), {}};
}

}  // namespace loads
