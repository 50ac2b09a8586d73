#include "run.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>

namespace loads::broker {

std::string_view to_string(RunState s) {
    switch (s) {
        case RunState::waiting: return "waiting";
        case RunState::preparing: return "preparing";
        case RunState::running: return "running";
        case RunState::done: return "done";
    }
    return "unknown";
}

namespace {
std::string clock_time() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[16];
    std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
    return buf;
}
std::string over(const char* what, std::uint64_t n) {
    return std::string(what) + " " + std::to_string(n) + " is above the bound of a batch (2^40)";
}

std::string check_histogram(const char* what, const std::string& where, const Histogram& h) {
    if (h.count() > kMaxBatchCount)
        return where + std::string(what) + " holds " + std::to_string(h.count()) +
               " values, above the bound of a batch (2^40)";
    return {};
}

}  // namespace

std::string check_stats(const Stats& s) {
    const std::pair<const char*, std::uint64_t> counters[] = {
        {"hits", s.hits},
        {"successes", s.successes},
        {"failures", s.failures},
        {"errors", s.errors},
        {"interrupted", s.interrupted},
        {"start_failures", s.start_failures},
        {"skipped", s.skipped},
        {"scheduled", s.scheduled},
        {"dropped", s.dropped},
        {"late", s.late},
        {"users_out_of_data", s.users_out_of_data},
        {"requests", s.requests},
        {"request_errors", s.request_errors},
        {"bytes_sent", s.bytes_sent},
        {"bytes_received", s.bytes_received},
        {"ws_opened", s.ws_opened},
        {"ws_closed", s.ws_closed},
        {"ws_messages_sent", s.ws_messages_sent},
        {"ws_messages_received", s.ws_messages_received},
        {"ws_bytes_sent", s.ws_bytes_sent},
        {"ws_bytes_received", s.ws_bytes_received},
        {"tcp_opened", s.tcp_opened},
        {"tcp_closed", s.tcp_closed},
        {"tcp_bytes_sent", s.tcp_bytes_sent},
        {"tcp_bytes_received", s.tcp_bytes_received},
    };
    for (const auto& [name, n] : counters)
        if (n > kMaxBatchCount) return over(name, n);
    // Each is <= 2^40 here, so the sums cannot wrap.
    if (s.hits != s.successes + s.failures + s.errors)
        return "hits " + std::to_string(s.hits) + " != successes + failures + errors (" +
               std::to_string(s.successes) + " + " + std::to_string(s.failures) + " + " + std::to_string(s.errors) +
               ")";
    std::uint64_t by_kind = 0;
    for (auto n : s.errors_by_kind) {
        if (n > kMaxBatchCount) return over("errors_by_kind", n);
        by_kind += n;
    }
    if (by_kind != s.errors)
        return "errors " + std::to_string(s.errors) + " != the sum of errors_by_kind (" + std::to_string(by_kind) + ")";
    for (auto n : s.status_codes)
        if (n > kMaxBatchCount) return over("a status code count", n);
    if (s.messages.size() > Stats::kMaxMessages + 1)
        return std::to_string(s.messages.size()) + " messages, above " + std::to_string(Stats::kMaxMessages) + " + (other)";
    std::size_t bytes = 0;
    for (const auto& [text, n] : s.messages) {
        if (n > kMaxBatchCount) return over("a message count", n);
        bytes += text.size();
    }
    if (bytes > kMaxMessageBytes)
        return "message texts of " + std::to_string(bytes) + " bytes, above " + std::to_string(kMaxMessageBytes);
    if (auto e = check_histogram("latency", "", s.latency); !e.empty()) return e;
    if (auto e = check_histogram("latency_from_schedule", "", s.latency_from_schedule); !e.empty()) return e;
    if (s.labels.size() > Stats::kMaxLabels + 1)
        return std::to_string(s.labels.size()) + " labels, above " + std::to_string(Stats::kMaxLabels) + " + (other)";
    bytes = 0;
    for (const auto& [name, row] : s.labels) {
        bytes += name.size();
        if (row.count > kMaxBatchCount) return over("a label's count", row.count);
        if (row.errors > row.count) return "label errors " + std::to_string(row.errors) + " > its count " + std::to_string(row.count);
        if (auto e = check_histogram("latency", "a label's ", row.latency); !e.empty()) return e;
    }
    if (bytes > kMaxLabelBytes)
        return "label names of " + std::to_string(bytes) + " bytes, above " + std::to_string(kMaxLabelBytes);
    for (const auto& [name, row] : s.tasks) {
        if (row.count > kMaxBatchCount) return over("a task's count", row.count);
        if (row.failures + row.errors > row.count) return "a task's failures + errors > its count";
        if (auto e = check_histogram("duration", "a task's ", row.duration); !e.empty()) return e;
    }
    for (const auto& [name, m] : s.metrics) {
        if (m.count > kMaxBatchCount) return over("a metric's count", m.count);
        if (m.values)
            if (auto e = check_histogram("values", "a metric's ", *m.values); !e.empty()) return e;
    }
    return {};
}

