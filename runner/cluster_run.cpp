#include "cluster_run.hpp"

#include <iostream>

namespace loads::runner {

Report run_cluster(const Options&, Interrupts&) {
    throw UsageError("--agents: cluster mode is not implemented in this build yet");
}

int cluster_status(const Options&) {
    std::cerr << "loads-runner: --ping-broker/--check-cluster are not implemented in this build yet\n";
    return 2;
}

}  // namespace loads::runner
