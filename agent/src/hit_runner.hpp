// What one hit runs, behind one interface: a test from a library, or one of
// the zero-code URL tests (HTTP, WebSocket, TCP). One instance per user.
#pragma once

#include <memory>

namespace loads {

class VirtualUser;
struct RunState;
struct Task;

class HitRunner {
public:
    virtual ~HitRunner() = default;
    // Called once before the user's first hit and after its last. May throw
    // like run_hit (on_start failing ends the user).
    virtual void start() {}
    virtual void stop() {}
    // Runs one hit. Returns normally on success; throws loads::Failure for a
    // failure, loads::RequestError for an error of a kind, anything else for
    // an error of kind `exception`.
    virtual void run_hit() = 0;
    // The task the last run_hit() ran (library tests), or nullptr.
    virtual const Task* last_task() const { return nullptr; }
};

// The runner for the run's test (library or URL), for this user.
std::unique_ptr<HitRunner> make_hit_runner(const RunState& run, VirtualUser& user);

}  // namespace loads
