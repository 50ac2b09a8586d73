// The dashboard's model of what is going on: runs (the current one and the
// last few), agents and the cluster, fed by the broker's PUB stream
// (docs/protocol.md, 4.5) or by loads-runner's local engine, and read by the
// web page (JSON) and by Prometheus (/metrics).
//
// Everything comes from merged interval deltas: a run's totals are the merge
// of its snapshots' deltas (replaced by the summary's when the run ends: the
// summary is authoritative, the PUB stream is lossy); the percentiles of a
// point in time come from the merged histogram of that second, never from
// averaging percentiles.
//
// Thread-safe: the subscription thread feeds it, the server's thread reads it.
#pragma once

#include "loads/proto/messages.hpp"
#include "loads/stats.hpp"

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace loads::dashboard {

class Board {
public:
    // Runs kept (the current one and the last ones): older runs are forgotten,
    // in the page and in /metrics.
    static constexpr std::size_t kMaxRuns = 10;
    // Points kept of a run's time series: a point a second for two hours;
    // beyond, every point covers twice the time (counts exact, percentiles
    // the highest of the seconds it covers), so a run of any length keeps
    // between kMaxPoints / 2 and kMaxPoints points.
    static constexpr std::size_t kMaxPoints = 7200;
    // Agents kept: beyond, the ones lost longest ago are forgotten.
    static constexpr std::size_t kMaxAgents = 10000;

    Board();
    ~Board();

    // --- feeding (any thread)
    void on_snapshot(const proto::Snapshot& s);
    void on_run_event(const proto::RunEvent& e);
    void on_cluster_event(const proto::ClusterEvent& e);
    // A STATUS reply from the broker's frontend (optional: --broker).
    void on_status(const proto::Status& s);
    // A message on the stream that could not be decoded (counted, shown).
    void on_bad_message(const std::string& what);
    // Where the figures come from, shown in the page ("broker tcp://…", "local run").
    void set_source(std::string source, bool cluster);

    // --- reading (any thread)
    // Everything: the page's first message, and /api/state.
    std::string full_json();
    // What changed since the previous call (runs touched, their new points,
    // the cluster), or nothing when nothing changed.
    std::optional<std::string> take_update();
    // Prometheus' text exposition format (version 0.0.4).
    std::string metrics_text();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// "0.001003519": exact decimal seconds of a whole number of nanoseconds.
std::string seconds_text(std::uint64_t ns);

}  // namespace loads::dashboard
