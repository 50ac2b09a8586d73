// parse_simple_response is a shortcut in front of Beast's parser: whatever it
// accepts, Beast must read the same way (status, headers, body, keep-alive,
// size); whatever is not complete it must wait for; the rest it declines.
#include "http_simple.hpp"

#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <catch2/catch.hpp>

#include <random>
#include <string>

namespace http = boost::beast::http;
using loads::parse_simple_response;
using loads::ResponseData;
using loads::SimpleResponse;

namespace {

constexpr std::uint64_t kLimit = 64ull << 20;

struct BeastView {
    bool ok = false;
    int status = 0;
    std::string body;
    bool keep_alive = false;
    std::size_t size = 0;
    std::vector<std::pair<std::string, std::string>> headers;
};

BeastView beast(const std::string& text) {
    http::response_parser<http::string_body> p;
    p.eager(true);
    p.body_limit(kLimit);
    boost::system::error_code ec;
    BeastView v;
    v.size = p.put(boost::asio::buffer(text), ec);
    if (ec || !p.is_done()) return v;
    v.ok = true;
    const auto& m = p.get();
    v.status = static_cast<int>(m.result_int());
    v.body = m.body();
    v.keep_alive = p.keep_alive();
    for (const auto& f : m) v.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    return v;
}

// Simple's verdict must agree with Beast's reading of the same bytes.
void agrees(const std::string& text) {
    INFO(text);
    ResponseData out;
    auto r = parse_simple_response(text, out, kLimit);
    if (r.result != SimpleResponse::done) return;
    auto b = beast(text);
    REQUIRE(b.ok);
    CHECK(out.status == b.status);
    CHECK(out.body == b.body);
    CHECK(r.keep_alive == b.keep_alive);
    CHECK(r.size == b.size);
    CHECK(out.headers == b.headers);
}

const std::string kNginx =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 23 Nov 2026 09:00:00 GMT\r\n"
    "Content-Type: text/plain\r\nContent-Length: 12\r\nConnection: keep-alive\r\n\r\nhello world\n";

}  // namespace

TEST_CASE("a complete response with a length is parsed like Beast does") {
    ResponseData out;
    auto r = parse_simple_response(kNginx, out, kLimit);
    REQUIRE(r.result == SimpleResponse::done);
    CHECK(out.status == 200);
    CHECK(out.body == "hello world\n");
    CHECK(r.keep_alive);
    CHECK(r.size == kNginx.size());
    CHECK(out.headers.size() == 5);
    agrees(kNginx);

    for (const std::string& t : {
             std::string("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
             std::string("HTTP/1.1 500 \r\nContent-Length: 3\r\nConnection: close\r\n\r\nbad"),
             std::string("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"),
             std::string("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: Keep-Alive\r\n\r\nok"),
             std::string("HTTP/1.1 302 Found\r\nLocation:  /next \r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
                         "content-length: 0\r\n\r\n"),
             std::string("HTTP/1.1 200 OK\r\nX-Empty:\r\nContent-Length: 1\r\n\r\nxEXTRA"),
             // Long names with every kind of tchar, long values with HTAB and obs-text.
             std::string("HTTP/1.1 200 OK\r\nX-Very_Long.Header~Name!#$%&'*+^`|-0123456789: a\tb \x80\xff"
                         "-------------------------------\t\r\nCONTENT-LENGTH: 2\r\n\r\nok"),
         })
        agrees(t);
}

TEST_CASE("redirect and cookie headers are collected") {
    ResponseData out;
    std::string t = "HTTP/1.1 302 Found\r\nLocation: /next\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n";
    REQUIRE(parse_simple_response(t, out, kLimit).result == SimpleResponse::done);
    CHECK(out.location == "/next");
    CHECK(out.set_cookies == std::vector<std::string>{"a=1", "b=2"});

    ResponseData lean;
    lean.keep_headers = lean.keep_body = lean.keep_cookies = false;
    REQUIRE(parse_simple_response(t, lean, kLimit).result == SimpleResponse::done);
    CHECK(lean.headers.empty());
    CHECK(lean.set_cookies.empty());
    CHECK(lean.location == "/next");
}

TEST_CASE("a response cut anywhere needs more, and leaves nothing behind") {
    for (std::size_t cut = 0; cut < kNginx.size(); ++cut) {
        ResponseData out;
        auto r = parse_simple_response(std::string_view(kNginx).substr(0, cut), out, kLimit);
        INFO(cut);
        CHECK(r.result == SimpleResponse::need_more);
        CHECK(out.status == 0);
        CHECK(out.headers.empty());
        CHECK(out.body.empty());
    }
}

TEST_CASE("what Beast must handle is declined") {
    for (const std::string& t : {
             std::string("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"),
             std::string("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody until close"),
             std::string("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
             std::string("HTTP/1.1 204 No Content\r\n\r\n"),
             std::string("HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n"),
             std::string("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"),
             std::string("HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nok"),
             std::string("HTTP/1.1 200 OK\r\nX-Folded: a\r\n b\r\nContent-Length: 2\r\n\r\nok"),
             std::string("HTTP/1.1 200 OK\r\nBad Name: v\r\nContent-Length: 2\r\n\r\nok"),
             std::string("HTTP/1.1 200 OK\r\nX: a\nb\r\nContent-Length: 2\r\n\r\nok"),
             std::string("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n\r\n"),
             std::string("HTTP/1.1 200 OK\r\nConnection: Upgrade\r\nContent-Length: 0\r\n\r\n"),
             std::string("HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"),
             std::string("HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n"),
             std::string("HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n"),
             std::string("HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n"),
             std::string("garbage\r\n\r\n"),
         }) {
        INFO(t);
        ResponseData out;
        CHECK(parse_simple_response(t, out, kLimit).result == SimpleResponse::declined);
        CHECK(out.headers.empty());
        CHECK(out.status == 0);
    }
    ResponseData out;
    CHECK(parse_simple_response("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", out, 10).result ==
          SimpleResponse::declined);
}

TEST_CASE("on random mutations of real responses, whatever is accepted Beast reads the same") {
    std::mt19937 rng(12345);
    // Bytes that matter to the parser, NUL included (the 45th).
    const std::string alphabet = std::string("HTTP/1.0 23405:\r\n\t ,aAkK-lenthcosxX_.~\"@\x7f\x80\xff\x01", 45);
    const std::vector<std::string> seeds = {
        kNginx,
        "HTTP/1.1 302 Found\r\nLocation: /x\r\nConnection: close\r\nContent-Length: 4\r\n\r\nabcd",
        "HTTP/1.0 200 OK\r\nConnection: keep-alive, foo\r\nContent-Length: 3\r\n\r\nabc",
    };
    int accepted = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string t = seeds[static_cast<std::size_t>(i) % seeds.size()];
        int edits = 1 + static_cast<int>(rng() % 3);
        for (int e = 0; e < edits; ++e) {
            std::size_t at = rng() % t.size();
            char c = alphabet[rng() % alphabet.size()];
            switch (rng() % 3) {
            case 0: t[at] = c; break;
            case 1: t.insert(t.begin() + static_cast<std::ptrdiff_t>(at), c); break;
            default: t.erase(at, 1); break;
            }
        }
        ResponseData out;
        if (parse_simple_response(t, out, kLimit).result == SimpleResponse::done) ++accepted;
        agrees(t);
    }
    CHECK(accepted > 1000);  // the comparison ran on many accepted inputs
}
