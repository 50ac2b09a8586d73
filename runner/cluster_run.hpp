// Cluster mode: the run goes to a loads-broker, which runs it on agents and
// streams the merged results back (docs/protocol.md).
#pragma once

#include "options.hpp"
#include "report.hpp"

#include <stdexcept>

namespace loads::runner {

class Interrupts;

// A problem with what the user asked for (no broker, too few agents): exit 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Submits the run, follows it live, and returns the merged report.
Report run_cluster(const Options& options, Interrupts& interrupts);

// --ping-broker / --check-cluster: prints the broker's status. Exit code.
int cluster_status(const Options& options);

}  // namespace loads::runner
