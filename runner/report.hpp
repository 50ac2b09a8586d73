// The end-of-run report: the Loads summary as text, the same figures as
// JSON, and the exit code. Pure functions of the result, so the local and
// the cluster mode print exactly the same thing.
#pragma once

#include "loads/engine.hpp"

#include <ostream>
#include <string>
#include <vector>

namespace loads::runner {

struct Report {
    RunResult result;
    std::string test;                 // what ran, as typed
    unsigned agents = 0;              // 0: local mode
    std::vector<std::string> events;  // "agent a1 lost at 14:02:03 (no heartbeat for 5 s)"
    bool incomplete = false;          // agents were lost: the figures miss their part
};

void print_summary(std::ostream& out, const Report& report);
std::string to_json(const Report& report);

// 0 when every hit succeeded (and at least one ran, and nothing was lost or
// interrupted), 1 otherwise.
int exit_code(const Report& report);

}  // namespace loads::runner
