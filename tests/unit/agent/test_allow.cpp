// loads-agent --allow: parsing the entries, matching addresses, names and
// ports, and the check of a run's URLs before it runs (issue 16).
#include "loads/allow.hpp"
#include "loads/engine.hpp"
#include "loads/loads.hpp"
#include "user_io.hpp"

#include <catch2/catch.hpp>

#include <string>

using loads::AllowEntry;
using loads::AllowList;
using loads::IpAddress;

namespace {

IpAddress ip(const char* text) {
    IpAddress a;
    REQUIRE(IpAddress::parse(text, a));
    return a;
}

AllowList list(const char* specs) {
    AllowList l;
    const std::string err = l.add(specs);
    INFO(err);
    REQUIRE(err.empty());
    return l;
}

std::string error_of(const char* spec) {
    AllowList l;
    return l.add(spec);
}

}  // namespace

TEST_CASE("allow entries parse into their kinds, blocks and ports") {
    AllowEntry e;
    REQUIRE(loads::parse_allow_entry("10.0.0.5", e).empty());
    CHECK(e.kind == AllowEntry::Kind::net);
    CHECK(e.prefix == 32);
    CHECK((e.port_low == 1 && e.port_high == 65535));

    REQUIRE(loads::parse_allow_entry("10.0.0.5/24:8000-8999", e).empty());
    CHECK(e.prefix == 24);
    CHECK(e.net.bytes[3] == 0);  // host bits dropped
    CHECK((e.port_low == 8000 && e.port_high == 8999));

    REQUIRE(loads::parse_allow_entry("[::1]:8080", e).empty());
    CHECK((e.net.v6 && e.prefix == 128 && e.port_low == 8080 && e.port_high == 8080));

    REQUIRE(loads::parse_allow_entry("fd00::/8", e).empty());
    CHECK((e.net.v6 && e.prefix == 8 && e.port_low == 1));

    REQUIRE(loads::parse_allow_entry("[fd00::/8]:443", e).empty());
    CHECK((e.prefix == 8 && e.port_low == 443));

    REQUIRE(loads::parse_allow_entry("Shop.Example.:443", e).empty());
    CHECK(e.kind == AllowEntry::Kind::name);
    CHECK(e.name == "shop.example");

    REQUIRE(loads::parse_allow_entry("*", e).empty());
    CHECK(e.kind == AllowEntry::Kind::any);

    REQUIRE(loads::parse_allow_entry("::ffff:10.1.2.3", e).empty());
    CHECK((!e.net.v6 && e.prefix == 32 && e.net.bytes[0] == 10));
}

TEST_CASE("bad allow entries are refused with a sentence naming them") {
    for (const char* bad : {"", "10.0.0.1:0", "10.0.0.1:70000", "10.0.0.1:9-3", "10.0.0.1:", "10.0.0.1:x",
                            "10.0.0.0/33", "::1/129", "10.0.0/8", "10.0.0", "300.1.1.1", "[10.0.0.1]:80",
                            "[::1", "[::1]80", "bad name", "a..b", ":80", "10.0.0.1/", "-x.example"}) {
        INFO("spec '" << bad << "'");
        const std::string err = error_of(bad);
        CHECK_FALSE(err.empty());
        CHECK(err.find("--allow") != std::string::npos);
    }
    // One bad entry in a comma list adds none of them.
    AllowList l;
    CHECK_FALSE(l.add("127.0.0.1,nope..x").empty());
    CHECK(l.empty());
    CHECK(error_of("127.0.0.1, ,::1").find("empty entry") != std::string::npos);
}

TEST_CASE("addresses match by block and port") {
    auto l = list("10.0.0.0/24:8000-8999, 127.0.0.2, [::1]:80");
    CHECK(l.allows("10.0.0.7", ip("10.0.0.7"), 8000));
    CHECK(l.allows("10.0.0.255", ip("10.0.0.255"), 8999));
    CHECK_FALSE(l.allows("10.0.0.7", ip("10.0.0.7"), 7999));
    CHECK_FALSE(l.allows("10.0.0.7", ip("10.0.0.7"), 9000));
    CHECK_FALSE(l.allows("10.0.1.7", ip("10.0.1.7"), 8000));
    CHECK(l.allows("127.0.0.2", ip("127.0.0.2"), 1));
    CHECK(l.allows("127.0.0.2", ip("127.0.0.2"), 65535));
    CHECK_FALSE(l.allows("127.0.0.1", ip("127.0.0.1"), 80));
    CHECK(l.allows("::1", ip("::1"), 80));
    CHECK_FALSE(l.allows("::1", ip("::1"), 81));
    // IPv4-mapped IPv6 is checked as the IPv4 address it maps.
    CHECK(l.allows("::ffff:127.0.0.2", ip("::ffff:127.0.0.2"), 5));
    CHECK_FALSE(l.allows("::ffff:127.0.0.1", ip("::ffff:127.0.0.1"), 5));
    // An IPv4 block says nothing of IPv6 addresses.
    CHECK_FALSE(list("0.0.0.0/0").allows("::2", ip("::2"), 80));
    CHECK(list("0.0.0.0/0").allows("8.8.8.8", ip("8.8.8.8"), 80));
    CHECK(list("::/0").allows("::2", ip("::2"), 80));
}