std::string check_result(const proto::Result& r, std::size_t plan_cycles) {
    if (r.seq == 0) return "seq 0 (batches count from 1)";
    if (r.cycle >= plan_cycles)
        return "cycle " + std::to_string(r.cycle) + " but the plan has " + std::to_string(plan_cycles) + " cycle" +
               (plan_cycles == 1 ? "" : "s");
    return check_stats(r.stats);
}

Run::Run(std::string id, proto::Submit submit, std::string runner)
    : id_(std::move(id)), submit_(std::move(submit)) {
    if (!runner.empty()) runners_.insert(std::move(runner));
}

std::unique_ptr<Run> Run::recreate(const proto::RunState& held, Clock::time_point now) {
    proto::Submit s;
    s.spec = held.spec;
    s.spec.agent_index = 0;
    s.spec.agent_count = 1;
    s.test = held.test;  // already as STATUS shows it
    s.show_url = true;
    s.agents = held.spec.agent_count;
    auto run = std::make_unique<Run>(held.run, std::move(s), "");
    run->recreated_ = true;
    run->recreated_at_ = now;
    run->expected_ = held.spec.agent_count;
    run->owner_ = held.owner;
    run->mark_running(held.started_ms);
    run->event("the broker restarted at " + clock_time() + " and learned this run again from its agents");
    return run;
}

bool Run::add_returning(const std::string& agent) {
    if (!recreated_ || parts_.count(agent) || agents_.size() >= expected_) return false;
    agents_.push_back(agent);
    AgentPart& p = parts_[agent];
    p.ready = true;
    return true;
}

bool Run::give_up_missing(Clock::time_point now, std::chrono::milliseconds window) {
    if (!recreated_ || agents_.size() >= expected_ || now - recreated_at_ <= window) return false;
    never_back_ = expected_ - agents_.size();
    expected_ = agents_.size();
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", static_cast<double>(window.count()) / 1000.0);
    event(std::to_string(never_back_) + " of " + std::to_string(expected_ + never_back_) +
          " agents did not come back within " + secs + " s of the broker's restart: their figures are missing");
    return true;
}

std::uint64_t Run::acked(const std::string& agent) const {
    auto it = parts_.find(agent);
    if (it == parts_.end()) return 0;
    const AgentPart& p = it->second;
    return p.missing.empty() ? p.last_seq : p.missing.begin()->first - 1;
}

bool Run::part_finished(const std::string& agent) const {
    auto it = parts_.find(agent);
    return it != parts_.end() && it->second.finished;
}

std::string Run::rejoin(const std::string& agent, Clock::time_point now) {
    auto it = parts_.find(agent);
    if (it == parts_.end() || !it->second.lost) return {};
    AgentPart& p = it->second;
    p.lost = false;
    p.rejoined = true;
    const auto away =
        p.silent_at_loss + std::chrono::duration_cast<std::chrono::milliseconds>(now - p.lost_at);
    p.away += away;
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", static_cast<double>(away.count()) / 1000.0);
    std::string msg = "agent " + agent + " rejoined at " + clock_time() + " after " + secs +
                      " s away; it resends the batches after " + std::to_string(acked(agent));
    event(msg);
    return msg;
}

