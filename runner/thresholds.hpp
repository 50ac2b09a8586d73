// Thresholds for CI (--threshold 'p95<200ms', 'errors<1%', 'rps>1000',
// 'GET /cart:p99<50ms'): parsed before anything runs, judged on the merged
// figures of the run (local or cluster alike), and, with --abort-on-fail,
// watched on the running totals so a run stops once one can no longer pass.
//
// Grammar:  [NAME:]METRIC OP LIMIT
//   NAME    a request name ("GET /cart"); the text up to the last ':'
//   METRIC  latency: p50 p90 p95 p99 p99.9 (any pN, 0 < N <= 100), max, min,
//           mean (k6's avg, med and p(95) are accepted too); service_p95 and
//           the like for the service-time histogram;
//           counts: hits requests errors failures dropped late interrupted skipped;
//           rps (hits per second over the run);
//           per name: the latency metrics, errors, count
//   OP      <  <=  >  >=  ==
//   LIMIT   latency: a number with a time unit (ns us ms s);
//           counts: a number, k/M suffixes allowed; errors and failures
//           also as a percentage of hits ("1%"), NAME:errors of NAME's count;
//           rps: a number, k/M suffixes and "/s" allowed.
//
// Custom metrics of the test (metric_counter() and the others) take
// NAME:STAT OP NUMBER, k6's aggregations, the number plain (k, M allowed):
//   counter: count (its total; "total" too), rate (total per second)
//   gauge:   value (the last set; "last" too), min, max
//   rate:    rate (the share of true, 0 to 1)
//   trend:   p50 p95 ... (any pN), mean (avg), med, min, max, count
// A latency metric with a plain number, and value, last, total or rate, make
// a custom-metric threshold; NAME:count reads the custom metric NAME if the
// run has one, else the request name.
//
// Which histogram a latency metric reads: without a name, the headline one
// (the open model's latency_from_schedule, the closed model's latency);
// service_* always reads `latency` (service time). With a name, the name's
// own histogram (service time; the only one a name has).
#pragma once

#include "loads/stats.hpp"
#include "loads/units.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loads::runner {

enum class ThresholdOp { lt, le, gt, ge, eq };
std::string_view to_string(ThresholdOp op);

// The unit of a threshold's limit and measured value.
enum class ThresholdUnit { ns, percent, per_second, count };
std::string_view to_string(ThresholdUnit u);

struct Threshold {
    std::string expression;           // as typed
    std::optional<std::string> name;  // a request name, or the whole run
    std::string metric;               // canonical: "p95", "service_p99.9", "mean", "errors", "rps", "count"
    ThresholdOp op = ThresholdOp::lt;
    double limit = 0;                 // in `unit`
    ThresholdUnit unit = ThresholdUnit::count;

    // Latency metrics: the quantile (0..1], or -1 for mean, -2 for min
    // (max is the quantile 1).
    double quantile = 0;
    bool service = false;             // service_*: the service-time histogram
    bool custom = false;              // reads the custom metric `name` (see above)
    bool latency() const { return unit == ThresholdUnit::ns; }
};

// Parses one --threshold. The error names the expression and what is wrong.
Parsed<Threshold> parse_threshold(std::string_view text);

struct ThresholdResult {
    const Threshold* threshold = nullptr;
    std::optional<double> measured;  // in the threshold's unit; nullopt: nothing to measure
    bool ok = false;
    std::string detail;              // "12 of 200 hits", "no request of that name", "no data"
};

// The figures a threshold is judged on.
struct ThresholdInput {
    const Stats* total = nullptr;
    Duration elapsed{0};   // the run's wall time (for rps)
    bool open_model = false;
};

// Judges each threshold on a finished run. A threshold with nothing to
// measure (a name that never appeared, a latency of no requests, a
// percentage of no hits) fails: a run cannot pass on nothing.
std::vector<ThresholdResult> evaluate(const std::vector<Threshold>& thresholds, const ThresholdInput& in);

// True when the threshold reads a figure that only ever moves one way during
// a run (a count; the max or min latency) and its operator can be broken
// for good before the end: --abort-on-fail watches those.
bool can_fail_early(const Threshold& t);

// During a run, on the running totals: the index of the first threshold that
// can no longer pass whatever happens next, and its measured value so far.
struct Doomed {
    std::size_t index = 0;
    double measured = 0;
};
std::optional<Doomed> doomed(const std::vector<Threshold>& thresholds, const Stats& running, bool open_model);

// The threshold that stopped a run under --abort-on-fail.
struct ThresholdAbort {
    std::size_t index = 0;   // into the run's thresholds
    double measured = 0;     // its value when it was found doomed
    Duration at{0};          // since the run started
};

// --abort-on-fail: keeps the running totals from the deltas a run produces
// (the engine's locally, the broker's snapshots on a cluster) and says when
// a threshold can no longer pass. Cheap when disabled or when no threshold
// can fail early: the deltas are then not even added up.
class AbortWatch {
public:
    AbortWatch(const std::vector<Threshold>& thresholds, bool enabled, bool open_model);
    // Adds one delta; true once, the first time a threshold is doomed.
    bool add(const Stats& delta, Duration elapsed);
    const std::optional<ThresholdAbort>& fired() const { return fired_; }
    // "errors<100 can no longer pass (errors = 100 after 0.8 s)"
    std::string describe() const;

private:
    const std::vector<Threshold>& thresholds_;
    bool active_ = false;
    bool open_model_ = false;
    Stats running_;
    std::optional<ThresholdAbort> fired_;
};

// "12.3 ms", "1.50%", "1234.5/s", "12": a value in a threshold's unit, for people.
std::string format_threshold_value(double v, ThresholdUnit u);

}  // namespace loads::runner
