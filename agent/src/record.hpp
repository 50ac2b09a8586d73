// How a timed operation enters a worker's statistics, in one place for every
// kind of traffic: an HTTP request (http_session.cpp), a zero-code WebSocket
// or TCP exchange (socket_hits.cpp), a WebSocket connect (ws_client.cpp) and
// what a test times itself (VirtualUser::record, record_group).
//
// The rules:
// - An operation is one more in its label row (LabelStats::count), an error
//   there unless it succeeded.
// - Its latency is recorded, clamped at 0, in the row's histogram and, unless
//   the row is a group or a connect row (Scope::label), in the run's too.
// - A failed operation is timed when its time means something: a timeout
//   enters the histograms at the time it was given up (timed_error), so the
//   percentiles show it; a refused connect or a reset is counted, not timed
//   (zero-code socket exchanges time every error at the time it ended).
// - One cut short by a stop (UserIo::stopping) is neither counted nor timed:
//   the caller returns before recording it.
// Nothing here allocates: URL mode records each request through it.
#pragma once

#include "loads/error_kind.hpp"
#include "loads/stats.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace loads {

enum class Outcome {
    ok,             // counted and timed
    error,          // an error, timed
    error_untimed,  // an error, not in the histograms
};

// Where the latency goes besides the row: the run's histogram as well
// (requests, exchanges, a test's own timings) or the row alone (groups,
// WebSocket connects).
enum class Scope { run, label };

// Whether a request that got no response is timed: a timeout is.
inline bool timed_error(ErrorKind kind) { return kind == ErrorKind::timeout; }
inline Outcome error_outcome(ErrorKind kind) { return timed_error(kind) ? Outcome::error : Outcome::error_untimed; }

inline void record_latency(Stats& stats, LabelStats& label, std::chrono::nanoseconds elapsed, Outcome outcome,
                           Scope scope = Scope::run) {
    ++label.count;
    if (outcome != Outcome::ok) ++label.errors;
    if (outcome == Outcome::error_untimed) return;
    const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(0, elapsed.count()));
    label.latency.record(ns);
    if (scope == Scope::run) stats.latency.record(ns);
}

}  // namespace loads
