// A load plan: what the engine runs, cycle after cycle, in one of two load
// models.
//
// Closed model (-u, the default; FunkLoad's and Loads' cycles): each cycle
// starts `users` virtual users (one every `startup_delay`); every user runs
// the test `hits` times (count mode) or until `duration` has passed since the
// cycle started (duration mode), sleeping a think time drawn from `sleep`
// between hits. A cycle ends when all of its users are done; the next cycle
// then starts with fresh users. `-u 10:20:30 -c 20` is 3 cycles and exactly
// (10 + 20 + 30) * 20 = 1200 hits. The server's pace sets how many hits are
// sent: a stalled server receives fewer.
//
// Open model (--rate; k6's arrival-rate executors, wrk2's -R): each cycle
// lasts `duration` and hits *arrive* at `rate` per second, whatever the
// server does; the rate ramps linearly from the previous cycle's rate (0
// before the first) over `ramp`. Arrivals are served by a pool of virtual
// users that grows as arrivals need, up to `max_users`; an arrival that finds
// no free user waits for one (a late start), and is dropped after waiting
// longer than the request timeout. Every hit's latency counts from its
// scheduled time. The arithmetic of the schedule is in arrivals.hpp.
#pragma once

#include "loads/units.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace loads {

enum class LoadModelKind { closed, open };
enum class Arrivals { uniform, poisson };
std::string_view to_string(LoadModelKind k);
std::string_view to_string(Arrivals a);

struct Cycle {
    std::uint32_t users = 1;           // closed: concurrent users
    std::uint64_t hits = 1;            // closed: per user, count mode
    std::optional<Duration> duration;  // set in duration mode (always in the open model)
    double rate = 0;                   // open: arrivals per second once ramped
    friend bool operator==(const Cycle&, const Cycle&) = default;
};

struct Plan {
    LoadModelKind model = LoadModelKind::closed;
    std::vector<Cycle> cycles;
    SleepRange sleep;                 // closed: think time between two hits of one user
    Duration startup_delay{0};        // closed: between two user starts in a cycle
    Duration graceful_stop{std::chrono::seconds(1)};  // timed cycles: time given to hits in flight at the end

    // Open model.
    Duration ramp{0};                  // linear ramp from the previous cycle's rate
    Arrivals arrivals = Arrivals::uniform;
    std::uint32_t max_users = 1000;    // the pool's cap, over the whole run (all agents)
    // Arrivals due within this window of a wake-up start together: fewer
    // wake-ups (CPU), each hit up to this much after its schedule.
    Duration arrival_window{std::chrono::microseconds(500)};

    bool open() const { return model == LoadModelKind::open; }
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
    bool users_given = false;      // -u was typed (it cannot go with --rate)
    // Open model: --rate selects it.
    std::string rate;              // "500:1k:2k"
    std::string ramp;              // "10s"
    std::string arrivals = "uniform";
    std::string max_users;         // "200"; default 1000 per agent
    std::string arrival_window;    // "500us"; 0 wakes for every arrival
    std::uint32_t agents = 1;      // the run's agents (1 locally): for the default and checks
};

// Validates and builds a plan. Errors (as text, naming the option):
// a bad number; zero users; a hits list whose length is neither 1 nor the
// number of cycles; both hits and duration given; a zero duration; more than
// 1,000,000 users in one cycle; --rate without -d, or with -u, -c, --sleep or
// --startup-delay; a ramp longer than a cycle; --max-users below the agents.
Parsed<Plan> make_plan(const PlanInput& in);

// "2000/s, 5 agents x 400/s" for the summary; "" in the closed model.
std::string describe_rate_split(const Plan& plan, std::uint32_t agents);

}  // namespace loads
