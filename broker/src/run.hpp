// One run as the broker sees it: which agents run it, what they have sent,
// and the merged figures. Pure bookkeeping, no sockets: the broker feeds it
// messages and sends what it says.
#pragma once

#include "loads/proto/messages.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace loads::broker {

using Clock = std::chrono::steady_clock;

enum class RunState { waiting, preparing, running, done };
std::string_view to_string(RunState s);

// Bounds on what one RESULT may claim (docs/protocol.md, "Checking RESULT").
// Far above what an agent counts in one interval, far below what could
// overflow a run's 64-bit totals: 2^24 batches at the bound still fit.
inline constexpr std::uint64_t kMaxBatchCount = std::uint64_t(1) << 40;
// A run's totals stop accepting batches past this (no counter can wrap).
inline constexpr std::uint64_t kMaxRunCount = std::uint64_t(1) << 62;
// Bytes of label names and of message texts in one batch.
inline constexpr std::size_t kMaxLabelBytes = std::size_t(1) << 20;
inline constexpr std::size_t kMaxMessageBytes = std::size_t(256) << 10;
// What an agent's Stats keep fits them whatever the test does.
static_assert((Stats::kMaxLabels + 1) * Stats::kMaxLabelName <= kMaxLabelBytes);
static_assert((Stats::kMaxMessages + 1) * Stats::kMaxMessageText <= kMaxMessageBytes);
// Missing seq ranges remembered per agent (older ones are forgotten: their
// batches, should they come, are dropped as duplicates).
inline constexpr std::size_t kMaxMissingRanges = 256;
// Events kept for a run's summary; later ones are counted.
inline constexpr std::size_t kMaxRunEvents = 200;

// "" when `s` is consistent and within bounds, else why not: every count at
// most kMaxBatchCount, hits = successes + failures + errors, errors = the sum
// of errors_by_kind, a label's errors <= its count, label names and messages
// within their byte caps, every histogram within kMaxBatchCount.
std::string check_stats(const Stats& s);
// check_stats plus the RESULT's own fields: seq >= 1, cycle < plan_cycles.
std::string check_result(const proto::Result& r, std::size_t plan_cycles);

// What the broker did with a RESULT.
struct ResultOutcome {
    enum Kind { merged, late, duplicate, refused } kind = merged;
    std::string message;  // a gap (merged), the late batch, the duplicate, or why it was refused
};

class Run {
public:
    Run(std::string id, proto::Submit submit, std::string runner);
    // A run a restarted broker learns from an agent that holds it
    // (docs/protocol.md 5.4): running, with no agent yet (add_returning adds
    // them), expecting the spec's agent_count agents.
    static std::unique_ptr<Run> recreate(const proto::RunState& held, Clock::time_point now);

    const std::string& id() const { return id_; }
    RunState state() const { return state_; }
    const proto::Submit& submit() const { return submit_; }
    const std::vector<std::string>& agents() const { return agents_; }
    const std::set<std::string>& runners() const { return runners_; }
    void attach(const std::string& runner) { runners_.insert(runner); }
    Clock::time_point submitted_at() const { return submitted_at_; }
    Clock::time_point prepared_at() const { return prepared_at_; }
    std::int64_t started_ms() const { return started_ms_; }
    bool recreated() const { return recreated_; }
    // CURVE: the key name of the runner that submitted it (PREPARE carries it).
    const std::string& owner() const { return owner_; }
    void set_owner(std::string key) { owner_ = std::move(key); }

    // Assigns agents and returns the PREPARE each one gets (user ids distinct).
    std::vector<std::pair<std::string, proto::Prepare>> assign(const std::vector<std::string>& agents);

