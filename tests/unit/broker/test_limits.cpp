// The broker's connection cap below its descriptor limit (broker/src/broker.hpp).
#include "broker.hpp"

#include <catch2/catch.hpp>

using loads::broker::default_max_connections;

TEST_CASE("the default connection cap keeps an eighth of the descriptors, at least 256 or half a small limit") {
    CHECK(default_max_connections(1024) == 768);        // 256 kept: ZeroMQ's own and a burst's overshoot
    CHECK(default_max_connections(4096) == 3584);       // an eighth is 512
    CHECK(default_max_connections(1048576) == 917504);  // an eighth
    CHECK(default_max_connections(160) == 80);          // half of a small limit
    CHECK(default_max_connections(1) == 1);
    CHECK(default_max_connections(std::uint64_t{1} << 40) == (1u << 30));  // RLIM_INFINITY's stand-in and beyond
}
