// The end-of-run report: the Loads summary as text, the same figures as
// JSON, and the exit code. Pure functions of the result, so the local and
// the cluster mode print exactly the same thing.
#pragma once

#include "series.hpp"
#include "thresholds.hpp"

#include "loads/engine.hpp"

#include <ostream>
#include <string>
#include <vector>

namespace loads::runner {

struct Report {
    RunResult result;
    std::string test;                 // what ran, as typed
    RunSpec spec;                     // what was asked: the plan, clients, interval
    unsigned threads = 0;             // worker threads asked (0: one per core)
    unsigned agents = 0;              // 0: local mode
    std::vector<SeriesRow> series;    // one row per interval
    std::vector<std::string> events;  // "agent a1 lost at 14:02:03 (no heartbeat for 5 s)"
    bool incomplete = false;          // agents were lost: the figures miss their part
    std::vector<Threshold> thresholds;      // --threshold, judged on `result.total`
    std::optional<ThresholdAbort> aborted;  // --abort-on-fail stopped the run
    std::vector<std::string> agent_ids;  // cluster: the agents that ran it
    struct AgentHost {
        std::string id, host, version;  // host "" when the broker no longer knew the agent
        std::uint32_t pid = 0, threads = 0;
    };
    std::vector<AgentHost> agent_hosts;  // cluster: where each of agent_ids ran, in that order
    std::vector<TaskInfo> tasks;         // a library test's tasks (one for Class.method)
};

// Each threshold judged on the report's merged figures.
std::vector<ThresholdResult> threshold_results(const Report& report);

void print_summary(std::ostream& out, const Report& report);
std::string to_json(const Report& report);

// 3 when a threshold failed (whatever else happened: as k6, the thresholds
// are what CI asked about). Otherwise, without thresholds: 0 when every hit
// succeeded (and at least one ran, and nothing was lost: no agent lost, no
// run interrupted, no hit interrupted, no arrival dropped), 1 otherwise.
// With thresholds (all passed): they judge the hits' outcomes, so 0, unless
// the run cannot be judged: no hit at all, an agent lost or results missing,
// a stop by a signal: 1.
int exit_code(const Report& report);

}  // namespace loads::runner