    // Agent messages. Each returns events to announce (text), if any.
    bool ready(const std::string& agent);           // true when every agent is ready: send START
    void rejected(const std::string& agent, const std::string& error);
    // A RESULT: checked (check_result, the run's totals, the seq), then merged
    // into the totals, the cycle and the next snapshot, or refused/dropped.
    ResultOutcome result(const std::string& agent, const proto::Result& r);
    // "" when taken; else why it is refused (FINISHED before START, twice).
    std::string finished(const std::string& agent, const proto::Finished& f);
    // The agent's part is over (finished, rejected or lost), or it has none.
    bool part_over(const std::string& agent) const;
    // The agent went silent (or `why`, e.g. its connection closed): its figures so far are kept.
    std::string lost(const std::string& agent, std::chrono::milliseconds silent, const std::string& why = "");
    // The agent registered again holding this run: a lost one is back in it
    // (the text of the event, "" when it was not lost).
    std::string rejoin(const std::string& agent, Clock::time_point now);
    // A re-created run takes an agent that comes back with it, while fewer
    // than agent_count came back; false when it cannot.
    bool add_returning(const std::string& agent);
    // A re-created run stops waiting for agents that did not come back
    // within `window` after it was re-created: true when it gave up on some
    // (the run is incomplete by them).
    bool give_up_missing(Clock::time_point now, std::chrono::milliseconds window);
    // The highest seq of the agent's batches below which none is missing:
    // what ACK and WELCOME tell it.
    std::uint64_t acked(const std::string& agent) const;
    // The agent's FINISHED was taken.
    bool part_finished(const std::string& agent) const;
    void mark_running(std::int64_t now_ms);
    // An agent fetched part of the library: the prepare timeout counts from now.
    void progress() {
        if (state_ == RunState::preparing) prepared_at_ = Clock::now();
    }
    void fail(std::string error);
    bool has_error() const { return !error_.empty(); }

    bool involves(const std::string& agent) const;
    // Every agent has finished, been rejected, or been lost.
    bool all_done() const;
    // A running run keeps a lost agent's place for `window` after it was
    // lost, so it may rejoin (docs/protocol.md 5.4): true while one may.
    bool awaits_rejoin(Clock::time_point now, std::chrono::milliseconds window) const;
    std::uint32_t agents_running() const;

    // The snapshot of everything merged since the previous one (resets the delta).
    proto::Snapshot take_snapshot(std::chrono::nanoseconds since_start);
    // When the next snapshot is due: `gap` after the previous one once a batch
    // has been merged since, and one run interval after it in any case.
    Clock::time_point snapshot_due_at(std::chrono::milliseconds gap) const {
        return fresh_ ? std::min(last_snapshot_ + gap, next_snapshot_) : next_snapshot_;
    }
    bool snapshot_due(Clock::time_point now, std::chrono::milliseconds gap) const {
        return state_ == RunState::running && now >= snapshot_due_at(gap);
    }

    proto::RunSummary summary() const;
    void mark_done() { state_ = RunState::done; }

private:
    struct AgentPart {
        std::uint64_t last_seq = 0;  // the highest seq received
        // Seqs skipped so far, as [first, last] ranges: one of them arriving
        // late is merged; any other seq <= last_seq is a duplicate.
        std::map<std::uint64_t, std::uint64_t> missing;
        std::uint64_t hits_done = 0;
        std::uint64_t errors = 0, failures = 0;    // from its RESULT stats, whole run
        std::uint32_t users = 0, users_busy = 0;  // latest gauges
        bool ready = false, finished = false, lost = false, rejected = false;
        proto::Finished end;
        // Lost and back: when it was lost, how long it had been silent then,
        // and how long it was away in all (every time it came back).
        Clock::time_point lost_at{};
        std::chrono::milliseconds silent_at_loss{0};
        std::chrono::milliseconds away{0};
        bool rejoined = false;
    };

    std::string id_;
    proto::Submit submit_;
    std::set<std::string> runners_;
    RunState state_ = RunState::waiting;
    Clock::time_point submitted_at_ = Clock::now();
    Clock::time_point prepared_at_{};
    Clock::time_point next_snapshot_{};
    Clock::time_point last_snapshot_{};
    bool fresh_ = false;  // a RESULT was merged since the last snapshot
    std::int64_t started_ms_ = 0;
    std::vector<std::string> agents_;
    std::size_t expected_ = 0;  // agents the run has, or a re-created run waits for
    std::size_t never_back_ = 0;  // a re-created run's agents that did not come back
    bool recreated_ = false;
    Clock::time_point recreated_at_{};
    std::string owner_;
    std::map<std::string, AgentPart> parts_;
    std::map<std::uint32_t, Stats> cycles_;
    Stats total_, delta_;
    std::uint32_t current_cycle_ = 0;
    std::uint64_t snapshot_seq_ = 0;
    bool incomplete_ = false;
    bool stopped_ = false;
    std::string error_;
    std::vector<std::string> events_;
    std::uint64_t events_dropped_ = 0;
    void event(std::string text);
    bool any_missing() const;

public:
    void stopping() { stopped_ = true; }
};

}  // namespace loads::broker
