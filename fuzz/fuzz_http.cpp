// libFuzzer harness: the one-pass HTTP/1.x response parser
// (agent/src/http_simple.cpp). Input: one byte of flags (what ResponseData
// keeps, a small or a large body limit), then the bytes from the server.
// Checked, besides sanitizers: the contract of parse_simple_response (size
// within the data, out cleared unless done, body within the limit) and, as
// tests/unit/agent/test_http_simple.cpp states it, that whatever it parses
// Beast's parser reads the same way.
#include "http_simple.hpp"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

namespace http = boost::beast::http;
using loads::ResponseData;
using loads::SimpleResponse;

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_http: %s\n", what);
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::uint8_t flags = data[0];
    const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
    const std::uint64_t limit = (flags & 8) ? 16 : (64ull << 20);

    ResponseData out;
    out.keep_headers = flags & 1;
    out.keep_body = flags & 2;
    out.keep_cookies = flags & 4;
    const SimpleResponse r = loads::parse_simple_response(text, out, limit);
    if (r.result != SimpleResponse::done) {
        if (out.status != 0 || !out.body.empty() || !out.headers.empty() || !out.location.empty() ||
            !out.set_cookies.empty())
            fail("not done, yet out is not cleared");
        return 0;
    }
    if (r.size == 0 || r.size > text.size()) fail("size outside the data");
    if (out.status < 100 || out.status > 999) fail("status out of range");
    if (out.body.size() > limit) fail("body over the limit");
    if (!out.keep_body && !out.body.empty()) fail("body kept against keep_body");
    if (!out.keep_headers && !out.headers.empty()) fail("headers kept against keep_headers");

    // Beast must agree (status, body, keep-alive, size, headers).
    http::response_parser<http::string_body> p;
    p.eager(true);
    p.body_limit(limit);
    boost::system::error_code ec;
    const std::size_t used = p.put(boost::asio::buffer(text.data(), text.size()), ec);
    if (ec || !p.is_done()) {
        std::fprintf(stderr, "fuzz_http: Beast says: %s\n", ec ? ec.message().c_str() : "not done");
        fail("parsed a response Beast does not parse");
    }
    const auto& m = p.get();
    if (static_cast<int>(m.result_int()) != out.status) fail("status differs from Beast's");
    if (used != r.size) fail("size differs from Beast's");
    if (p.keep_alive() != r.keep_alive) fail("keep-alive differs from Beast's");
    if (out.keep_body && m.body() != out.body) fail("body differs from Beast's");
    // Headers: the same fields, each name's values in the same order. (Beast
    // keeps fields of one name together, so a Set-Cookie after another field
    // after a Set-Cookie comes out in another order than on the wire.)
    if (out.keep_headers) {
        using Fields = std::vector<std::pair<std::string, std::string>>;
        Fields beast_fields, simple_fields = out.headers;
        for (const auto& f : m) beast_fields.emplace_back(std::string(f.name_string()), std::string(f.value()));
        const auto by_name = [](Fields& v) {
            std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
                return boost::beast::iless()(a.first, b.first);
            });
        };
        by_name(beast_fields);
        by_name(simple_fields);
        if (beast_fields != simple_fields) {
            for (const auto& [n, v] : beast_fields) std::fprintf(stderr, "  beast:  [%s] [%s]\n", n.c_str(), v.c_str());
            for (const auto& [n, v] : simple_fields) std::fprintf(stderr, "  simple: [%s] [%s]\n", n.c_str(), v.c_str());
            fail("headers differ from Beast's");
        }
    }
    return 0;
}
