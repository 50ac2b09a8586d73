// A load plan: cycles of concurrent users, as FunkLoad and Loads run them.
//
// Each cycle starts `users` virtual users (one every `startup_delay`); every
// user runs the test `hits` times (count mode) or until `duration` has passed
// since the cycle started (duration mode), sleeping a think time drawn from
// `sleep` between hits. A cycle ends when all of its users are done; the next
// cycle then starts with fresh users. `-u 10:20:30 -c 20` is 3 cycles and
// exactly (10 + 20 + 30) * 20 = 1200 hits.
#pragma once

#include "loads/units.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace loads {

struct Cycle {
    std::uint32_t users = 1;
    std::uint64_t hits = 1;         // per user, count mode
    std::optional<Duration> duration;  // set in duration mode: hits is then ignored
};

struct Plan {
    std::vector<Cycle> cycles;
    SleepRange sleep;                 // think time between two hits of one user
    Duration startup_delay{0};        // between two user starts in a cycle
    Duration graceful_stop{std::chrono::seconds(1)};  // duration mode: time given to hits in flight at the end

    // Total hits in count mode; nullopt when any cycle is timed.
    std::optional<std::uint64_t> total_hits() const;
    // Sum of cycle durations in duration mode; nullopt in count mode.
    std::optional<Duration> total_duration() const;
};

// What the user typed, before validation: -u, -c, -d and friends as strings.
struct PlanInput {
    std::string users = "1";       // "10:20:30"
    std::string hits;              // "20" or "5:10:20" (one per cycle); default 1
    std::string duration;          // "10s": each cycle lasts this long (exclusive with hits)
    std::string sleep = "0";       // "0.01" or "min:max"
    std::string startup_delay = "0";
    std::string graceful_stop = "1s";
};

// Validates and builds a plan. Errors (as text, naming the option):
// a bad number; zero users; a hits list whose length is neither 1 nor the
// number of cycles; both hits and duration given; a zero duration; more than
// 1,000,000 users in one cycle.
Parsed<Plan> make_plan(const PlanInput& in);

}  // namespace loads
