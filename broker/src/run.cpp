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
}  // namespace

Run::Run(std::string id, proto::Submit submit, std::string runner)
    : id_(std::move(id)), submit_(std::move(submit)) {
    if (!runner.empty()) runners_.insert(std::move(runner));
}

std::vector<std::pair<std::string, proto::Prepare>> Run::assign(const std::vector<std::string>& agents) {
    agents_ = agents;
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
        out.emplace_back(a, std::move(p));
    }
    return out;
}

bool Run::involves(const std::string& agent) const { return parts_.count(agent) != 0; }

bool Run::ready(const std::string& agent) {
    auto it = parts_.find(agent);
    if (it == parts_.end() || state_ != RunState::preparing) return false;
    it->second.ready = true;
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

std::string Run::result(const std::string& agent, const proto::Result& r) {
    auto it = parts_.find(agent);
    if (it == parts_.end()) return {};
    AgentPart& p = it->second;
    std::string gap;
    if (r.seq <= p.last_seq) return "agent " + agent + " sent batch " + std::to_string(r.seq) + " twice; ignored";
    if (r.seq != p.last_seq + 1) {
        gap = "agent " + agent + ": batches " + std::to_string(p.last_seq + 1) + ".." + std::to_string(r.seq - 1) +
              " missing";
        incomplete_ = true;
        events_.push_back(gap);
    }
    p.last_seq = r.seq;
    p.hits_done = r.hits_done;
    p.users = r.users;
    p.users_busy = r.users_busy;
    p.errors += r.stats.errors;
    p.failures += r.stats.failures;
    total_.merge(r.stats);
    delta_.merge(r.stats);
    fresh_ = true;
    cycles_[r.cycle].merge(r.stats);
    current_cycle_ = std::max(current_cycle_, r.cycle);
    return gap;
}

void Run::finished(const std::string& agent, const proto::Finished& f) {
    auto it = parts_.find(agent);
    if (it == parts_.end()) return;
    AgentPart& p = it->second;
    if (f.last_seq != p.last_seq && !p.lost) {
        incomplete_ = true;
        events_.push_back("agent " + agent + " finished after batch " + std::to_string(f.last_seq) + " but batch " +
                          std::to_string(p.last_seq) + " was the last received");
    }
    p.finished = true;
    p.end = f;
    if (f.stopped) stopped_ = true;
}

std::string Run::lost(const std::string& agent, std::chrono::milliseconds silent) {
    auto it = parts_.find(agent);
    if (it == parts_.end() || it->second.finished || it->second.lost) return {};
    it->second.lost = true;
    incomplete_ = true;
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", static_cast<double>(silent.count()) / 1000.0);
    std::string msg = "agent " + agent + " lost at " + clock_time() + " (silent for " + secs + " s); its " +
                      std::to_string(it->second.last_seq) + " batches so far are kept";
    events_.push_back(msg);
    if (state_ == RunState::preparing) fail("agent " + agent + " was lost while preparing the run");
    return msg;
}

bool Run::all_done() const {
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
    if (auto h = submit_.spec.plan.total_hits()) s.hits_total = *h * agents_.size();
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
    s.incomplete = incomplete_;
    s.error = error_;
    s.agents = agents_;
    s.events = events_;
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
