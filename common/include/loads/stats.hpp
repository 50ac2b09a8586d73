// The figures of a run, as one worker thread, one agent or the whole cluster
// counts them. Everything here merges by addition (merge(a) then merge(b) is
// the stats of both), so the same type is the per-thread delta, the agent's
// interval batch, the broker's merged snapshot and the runner's total.
//
// Vocabulary (also in docs/protocol.md and the summary):
//   hit      one execution of the test by one virtual user (URL mode: one
//            request or exchange). Every hit ends as exactly one of success,
//            failure or error: hits == successes + failures + errors.
//   failure  a check in the test did not hold.
//   error    the hit could not complete: network, protocol, a 5xx nobody
//            checked, or an exception in the test; counted by kind.
//   request  one HTTP request/response; a hit may make any number of them.
//   scheduled  open model (--rate): arrivals due so far. Each becomes a hit,
//            a dropped arrival, or an interrupted hit:
//            scheduled == hits + dropped + interrupted once the run is over.
//   dropped  an arrival that never started: it waited for a free user longer
//            than the request timeout, or was still waiting when the run
//            stopped.
//   late     a hit that started more than 1 ms after its scheduled time
//            (open model; it is also a hit, and its latency counts from the
//            schedule).
//   interrupted  a hit in flight when a deadline or a stop cut it short
//            (not finished within --graceful-stop); not part of `hits`.
//   out of data  a user that asked user_row() of a data set with no row left
//            for it under --data-exhausted stop: it stopped there (its hit in
//            progress is not a hit; in the open model that arrival is dropped).
//   skipped  a hit a user did not make because its on_start failed: such a
//            user counts one hit (an error or failure "on_start: ...") and,
//            in a closed cycle with -c, skips the rest; not part of `hits`,
//            so hits + skipped is what the plan asked for.
#pragma once