std::vector<std::pair<std::string, proto::Prepare>> Run::assign(const std::vector<std::string>& agents) {
    agents_ = agents;
    expected_ = agents_.size();
    state_ = RunState::preparing;
    prepared_at_ = Clock::now();
    // Agent k of n runs the plan as agent_index k of agent_count n: its user
    // ids are k, k+n, k+2n... (unique over the run), and in the open model it
    // takes every n-th arrival of the run's schedule, offset by k, and its
    // share of max_users (arrivals.hpp).
    std::vector<std::pair<std::string, proto::Prepare>> out;
    std::uint32_t k = 0;
    const auto n = static_cast<std::uint32_t>(agents_.size());
    for (const auto& a : agents_) {
        parts_[a] = AgentPart{};
        proto::Prepare p;
        p.run = id_;
        p.spec = submit_.spec;
        p.spec.agent_index = k++;
        p.spec.agent_count = n;
        p.library = submit_.library;
        p.data = submit_.data;
        p.test = submit_.test;
        p.owner = owner_;
        out.emplace_back(a, std::move(p));
    }
    return out;
}

bool Run::involves(const std::string& agent) const { return parts_.count(agent) != 0; }

bool Run::ready(const std::string& agent) {
    auto it = parts_.find(agent);
    if (it == parts_.end() || state_ != RunState::preparing) return false;
    it->second.ready = true;
    // A run that failed while preparing (a rejection, a lost agent) never starts.
    if (!error_.empty()) return false;
    for (const auto& [id, p] : parts_)
        if (!p.ready && !p.lost && !p.rejected) return false;
    return true;
}

void Run::rejected(const std::string& agent, const std::string& error) {
    auto it = parts_.find(agent);
    if (it == parts_.end()) return;
    it->second.rejected = true;
    it->second.finished = true;
    fail("agent " + agent + " rejected the run: " + error);
}

void Run::fail(std::string error) {
    if (error_.empty()) error_ = std::move(error);
}

void Run::mark_running(std::int64_t now_ms) {
    state_ = RunState::running;
    started_ms_ = now_ms;
    last_snapshot_ = Clock::now();
    next_snapshot_ = last_snapshot_ + submit_.spec.interval;
}

void Run::event(std::string text) {
    if (events_.size() < kMaxRunEvents) events_.push_back(std::move(text));
    else ++events_dropped_;
}

bool Run::any_missing() const {
    for (const auto& [id, p] : parts_)
        if (!p.missing.empty()) return true;
    return false;
}

bool Run::part_over(const std::string& agent) const {
    auto it = parts_.find(agent);
    return it == parts_.end() || it->second.finished || it->second.lost;
}

ResultOutcome Run::result(const std::string& agent, const proto::Result& r) {
    auto it = parts_.find(agent);
    if (it == parts_.end()) return {ResultOutcome::refused, "not in run " + id_};
    AgentPart& p = it->second;
    if (state_ != RunState::running) return {ResultOutcome::refused, "RESULT for run " + id_ + " before START"};
    if (p.finished || p.lost) return {ResultOutcome::refused, "RESULT after the agent's part of run " + id_ + " ended"};
    if (auto why = check_result(r, submit_.spec.plan.cycles.size()); !why.empty()) {
        // Not merged. Its seq is spent, so it shows as missing: the run is
        // incomplete by what that batch claimed.
        if (r.seq > p.last_seq) {
            if (r.seq > p.last_seq + 1) p.missing[p.last_seq + 1] = r.seq - 1;
            p.last_seq = r.seq;
        }
        incomplete_ = true;
        event("agent " + agent + ": batch " + std::to_string(r.seq) + " refused: " + why);
        return {ResultOutcome::refused, why};
    }
    // No run total may wrap: refuse the batch that would take one past 2^62.
    auto would_pass = [](std::uint64_t total, std::uint64_t add) { return total + add > kMaxRunCount; };
    if (would_pass(total_.hits, r.stats.hits) || would_pass(total_.requests, r.stats.requests) ||
        would_pass(total_.bytes_received, r.stats.bytes_received) || would_pass(total_.bytes_sent, r.stats.bytes_sent) ||
        would_pass(total_.latency.count(), r.stats.latency.count()) ||
        would_pass(total_.latency_from_schedule.count(), r.stats.latency_from_schedule.count())) {
        incomplete_ = true;
        std::string why = "it would take the run's totals past 2^62";
        event("agent " + agent + ": batch " + std::to_string(r.seq) + " refused: " + why);
        return {ResultOutcome::refused, why};
    }
    ResultOutcome out;
    // A range (first_seq..seq: a cycle's batches merged, resent to a broker
    // that restarted) is taken whole or not at all.
    const std::uint64_t from = r.first_seq ? r.first_seq : r.seq;
    if (from < r.seq) {
        bool any_missing_in = false;
        for (const auto& [a, b] : p.missing) any_missing_in = any_missing_in || (a <= r.seq && b >= from);
        const std::string batches = "batches " + std::to_string(from) + ".." + std::to_string(r.seq);
        if (r.seq <= p.last_seq && !any_missing_in)
            return {ResultOutcome::duplicate, "agent " + agent + " sent " + batches + " again (already merged); dropped"};
        if (from <= p.last_seq) {
            incomplete_ = true;
            std::string why = batches + " overlap batches already merged";
            event("agent " + agent + ": " + why + "; refused");
            return {ResultOutcome::refused, why};
        }
    }
    if (r.seq <= p.last_seq) {
        // Late (a seq reported missing) or a duplicate.
        auto m = p.missing.upper_bound(r.seq);
        if (m == p.missing.begin() || std::prev(m)->second < r.seq)
            return {ResultOutcome::duplicate, "agent " + agent + " sent batch " + std::to_string(r.seq) +
                                                  " again (already merged); dropped"};
        --m;
        const auto [first, last] = *m;
        p.missing.erase(m);
        if (first < r.seq) p.missing[first] = r.seq - 1;
        if (r.seq < last) p.missing[r.seq + 1] = last;
        out.kind = ResultOutcome::late;
        out.message = "agent " + agent + ": batch " + std::to_string(r.seq) + " arrived late; merged";
        event(out.message);
    } else {
        if (from != p.last_seq + 1) {
            out.message = "agent " + agent + ": batches " + std::to_string(p.last_seq + 1) + ".." +
                          std::to_string(from - 1) + " missing";
            p.missing[p.last_seq + 1] = from - 1;
            while (p.missing.size() > kMaxMissingRanges) {
                p.missing.erase(p.missing.begin());  // forgotten, so missing for good
                incomplete_ = true;
            }
            event(out.message);
        }
        p.last_seq = r.seq;
        // The latest figures are those of the highest seq.
        p.hits_done = r.hits_done;
        p.users = r.users;
        p.users_busy = r.users_busy;
    }
    p.errors += r.stats.errors;
    p.failures += r.stats.failures;
    total_.merge(r.stats);
    delta_.merge(r.stats);
    fresh_ = true;
    cycles_[r.cycle].merge(r.stats);
    current_cycle_ = std::max(current_cycle_, r.cycle);
    return out;
}

