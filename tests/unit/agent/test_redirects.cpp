// The redirect rules a session's request and a URL-mode hit share
// (agent/src/http_session.hpp; docs/protocol.md, follow_redirects).
#include "http_session.hpp"

#include <catch2/catch.hpp>

using namespace loads;

namespace {

ResponseData answer(int status, std::string location) {
    ResponseData r;
    r.status = status;
    r.location = std::move(location);
    return r;
}

}  // namespace

TEST_CASE("redirects to follow are 301, 302, 303, 307 and 308 with a Location") {
    for (int s : {301, 302, 303, 307, 308}) CHECK(is_redirect(answer(s, "/next")));
    for (int s : {200, 300, 304, 305, 306, 309, 404}) CHECK_FALSE(is_redirect(answer(s, "/next")));
    CHECK_FALSE(is_redirect(answer(302, "")));
}

TEST_CASE("303, and 301 or 302 after a method other than GET or HEAD, go on as GET") {
    CHECK(redirect_turns_get(303, "GET"));
    CHECK(redirect_turns_get(303, "PUT"));
    for (int s : {301, 302}) {
        CHECK(redirect_turns_get(s, "POST"));
        CHECK(redirect_turns_get(s, "DELETE"));
        CHECK_FALSE(redirect_turns_get(s, "GET"));
        CHECK_FALSE(redirect_turns_get(s, "HEAD"));
    }
    for (int s : {307, 308}) CHECK_FALSE(redirect_turns_get(s, "POST"));
}

TEST_CASE("a redirect leads to an http(s) URL, or is a protocol error") {
    const Url from = parse_url("http://127.0.0.1:8080/a/b?x=1").value;
    CHECK(redirect_target(from, "/c").str() == "http://127.0.0.1:8080/c");
    CHECK(redirect_target(from, "d").str() == "http://127.0.0.1:8080/a/d");
    CHECK(redirect_target(from, "https://example.test/e").str() == "https://example.test:443/e");
    for (const char* bad : {"ws://127.0.0.1/x", "tcp://127.0.0.1:7000", "http://x:0/"}) {
        try {
            redirect_target(from, bad);
            FAIL("no error for " << bad);
        } catch (const RequestError& e) {
            CHECK(e.kind == ErrorKind::protocol);
            CHECK(std::string(e.what()).starts_with("bad redirect: "));
        }
    }
    const RequestError e = too_many_redirects(10, from);
    CHECK(e.kind == ErrorKind::protocol);
    CHECK(std::string(e.what()) == "too many redirects (more than 10) from http://127.0.0.1:8080/a/b?x=1");
}
