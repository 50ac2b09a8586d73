// Local mode: the engine in this process.
#pragma once

#include "options.hpp"
#include "report.hpp"

namespace loads::runner {

class Interrupts;

// Runs the plan; Ctrl-C stops it and the report covers what ran.
Report run_local(const Options& options, Interrupts& interrupts);

}  // namespace loads::runner
