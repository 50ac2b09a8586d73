// The run over time: one row per interval (--interval, 1 s by default), from
// the same deltas the progress bar sees, locally or from the broker's stream.
// Each row's percentiles come from that interval's own merged histogram.
#pragma once

#include "loads/stats.hpp"
#include "loads/units.hpp"

#include <cstdint>
#include <optional>
#include <vector>

namespace loads::runner {

struct SeriesRow {
    double start_s = 0, end_s = 0;  // since the run started
    std::uint32_t cycle = 0;        // the latest cycle seen in the interval
    std::uint64_t hits = 0, successes = 0, errors = 0, failures = 0, requests = 0;
    std::uint64_t scheduled = 0, dropped = 0, late = 0, interrupted = 0;
    std::uint32_t users = 0, users_busy = 0;  // the highest gauges seen in the interval
    Histogram latency;                // service time of the interval's requests
    Histogram latency_from_schedule;  // open model: the interval's hits
};

class SeriesBuilder {
public:
    explicit SeriesBuilder(Duration interval) : interval_(interval) {}
    // A delta counted since the previous one, up to `elapsed` since the run
    // started. Rows are consecutive: each starts where the previous ended.
    void add(Duration elapsed, std::uint32_t cycle, const Stats& delta, std::uint32_t users,
             std::uint32_t users_busy);
    // Closes the last row (if it has anything) and returns them all.
    std::vector<SeriesRow> finish(Duration elapsed);

private:
    void close(double end_s);
    Duration interval_;
    std::vector<SeriesRow> rows_;
    std::optional<SeriesRow> current_;
    double last_end_ = 0;
    bool dirty_ = false;
    // The latest non-zero users gauge of the current cycle: a cycle's final
    // delta is taken after its users have ended, so its own gauge reads 0
    // although users made its hits.
    std::uint32_t cycle_users_ = 0, cycle_busy_ = 0;
    std::optional<std::uint32_t> gauge_cycle_;
};

}  // namespace loads::runner
