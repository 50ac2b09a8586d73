// A virtual user's cookie jar (cookie_jar.hpp): what Set-Cookie sets,
// replaces and deletes, and the Cookie field it sends back.
#include "cookie_jar.hpp"

#include <catch2/catch.hpp>

using loads::CookieJar;

TEST_CASE("Set-Cookie sets a cookie, the Cookie field sends it back in the order first set") {
    CookieJar jar;
    CHECK(jar.empty());
    CHECK(jar.header().empty());
    jar.store("sid=abc123; Path=/; HttpOnly");
    jar.store("theme=dark");
    CHECK_FALSE(jar.empty());
    CHECK(jar.get("sid") == "abc123");
    CHECK(jar.get("theme") == "dark");
    CHECK(jar.get("nope").empty());
    CHECK(jar.header() == "sid=abc123; theme=dark");
}

TEST_CASE("a cookie set again keeps its place and takes the new value; names are case-sensitive") {
    CookieJar jar;
    jar.store("a=1");
    jar.store("b=2");
    jar.store("a=3; Max-Age=60");
    CHECK(jar.header() == "a=3; b=2");
    jar.store("A=4");
    CHECK(jar.get("a") == "3");
    CHECK(jar.get("A") == "4");
    CHECK(jar.header() == "a=3; b=2; A=4");
}

TEST_CASE("Max-Age=0 or negative deletes the cookie, in any case and position") {
    CookieJar jar;
    jar.store("a=1");
    jar.store("b=2");
    jar.store("c=3");
    jar.store("a=; Max-Age=0");
    CHECK(jar.get("a").empty());
    CHECK(jar.header() == "b=2; c=3");
    jar.store("b=x; Path=/; max-age=-1; Secure");
    CHECK(jar.header() == "c=3");
    // Deleting one that is not there is nothing.
    CHECK_NOTHROW(jar.store("zz=1; MAX-AGE=0"));
    CHECK(jar.header() == "c=3");
    // A positive Max-Age keeps it.
    jar.store("d=4; Max-Age=10");
    CHECK(jar.get("d") == "4");
}

TEST_CASE("an empty value is a cookie; a field without '=' or without a name is ignored") {
    CookieJar jar;
    jar.store("empty=");
    CHECK(jar.header() == "empty=");
    jar.store("novalue");
    jar.store("=nobody");
    jar.store("");
    jar.store("; Path=/");
    CHECK(jar.header() == "empty=");
    // The value is everything after the first '=' up to the first ';'.
    jar.store("tok=a=b=c; Path=/");
    CHECK(jar.get("tok") == "a=b=c");
}

TEST_CASE("clear empties the jar") {
    CookieJar jar;
    jar.store("a=1");
    jar.clear();
    CHECK(jar.empty());
    CHECK(jar.header().empty());
    CHECK(jar.get("a").empty());
}
