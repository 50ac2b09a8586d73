// Per-peer rate limit for the broker's warnings about peer input: a peer
// that floods the broker with bad messages gets at most `lines` log lines per
// `window`, then one line saying how many were suppressed. Keeps a fuzzer or a
// broken agent from filling the disk (issue 12: 430k lines in one fuzz).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace loads::broker {

class PeerLog {
public:
    using Clock = std::chrono::steady_clock;
    // Receives (peer, suppressed count) when a window closes with lines held back.
    using Report = std::function<void(const std::string& peer, std::uint64_t suppressed)>;

    explicit PeerLog(std::size_t lines = 10, Clock::duration window = std::chrono::seconds(10),
                     std::size_t max_peers = 10000)
        : lines_(lines), window_(window), max_peers_(max_peers) {}

    // True when a line about `peer` may be written now; false when it is to
    // be suppressed (and counted). A closed window with suppressed lines is
    // reported through `report` first.
    bool allow(const std::string& peer, Clock::time_point now, const Report& report);
    // Reports and forgets the windows that have closed (call now and then,
    // so a peer that went quiet still has its count said).
    void flush(Clock::time_point now, const Report& report);
    std::size_t peers() const { return peers_.size(); }

private:
    struct Window {
        Clock::time_point start;
        std::size_t lines = 0;
        std::uint64_t suppressed = 0;
    };
    std::size_t lines_;
    Clock::duration window_;
    std::size_t max_peers_;
    std::map<std::string, Window> peers_;
    std::uint64_t overflow_suppressed_ = 0;  // lines of peers past max_peers_
    Clock::time_point overflow_start_{};
};

}  // namespace loads::broker
