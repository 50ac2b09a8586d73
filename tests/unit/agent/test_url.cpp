// URL parsing and resolution (agent/src/url.cpp). The last two cases hold
// inputs fuzz_url found (fuzz/corpus/url/crash-*): a URL that parsed but
// printed as one that does not, and a fragment sent in the request target.
#include "url.hpp"

#include <catch2/catch.hpp>

using loads::parse_url;
using loads::resolve_url;

TEST_CASE("absolute URLs are split into scheme, host, port and target") {
    auto u = parse_url("HTTP://LocalHost:8080/a/b?q=1#top");
    REQUIRE(u);
    CHECK(u.value.scheme == "http");
    CHECK(u.value.host == "localhost");
    CHECK(u.value.port == 8080);
    CHECK(u.value.target == "/a/b?q=1");
    CHECK(u.value.path() == "/a/b");
    auto v6 = parse_url("https://[::1]/x");
    REQUIRE(v6);
    CHECK(v6.value.host == "::1");
    CHECK(v6.value.port == 443);
    CHECK(v6.value.host_header() == "[::1]");
    CHECK(parse_url("tcp://127.0.0.1:7000").value.target == "/");
    CHECK_FALSE(parse_url("tcp://127.0.0.1"));
    CHECK_FALSE(parse_url("ftp://x/"));
    CHECK_FALSE(parse_url("http://u:p@x/"));
    CHECK_FALSE(parse_url("http://x:0/"));
    CHECK_FALSE(parse_url("http://x:65536/"));
}

TEST_CASE("a host prints back as itself: no stray brackets, spaces or control characters") {
    for (const char* ok : {"http://my_host-1.example.com/", "http://127.0.0.1:1/", "http://[::ffff:127.0.0.1]:8/",
                           "http://[fe80::1]/", "ws://127.0.0.1:1,ws://127.0.0.1:2"})  // a list a test splits itself
        CHECK(parse_url(ok));
    // fuzz_url: "`[::1]" was a host; its Host header "[`[::1]]:9000" did not parse.
    for (const char* bad : {"http://`[::1]:9000/path", "http://a]b/", "http://a b/", "http://a\tb/",
                            "http://a\r\nHost: evil/", "http://[::1/"}) {
        INFO(bad);
        CHECK_FALSE(parse_url(bad));
    }
    // What parses prints as a URL with the same parts.
    for (const char* text : {"http://[::1]:9000/p?q", "ws://localhost/s", "wss://h.example:8443/", "ws://a:1,ws://b:2"}) {
        auto u = parse_url(text).value;
        auto again = parse_url(u.str());
        REQUIRE(again);
        CHECK(again.value.host == u.host);
        CHECK(again.value.port == u.port);
        CHECK(again.value.target == u.target);
    }
}

TEST_CASE("references resolve against a base like a browser's, without the fragment") {
    const auto base = parse_url("http://127.0.0.1:8080/a/b/c?q=1").value;
    CHECK(resolve_url(base, "/x").value.target == "/x");
    CHECK(resolve_url(base, "?y=2").value.target == "/a/b/c?y=2");
    CHECK(resolve_url(base, "d").value.target == "/a/b/d");
    CHECK(resolve_url(base, "").value.target == "/a/b/c?q=1");
    CHECK(resolve_url(base, "//other:81/z").value.str() == "http://other:81/z");
    CHECK(resolve_url(base, "https://e.example/").value.origin() == "https://e.example:443");
    CHECK_FALSE(resolve_url(base, "a b"));
    // fuzz_url: "h|tp:/usex#frag" resolved to the target "/a/b/h|tp:/usex#frag",
    // sent as is in the request line; a fragment never leaves the client.
    CHECK(resolve_url(base, "page#section").value.target == "/a/b/page");
    CHECK(resolve_url(base, "/p?x=1#top").value.target == "/p?x=1");
    CHECK(resolve_url(base, "#only").value.target == "/a/b/c?q=1");
}
