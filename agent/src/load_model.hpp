// The seam between the engine and a load model: which users a cycle has on
// each worker, and when each of them starts its next hit.
//
// The engine runs cycles the same way whatever the model (start, collect
// every interval, cancel at the deadline plus the graceful stop, wait for the
// workers); the model decides what happens inside one:
//   closed_model.cpp  -u: N users each looping over their hits (the default);
//   open_model.cpp    --rate: arrivals on a schedule, served by a pool.
// A third model (stages, a custom shape) is a new file implementing
// LoadModel and CycleLoad, plus its case in make_load_model().
#pragma once

#include "run_state.hpp"
#include "user_io.hpp"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace loads {

class VirtualUser;

// The start of one hit: when it was due. Closed-model hits are due when the
// user gets to them (from_schedule false, `scheduled` unset and unused);
// open-model hits at their arrival.
struct HitTicket {
    Clock::time_point scheduled;
    bool from_schedule = false;
};

// What a worker offers the load model of its cycle. On the worker thread.
class LoadHost {
public:
    virtual ~LoadHost() = default;
    // Starts a user coroutine `delay` from now.
    virtual void spawn_user(std::uint32_t id, Clock::duration delay) = 0;
    // The model may have finished: the worker ends its cycle once it has and
    // every user has ended.
    virtual void check_done() = 0;
    virtual WorkerIo& worker_io() = 0;
};

// One cycle on one worker. Lives on the worker thread, from begin() until the
// worker's next cycle or the end of the run; every user of the cycle has
// ended before it goes.
class CycleLoad {
public:
    virtual ~CycleLoad() = default;
    // Starts the cycle: spawns users, arms schedules.
    virtual void begin(LoadHost& host) = 0;
    // Whether a freshly spawned user starts at all (before its on_start).
    virtual bool may_start(VirtualUser& user) = 0;
    // Suspends `user` (think time, waiting for an arrival) until its next hit
    // is due; nullopt when the user has no more hits.
    virtual std::optional<HitTicket> next_hit(VirtualUser& user) = 0;
    // How many more hits `user` would have been handed after `taken` more
    // (a user whose on_start failed skips them): the closed model in count
    // mode knows; a timed cycle or the open model does not skip hits (0).
    virtual std::uint64_t hits_left(const VirtualUser& /*user*/, std::uint64_t /*taken*/) const { return 0; }
    // The user has ended (after its on_stop, or a failed on_start).
    virtual void user_ended(VirtualUser& /*user*/) {}
    // No more users will be spawned nor hits handed out.
    virtual bool finished() const = 0;
    // A stop or the end of the graceful stop: stop scheduling; what was due
    // and never started is counted as dropped. Users' I/O is cancelled by the
    // worker.
    virtual void cancel() {}
};

// One run's model. On the run thread.
class LoadModel {
public:
    virtual ~LoadModel() = default;
    // The parts of cycle `cycle.index` for workers 0..workers-1.
    virtual std::vector<std::unique_ptr<CycleLoad>> start_cycle(const CycleState& cycle, unsigned workers) = 0;
};

std::unique_ptr<LoadModel> make_closed_model(const RunSpec& spec);
std::unique_ptr<LoadModel> make_open_model(const RunSpec& spec);
inline std::unique_ptr<LoadModel> make_load_model(const RunSpec& spec) {
    return spec.plan.open() ? make_open_model(spec) : make_closed_model(spec);
}

// User ids, unique over the whole run (every cycle, agent and model). An
// agent numbers its users 0, 1, 2... in the order it starts them (`local`).
// Closed model: agent a's users are one block, a*S .. a*S+S-1, S being the
// users of all cycles (so neighbours, such as pairs of bots, share an agent).
// Open model (the pool has no fixed size): local user j of agent a of A is
// j*A + a.
inline std::uint32_t run_wide_user_id(const RunSpec& spec, std::uint64_t local) {
    const std::uint64_t agents = std::max<std::uint32_t>(1, spec.agent_count);
    if (spec.plan.open()) return static_cast<std::uint32_t>(local * agents + spec.agent_index);
    std::uint64_t block = 0;
    for (const auto& c : spec.plan.cycles) block += c.users;
    return static_cast<std::uint32_t>(spec.agent_index * block + local);
}

}  // namespace loads