#include "loads/error_kind.hpp"
#include "loads/histogram.hpp"
#include "loads/metric_kind.hpp"

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace loads {

// Statistics of one name ("GET /", "login", "chat.echo"): every HTTP request
// is recorded under a name (by default its method and path), and a test can
// time its own exchanges under a name of its choosing.
struct LabelStats {
    std::uint64_t count = 0;   // requests or exchanges completed (any outcome)
    std::uint64_t errors = 0;  // of which ended in a network/protocol error or 5xx
    Histogram latency;         // time of each completed one

    void merge(const LabelStats& o);
    friend bool operator==(const LabelStats&, const LabelStats&) = default;
};

// Statistics of one task of a weighted-task run ("Shop.browse"): the hits
// that ran it and how they ended.
struct TaskStats {
    std::uint64_t count = 0;     // hits that ran this task (any outcome)
    std::uint64_t failures = 0;  // of which failures
    std::uint64_t errors = 0;    // of which errors
    Histogram duration;          // each such hit's time, setUp to tearDown

    void merge(const TaskStats& o);
    friend bool operator==(const TaskStats&, const TaskStats&) = default;
};

// One custom metric of a test (TestCase::metric_counter and the others).
// Merges exactly: counts and sums add, extremes take the extreme, a gauge's
// last value is the latest set (by wall clock), trends merge histograms.
struct MetricStats {
    static constexpr double kTrendScale = 1000;  // trend values are kept to 1/1000

    MetricKind kind = MetricKind::counter;
    std::uint64_t count = 0;    // values added: add() or set() calls, outcomes, samples
    std::uint64_t nonzero = 0;  // rate: the true outcomes
    double sum = 0;             // counter: the total; trend: the sum of the values
    double min = 0, max = 0;    // gauge, trend: the extremes (when count > 0)
    double last = 0;            // gauge: the latest value set
    std::int64_t last_at_ns = 0;  // gauge: when it was set (system clock, ns since the epoch)
    std::optional<Histogram> values;  // trend: every value x kTrendScale

    MetricStats() = default;
    explicit MetricStats(MetricKind k);
    // One value (finite; >= 0 for counters and trends: the caller checks).
    void add(double v, std::int64_t now_ns);
    // Adds `o`, of the same kind.
    void merge(const MetricStats& o);
    double mean() const { return count ? sum / double(count) : 0.0; }
    // A trend's value at quantile q, in the test's unit.
    double quantile(double q) const;
    friend bool operator==(const MetricStats&, const MetricStats&) = default;
};

struct Stats {
    static constexpr std::size_t kStatusCodes = 600;  // codes 0..599; others go to 0
    static constexpr std::size_t kMaxLabels = 1000;   // beyond this, names fold into "(other)"

    // --- hits
    std::uint64_t hits = 0;       // hits finished (aborted hits at a stop are not counted)
    std::uint64_t successes = 0;  // hits with no failure and no error
    std::uint64_t failures = 0;   // hits where a check did not hold
    std::uint64_t errors = 0;     // hits that ended in an error
    std::array<std::uint64_t, kErrorKindCount> errors_by_kind{};  // sums to `errors`
    std::uint64_t interrupted = 0;  // hits cut short by a deadline or a stop (not in `hits`)

    // --- lifecycle
    std::uint64_t start_failures = 0;  // users whose test could not start (constructor or on_start threw)
    std::uint64_t skipped = 0;         // hits those users did not make (closed model, count mode)

    // --- open model (--rate); all zero in the closed model
    std::uint64_t scheduled = 0;  // arrivals due
    std::uint64_t dropped = 0;    // arrivals that never started
    std::uint64_t late = 0;       // hits started > kLateAfter after their schedule
    static constexpr std::chrono::nanoseconds kLateAfter{1'000'000};

    // --- test data
    std::uint64_t users_out_of_data = 0;  // users stopped by DataExhausted (--data-exhausted stop)

    // --- HTTP
    std::uint64_t requests = 0;        // HTTP responses received (any status)
    std::uint64_t request_errors = 0;  // HTTP requests that got no response
    std::uint64_t bytes_sent = 0;      // HTTP bytes written (headers + body)
    std::uint64_t bytes_received = 0;  // HTTP bytes read (headers + body)
    std::array<std::uint64_t, kStatusCodes> status_codes{};

    // --- WebSocket
    std::uint64_t ws_opened = 0;             // handshakes completed
    std::uint64_t ws_closed = 0;             // sockets closed, by either side
    std::uint64_t ws_messages_sent = 0;
    std::uint64_t ws_messages_received = 0;
    std::uint64_t ws_bytes_sent = 0;         // payload bytes
    std::uint64_t ws_bytes_received = 0;     // payload bytes

    // --- raw TCP
    std::uint64_t tcp_opened = 0;
    std::uint64_t tcp_closed = 0;
    std::uint64_t tcp_bytes_sent = 0;
    std::uint64_t tcp_bytes_received = 0;

    // Why hits failed or errored: the first kMaxMessages distinct messages
    // ("failure: home page greets", "connect: connect: Connection refused"),
    // each with how often it was seen; later new ones count under "(other)".
    // A message longer than kMaxMessageText bytes is cut there (at a UTF-8
    // boundary) and ends in "...": 51 of them stay far below the 256 KiB of
    // message text a broker takes in one batch (docs/protocol.md 4.7).
    static constexpr std::size_t kMaxMessages = 50;
    static constexpr std::size_t kMaxMessageText = 1000;
    std::map<std::string, std::uint64_t, std::less<>> messages;
    void note(std::string_view message);

    // Latency of every request and every named exchange, in ns: the service
    // time, from the first byte sent to the last byte received (a timed-out
    // request enters at the time it was given up).
    Histogram latency;
    // Open model: every finished hit, from its scheduled start to its end, in
    // ns (waiting for a free user included). Empty in the closed model.
    Histogram latency_from_schedule;
    // Per-name rows. Node addresses are stable: hot paths keep pointers.
    std::map<std::string, LabelStats, std::less<>> labels;

    // Finds or creates the row for `name`, folding into "(other)" past
    // kMaxLabels; a name is cut to kMaxLabelName bytes like a message (1001
    // rows of it stay below the 1 MiB of names a broker takes in one batch).
    static constexpr std::size_t kMaxLabelName = 1000;
    LabelStats& label(std::string_view name);

    // Per-task rows of a weighted-task run (empty for a run of one test).
    static constexpr std::size_t kMaxTasks = 100;  // beyond this, "(other)"
    std::map<std::string, TaskStats, std::less<>> tasks;
    TaskStats& task(std::string_view name);

    // Custom metrics of the test, by name.
    static constexpr std::size_t kMaxMetrics = 100;      // beyond this, "(other KINDs)"
    static constexpr std::size_t kMaxMetricName = 100;   // bytes
    std::map<std::string, MetricStats, std::less<>> metrics;
    // Finds or creates the metric `name` of `kind` (folding into "(other
    // counters)" and the like past kMaxMetrics); nullptr when the name is
    // taken by another kind.
    MetricStats* metric(std::string_view name, MetricKind kind);

    void count_status(unsigned code) { ++status_codes[code < kStatusCodes ? code : 0]; }
    void count_error(ErrorKind k) {
        ++errors;
        ++errors_by_kind[static_cast<std::size_t>(k)];
    }

    void merge(const Stats& o);
    // Zeroes every figure; keeps label rows (and so the pointers into them).
    void reset();
    friend bool operator==(const Stats&, const Stats&) = default;
};

}  // namespace loads