std::string Run::finished(const std::string& agent, const proto::Finished& f) {
    auto it = parts_.find(agent);
    if (it == parts_.end()) return "not in run " + id_;
    AgentPart& p = it->second;
    if (p.finished || p.lost) return "FINISHED twice for run " + id_;
    // Before START only a STOP (the run stopped or failed) ends a part.
    if (state_ == RunState::preparing && error_.empty() && !stopped_)
        return "FINISHED for run " + id_ + " before START (and no STOP was sent)";
    if (f.last_seq != p.last_seq) {
        incomplete_ = true;
        event("agent " + agent + " finished after batch " + std::to_string(f.last_seq) + " but batch " +
              std::to_string(p.last_seq) + " was the last received");
    }
    p.finished = true;
    p.end = f;
    if (f.stopped) stopped_ = true;
    return {};
}

std::string Run::lost(const std::string& agent, std::chrono::milliseconds silent, const std::string& why) {
    auto it = parts_.find(agent);
    if (it == parts_.end() || it->second.finished || it->second.lost) return {};
    it->second.lost = true;
    it->second.lost_at = Clock::now();
    it->second.silent_at_loss = silent;
    // Incomplete while it stays lost (summary()): it may come back.
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", static_cast<double>(silent.count()) / 1000.0);
    std::string msg = "agent " + agent + " lost at " + clock_time() + " (" +
                      (why.empty() ? "silent for " + std::string(secs) + " s" : why) + "); its " +
                      std::to_string(it->second.last_seq) + " batches so far are kept";
    event(msg);
    if (state_ == RunState::preparing) fail("agent " + agent + " was lost while preparing the run");
    return msg;
}

bool Run::awaits_rejoin(Clock::time_point now, std::chrono::milliseconds window) const {
    if (state_ != RunState::running || !error_.empty()) return false;
    for (const auto& [id, p] : parts_)
        if (p.lost && now - p.lost_at <= window) return true;
    return false;
}

bool Run::all_done() const {
    if (agents_.size() < expected_) return false;  // a re-created run waits for its agents
    for (const auto& [id, p] : parts_)
        if (!p.finished && !p.lost) return false;
    return true;
}

