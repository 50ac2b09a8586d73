// The engine that runs virtual users: the same code runs a load in
// loads-runner (local mode) and in loads-agent (cluster mode).
//
// Threads: `threads` workers, each with its own io_context; users are spread
// round-robin over them and run as stackful coroutines (thousands per thread).
// Each worker counts into its own Stats with no lock; the thread that called
// run() collects the workers' deltas every `interval` and hands them to the
// observer.
#pragma once

#include "loads/allow.hpp"
#include "loads/plan.hpp"
#include "loads/run_spec.hpp"
#include "loads/stats.hpp"

#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loads {

// One task of a library test run: a test and its weight (tasks.hpp).
struct TaskInfo {
    std::string name;                 // "Class.method"
    std::uint32_t weight = 1;
    std::optional<SleepRange> think;  // its think time, in place of --sleep
};

struct CycleResult {
    std::uint32_t index = 0;
    std::uint32_t users = 0;   // closed: concurrent users; open: the pool's peak
    double rate = 0;           // open model: arrivals per second asked
    Stats stats;
    Duration elapsed{0};
};

struct RunResult {
    std::chrono::system_clock::time_point started;
    Duration elapsed{0};
    std::vector<CycleResult> cycles;
    Stats total;           // sum of the cycles
    bool stopped = false;  // stop() ended it before the plan was done
};

struct Progress {
    std::uint64_t hits_done = 0;
    std::optional<std::uint64_t> hits_total;       // count mode
    Duration elapsed{0};
    std::optional<Duration> duration_total;         // duration mode
    std::uint32_t cycle = 0;                        // index of the running cycle
    std::uint32_t cycles = 0;
    std::uint32_t users_alive = 0;                  // virtual users now (the open model's pool)
    std::uint32_t users_busy = 0;                   // of which in a hit now

    // 0..1, from hits in count mode and from time in duration mode.
    double fraction() const;
};

// Receives the run as it goes. Every call is made on the thread inside run().
class RunObserver {
public:
    virtual ~RunObserver() = default;
    // Called every interval and once at the end of each cycle with the figures
    // counted since the previous call (so summing every delta gives the total).
    virtual void on_interval(std::uint32_t /*cycle*/, const Stats& /*delta*/, const Progress&) {}
    // Called when a cycle starts and when it has ended.
    virtual void on_cycle_start(std::uint32_t /*cycle*/, const Cycle&) {}
    virtual void on_cycle_end(const CycleResult&) {}
};

// How an engine is set up (for every run it makes).
struct EngineOptions {
    unsigned threads = 0;  // 0: one per core
    // Where virtual users may connect (loads-agent --allow): every address a
    // host resolves to is checked before connecting; a refused one is never
    // contacted and the hit fails with ErrorKind::forbidden. Empty: no check
    // (loads-runner's local runs).
    AllowList allow;
};

class Engine {
public:
    // threads == 0: one per core.
    explicit Engine(unsigned threads = 0);
    explicit Engine(EngineOptions options);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    unsigned threads() const;

    // Checks a test before a run: the URL parses, the library loads and has
    // the test. Returns an error message, or empty when the test can run.
    static std::string check(const TestSpec& test);
    // Checks data files before a run: names, formats, sizes, every row
    // parses. Returns an error message ("--data users=u.csv: line 3: ..."),
    // or empty.
    static std::string check_data(const std::vector<DataSource>& data);
    // Checks the hosts a run names up front (the URL in URL mode,
    // --server-url) against an allow list: "" when allowed (or the list is
    // empty), else why not ("http://10.9.9.9/ is outside this agent's
    // --allow (127.0.0.0/8, ::1)"). A name is allowed by a name entry, or when
    // one of its addresses is allowed; a name that does not resolve passes
    // here (connecting is checked again, address by address).
    static std::string check_allowed(const RunSpec& spec, const AllowList& allow);
    // The names of the tests a library holds ("Class.method", with ":WEIGHT"
    // for those LOADS_TASK gave a weight), or an error.
    static Parsed<std::vector<std::string>> list_tests(const std::string& library_path);
    // The tasks a library test runs (one for "Class.method"), or an error.
    static Parsed<std::vector<TaskInfo>> tasks(const TestSpec& test);
    // The names a URL-mode test records its requests under, known before it
    // runs ("GET /path"; "ws /path" and "WS connect /path"; "tcp host:port");
    // empty for a test library (its names appear as it runs) or a bad URL.
    static std::vector<std::string> request_names(const TestSpec& test);

    // Runs the plan to its end (or until stop()). Blocks the calling thread.
    RunResult run(const RunSpec& spec, RunObserver& observer);

    // Asks a running run() to stop: no new hits start, hits in flight are
    // cancelled, and run() returns within about a second. Thread-safe and
    // async-signal-unsafe: call it from a normal thread.
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace loads
