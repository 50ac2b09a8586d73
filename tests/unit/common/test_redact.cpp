// Redaction of run URLs for STATUS and the PUB stream (issue 16).
#include "loads/redact.hpp"

#include <catch2/catch.hpp>

using loads::redact_url;
using loads::redact_urls;

TEST_CASE("redact_url keeps scheme, host, port and path and drops userinfo and query values") {
    CHECK(redact_url("http://shop/cart?token=abc") == "http://shop/cart?token=REDACTED");
    CHECK(redact_url("https://bob:s3cret@shop:8443/a/b?x=1&token=abc&flag") ==
          "https://shop:8443/a/b?x=REDACTED&token=REDACTED&REDACTED");
    CHECK(redact_url("http://shop/cart?abc") == "http://shop/cart?REDACTED");
    CHECK(redact_url("http://shop/cart#frag") == "http://shop/cart#REDACTED");
    CHECK(redact_url("http://u@[::1]:80/?a=b#c") == "http://[::1]:80/?a=REDACTED#REDACTED");
    CHECK(redact_url("http://user:p%40ss@host/p") == "http://host/p");
    // A password holding '@' and '/': the authority ends at the first '/', '?' or '#'.
    CHECK(redact_url("http://a:b@c@host?t=1") == "http://host?t=REDACTED");
    // Nothing secret: unchanged.
    CHECK(redact_url("http://127.0.0.1:8080/delay") == "http://127.0.0.1:8080/delay");
    CHECK(redact_url("tcp://127.0.0.1:9000") == "tcp://127.0.0.1:9000");
    CHECK(redact_url("ws://h/chat") == "ws://h/chat");
    // Empty pieces stay empty.
    CHECK(redact_url("http://h/?") == "http://h/?");
    CHECK(redact_url("http://h/?a=&&b") == "http://h/?a=REDACTED&&REDACTED");
    CHECK(redact_url("") == "");
}

TEST_CASE("redact_urls redacts every URL in free text and keeps the rest") {
    CHECK(redact_urls("http://shop/cart?token=abc") == "http://shop/cart?token=REDACTED");
    CHECK(redact_urls("libshop.so:Shop.buy") == "libshop.so:Shop.buy");
    CHECK(redact_urls("invalid URL \"http://x:pw@h/?t=1\": bad port") ==
          "invalid URL \"http://h/?t=REDACTED\": bad port");
    CHECK(redact_urls("a http://h/?a=1 and wss://u:p@h2/x?b=2 done") ==
          "a http://h/?a=REDACTED and wss://h2/x?b=REDACTED done");
    CHECK(redact_urls("no scheme ://h/?a=1") == "no scheme ://h/?a=1");
    CHECK(redact_urls("") == "");
    const std::string token = "tok-1234567890";
    CHECK(redact_urls("run http://h/p?token=" + token).find(token) == std::string::npos);
}
