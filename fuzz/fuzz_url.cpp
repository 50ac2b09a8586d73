// libFuzzer harness: URL parsing and resolution (agent/src/url.cpp).
// Input: BASE '\n' REF, or a lone URL. parse_url on both; a URL it accepts
// must print (str()) as a URL that parses back to the same parts. resolve_url
// of REF against BASE (or against a fixed base when BASE does not parse) must
// give a URL with a target starting with '/'.
#include "url.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

[[noreturn]] void fail(const char* what, const loads::Url& u) {
    std::fprintf(stderr, "fuzz_url: %s: %s\n", what, u.str().c_str());
    std::abort();
}

void check(const loads::Url& u) {
    if (u.target.empty() || u.target.front() != '/') fail("target does not start with '/'", u);
    if (u.host.empty()) fail("empty host", u);
    (void)u.host_header();
    (void)u.path();
    auto again = loads::parse_url(u.str());
    if (!again) {
        std::fprintf(stderr, "fuzz_url: %s\n", again.error.c_str());
        fail("str() of a parsed URL does not parse", u);
    }
    const auto& v = again.value;
    if (v.scheme != u.scheme || v.host != u.host || v.port != u.port || v.target != u.target)
        fail("str() of a parsed URL parses to other parts", u);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const auto nl = in.find('\n');
    const std::string_view first = in.substr(0, nl);
    const std::string_view ref = nl == std::string_view::npos ? in : in.substr(nl + 1);

    auto base = loads::parse_url(first);
    if (base) check(base.value);
    if (nl != std::string_view::npos)
        if (auto r = loads::parse_url(ref)) check(r.value);

    static const loads::Url fixed = loads::parse_url("http://127.0.0.1:8080/a/b/c?q=1").value;
    auto resolved = loads::resolve_url(base ? base.value : fixed, ref);
    if (resolved) check(resolved.value);
    return 0;
}
