// The broker's per-peer warning limit (broker/src/peer_log.hpp).
#include "peer_log.hpp"

#include <catch2/catch.hpp>

#include <vector>

using loads::broker::PeerLog;
using namespace std::chrono_literals;

TEST_CASE("a peer gets N lines per window, then one line with the count of the rest") {
    PeerLog log(3, 10s);
    std::vector<std::pair<std::string, std::uint64_t>> said;
    auto report = [&](const std::string& peer, std::uint64_t n) { said.emplace_back(peer, n); };
    const auto t0 = PeerLog::Clock::time_point{} + 1h;
    int allowed = 0;
    for (int i = 0; i < 1000; ++i) allowed += log.allow("evil", t0 + std::chrono::milliseconds(i), report);
    CHECK(allowed == 3);
    CHECK(log.allow("good", t0, report));  // another peer has its own budget
    CHECK(said.empty());
    // The window closes: the flush says how many were held back, once.
    log.flush(t0 + 11s, report);
    REQUIRE(said.size() == 1);
    CHECK(said[0] == std::pair<std::string, std::uint64_t>{"evil", 997});
    log.flush(t0 + 12s, report);
    CHECK(said.size() == 1);
    CHECK(log.peers() == 0);  // closed windows are forgotten
    // A new window: lines again.
    CHECK(log.allow("evil", t0 + 13s, report));
}

TEST_CASE("a window that closes on the next line reports its count first") {
    PeerLog log(1, 10s);
    std::vector<std::uint64_t> said;
    auto report = [&](const std::string&, std::uint64_t n) { said.push_back(n); };
    const auto t0 = PeerLog::Clock::time_point{} + 1h;
    CHECK(log.allow("p", t0, report));
    CHECK_FALSE(log.allow("p", t0 + 1s, report));
    CHECK_FALSE(log.allow("p", t0 + 2s, report));
    CHECK(log.allow("p", t0 + 10s, report));
    CHECK(said == std::vector<std::uint64_t>{2});
}

TEST_CASE("random peer ids cannot grow the table past its cap") {
    PeerLog log(2, 10s, 100);
    int said = 0;
    auto report = [&](const std::string&, std::uint64_t) { ++said; };
    const auto t0 = PeerLog::Clock::time_point{} + 1h;
    int allowed = 0;
    for (int i = 0; i < 10000; ++i) allowed += log.allow("id" + std::to_string(i), t0, report);
    CHECK(log.peers() == 100);
    CHECK(allowed == 100);
    log.flush(t0 + 11s, report);
    CHECK(said == 1);  // "(other peers)": 9900 suppressed
}