TEST_CASE("a name entry allows connections made by that name, whatever it resolves to") {
    auto l = list("shop.example:443");
    CHECK(l.allows("SHOP.example", ip("10.9.9.9"), 443));
    CHECK(l.allows("shop.example.", ip("10.9.9.9"), 443));
    CHECK_FALSE(l.allows("shop.example", ip("10.9.9.9"), 80));
    CHECK_FALSE(l.allows("10.9.9.9", ip("10.9.9.9"), 443));  // the address alone is not the name
    CHECK_FALSE(l.allows("www.shop.example", ip("10.9.9.9"), 443));
    CHECK(l.allows_name("shop.example", 443));
    CHECK_FALSE(l.allows_name("other.example", 443));
}

TEST_CASE("the default is loopback; * and the empty list allow everything") {
    auto l = AllowList::loopback_only();
    CHECK(l.describe() == "127.0.0.0/8, ::1");
    CHECK(l.allows("127.0.0.1", ip("127.0.0.1"), 80));
    CHECK(l.allows("localhost", ip("127.255.0.9"), 1));
    CHECK(l.allows("::1", ip("::1"), 8080));
    CHECK_FALSE(l.allows("10.0.0.1", ip("10.0.0.1"), 80));
    CHECK_FALSE(l.allows_everything());

    AllowList none;
    CHECK(none.allows("10.0.0.1", ip("10.0.0.1"), 80));
    CHECK(list("*").allows_everything());
    CHECK(list("*").allows("10.0.0.1", ip("10.0.0.1"), 80));
    auto port_only = list("*:443");
    CHECK_FALSE(port_only.allows_everything());
    CHECK(port_only.allows("anything.example", ip("10.0.0.1"), 443));
    CHECK_FALSE(port_only.allows("anything.example", ip("10.0.0.1"), 80));
}

TEST_CASE("a run's URL and --server-url are checked before it runs") {
    loads::RunSpec spec;
    spec.test.url = "http://127.0.0.1:8080/";
    auto l = list("127.0.0.2");
    CHECK(loads::Engine::check_allowed(spec, l) ==
          "http://127.0.0.1:8080/ is outside this agent's --allow (127.0.0.2)");
    CHECK(loads::Engine::check_allowed(spec, list("127.0.0.1:8080")).empty());
    CHECK_FALSE(loads::Engine::check_allowed(spec, list("127.0.0.1:8081")).empty());
    CHECK(loads::Engine::check_allowed(spec, AllowList{}).empty());
    CHECK(loads::Engine::check_allowed(spec, list("*")).empty());
    // localhost resolves to loopback, which the default allows.
    spec.test.url = "ws://localhost:9/ws";
    CHECK(loads::Engine::check_allowed(spec, AllowList::loopback_only()).empty());
    CHECK(loads::Engine::check_allowed(spec, list("localhost:9")).empty());
    CHECK_FALSE(loads::Engine::check_allowed(spec, list("127.0.0.2")).empty());

    loads::RunSpec lib;
    lib.test.kind = loads::TestSpec::Kind::library;
    lib.server_url = "http://127.0.0.3:80";
    CHECK(loads::Engine::check_allowed(lib, list("127.0.0.2")) ==
          "--server-url http://127.0.0.3:80 is outside this agent's --allow (127.0.0.2)");
    CHECK(loads::Engine::check_allowed(lib, list("127.0.0.0/30")).empty());
}

TEST_CASE("the engine's resolver keeps only the allowed endpoints and refuses when none is left") {
    boost::asio::io_context io;
    loads::WorkerIo w(io);
    auto l = list("127.0.0.1:8080");
    w.begin_run(loads::ClientOptions{}, 1, &l);
    CHECK(w.resolve("127.0.0.1", 8080).size() == 1);
    // localhost: whatever it resolves to here, only 127.0.0.1 may be kept.
    try {
        const auto& eps = w.resolve("localhost", 8080);
        CHECK_FALSE(eps.empty());
        for (const auto& ep : eps) CHECK(ep.address().to_string() == "127.0.0.1");
    } catch (const loads::RequestError& e) {
        CHECK(e.kind == loads::ErrorKind::forbidden);  // localhost is not 127.0.0.1 on this host
    }
    for (auto [host, port] : {std::pair<const char*, int>{"127.0.0.2", 8080}, {"127.0.0.1", 8081}, {"::1", 8080}}) {
        INFO(host << ":" << port);
        // Twice: the second answer comes from the cache and is refused alike.
        for (int i = 0; i < 2; ++i) {
            try {
                w.resolve(host, static_cast<std::uint16_t>(port));
                FAIL("not refused");
            } catch (const loads::RequestError& e) {
                CHECK(e.kind == loads::ErrorKind::forbidden);
                CHECK(std::string(e.what()).find("is outside this agent's --allow (127.0.0.1:8080)") !=
                      std::string::npos);
            }
        }
    }
    // Without a list (local runs) nothing is refused.
    w.begin_run(loads::ClientOptions{}, 1, nullptr);
    CHECK(w.resolve("127.0.0.2", 8080).size() == 1);
    CHECK(loads::to_string(loads::ErrorKind::forbidden) == "forbidden");
    CHECK(loads::error_kind_from_string("forbidden") == loads::ErrorKind::forbidden);
}