std::uint32_t Run::agents_running() const {
    std::uint32_t n = 0;
    for (const auto& [id, p] : parts_) n += !p.finished && !p.lost;
    return n;
}

proto::Snapshot Run::take_snapshot(std::chrono::nanoseconds since_start) {
    proto::Snapshot s;
    s.run = id_;
    s.seq = ++snapshot_seq_;
    s.cycle = current_cycle_;
    s.elapsed = since_start;
    for (const auto& [id, p] : parts_) s.hits_done += p.hits_done;
    if (auto h = submit_.spec.plan.total_hits()) s.hits_total = *h * std::max(agents_.size(), expected_);
    s.duration_total = submit_.spec.plan.total_duration();
    s.agents_running = agents_running();
    for (const auto& [id, p] : parts_) {
        if (p.finished || p.lost) continue;
        s.users += p.users;
        s.users_busy += p.users_busy;
    }
    // Per agent, in assignment order (parts_ holds the same ids).
    s.agents.reserve(agents_.size());
    for (const auto& a : agents_) {
        auto it = parts_.find(a);
        if (it == parts_.end()) continue;
        const AgentPart& p = it->second;
        proto::SnapshotAgent e;
        e.id = a;
        e.hits_done = p.hits_done;
        e.errors = p.errors;
        e.failures = p.failures;
        e.users = p.users;
        e.users_busy = p.users_busy;
        e.state = p.lost ? "lost" : p.finished ? "finished" : "running";
        s.agents.push_back(std::move(e));
    }
    s.delta = std::move(delta_);
    delta_ = Stats{};
    fresh_ = false;
    last_snapshot_ = Clock::now();
    next_snapshot_ = last_snapshot_ + submit_.spec.interval;
    return s;
}

proto::RunSummary Run::summary() const {
    proto::RunSummary s;
    s.run = id_;
    s.test = submit_.test;
    s.started_ms = started_ms_;
    s.stopped = stopped_;
    s.incomplete = incomplete_ || any_missing() || never_back_ > 0;
    s.error = error_;
    s.agents = agents_;
    s.events = events_;
    if (events_dropped_) s.events.push_back(std::to_string(events_dropped_) + " more events not kept");
    for (const auto& a : agents_) {
        auto it = parts_.find(a);
        if (it == parts_.end()) continue;
        const AgentPart& p = it->second;
        s.incomplete = s.incomplete || p.lost;
        if (!p.rejoined || p.lost) continue;
        char secs[32];
        std::snprintf(secs, sizeof secs, "%.1f", static_cast<double>(p.away.count()) / 1000.0);
        std::string line = "agent " + a + " was lost for " + secs + " s and rejoined; ";
        if (p.missing.empty()) line += "nothing missing";
        else {
            std::uint64_t n = 0;
            for (const auto& [first, last] : p.missing) n += last - first + 1;
            line += std::to_string(n) + " of its batches missing";
        }
        s.events.push_back(std::move(line));
    }
    s.total = total_;
    Duration longest{0};
    std::int64_t first_start = 0;
    // Per cycle: users and elapsed from the agents' FINISHED, figures from the merged batches.
    std::map<std::uint32_t, proto::CycleInfo> cycles;
    for (const auto& [index, stats] : cycles_) {
        auto& c = cycles[index];
        c.index = index;
        c.stats = stats;
    }
    for (const auto& [id, p] : parts_) {
        if (!p.finished) continue;
        longest = std::max(longest, p.end.elapsed);
        if (p.end.started_ms && (!first_start || p.end.started_ms < first_start)) first_start = p.end.started_ms;
        for (const auto& ec : p.end.cycles) {
            auto& c = cycles[ec.index];
            c.index = ec.index;
            c.users += ec.users;
            c.elapsed = std::max(c.elapsed, ec.elapsed);
        }
    }
    // A lost agent's users still count in the cycles it sent figures for.
    for (const auto& [id, p] : parts_) {
        if (!p.lost) continue;
        for (auto& [index, c] : cycles)
            if (index < submit_.spec.plan.cycles.size() && index <= current_cycle_)
                c.users += submit_.spec.plan.cycles[index].users;
    }
    for (auto& [index, c] : cycles) s.cycles.push_back(std::move(c));
    if (first_start) s.started_ms = first_start;
    s.elapsed = longest;
    return s;
}

}  // namespace loads::broker
