#include "loads/dashboard/board.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>

namespace loads::dashboard {
namespace json = boost::json;

namespace {

std::int64_t unix_ms_now() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

double secs(Duration d) { return std::chrono::duration<double>(d).count(); }

// One point of a run's time series: a second of elapsed time (or what was
// seen of it), its counts, and the percentiles of the merged histogram of the
// deltas that fell in it. A long run's older points cover more seconds each
// (Board::kMaxPoints): counts add up exactly, the percentiles are then the
// highest of the per-second ones (percentiles never merge; see compact()).
struct Point {
    std::int64_t window = 0;    // which span of `Run::span` seconds it covers
    double start = 0, t = 0;    // the span it covers: (start, t], seconds since the run started
    std::uint64_t hits = 0, requests = 0, errors = 0;
    std::uint64_t p50 = 0, p95 = 0, p99 = 0;  // ns
    bool timed = false;                       // any latency at all (else the percentiles are null)
    std::uint32_t users = 0, users_busy = 0;  // gauges at its end

    // Takes in the next point of the same window.
    void absorb(const Point& later) {
        t = later.t;
        timed = timed || later.timed;
        hits += later.hits;
        requests += later.requests;
        errors += later.errors;
        p50 = std::max(p50, later.p50);
        p95 = std::max(p95, later.p95);
        p99 = std::max(p99, later.p99);
        users = later.users;
        users_busy = later.users_busy;
    }
};

// The open second of a run: deltas are merged here until one arrives for a
// later second. Only this one keeps a histogram.
struct Bin {
    std::int64_t index = -1;
    double start = 0, end = 0;  // span covered by the merged deltas
    std::uint64_t hits = 0, requests = 0, errors = 0;
    Histogram latency;
    std::uint32_t users = 0, users_busy = 0;

    Point point() const {
        Point p;
        p.window = index;
        p.start = start;
        p.t = end;
        p.hits = hits;
        p.requests = requests;
        p.errors = errors;
        p.p50 = latency.value_at_quantile(0.50);
        p.p95 = latency.value_at_quantile(0.95);
        p.p99 = latency.value_at_quantile(0.99);
        p.timed = !latency.empty();
        p.users = users;
        p.users_busy = users_busy;
        return p;
    }
};

struct Run {
    std::string id, test;
    bool finished = false;     // the "finished" event (with its summary) arrived
    bool joined_late = false;  // the dashboard saw this run only from the middle
    std::int64_t started_ms = 0;
    double elapsed_s = 0;
    std::uint32_t cycle = 0, agents_running = 0, users = 0, users_busy = 0;
    std::uint64_t hits_done = 0;
    std::optional<std::uint64_t> hits_total;
    std::optional<double> duration_total_s;
    std::uint64_t snapshots = 0, last_seq = 0, missed = 0;
    Stats total;  // merged deltas; the summary's total once finished
    std::vector<std::string> agents;
    std::vector<proto::SnapshotAgent> agent_figures;  // per agent, from the latest snapshot
    std::vector<std::string> events;
    bool incomplete = false, stopped = false;
    std::string error;

    std::vector<Point> points;  // closed seconds (or spans of `span` seconds), at most Board::kMaxPoints
    std::int64_t span = 1;      // seconds a point covers: 1, doubled each time the series outgrows the cap
    Bin bin;
    double prev_elapsed = -1;  // elapsed of the previous snapshot, -1 before the first

    std::uint64_t version = 1, sent_version = 0;
    std::size_t sent_points = 0;  // closed points the last update covered
};

struct AgentRow {
    proto::AgentInfo info;
    std::string state = "idle";  // idle | preparing | busy | lost
    std::string run;
    std::int64_t last_seen_ms = 0;  // unix ms
};

std::string clock_text(std::int64_t ms) {
    std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%02d:%02d:%02d", tm.tm_hour, tm.tm_min, tm.tm_sec);
    return buf;
}

json::object latency_json(const Histogram& h) {
    return json::object{{"count", h.count()},
                        {"min", h.min()},
                        {"max", h.max()},
                        {"mean", h.mean()},
                        {"p50", h.value_at_quantile(0.50)},
                        {"p90", h.value_at_quantile(0.90)},
                        {"p95", h.value_at_quantile(0.95)},
                        {"p99", h.value_at_quantile(0.99)},
                        {"p999", h.value_at_quantile(0.999)}};
}

// The run's histogram for the page: our buckets (1/128 of an octave) grouped
// eight to an octave: [low ns, high ns, count] for each non-empty group.
json::array histogram_bars(const Histogram& h) {
    json::array out;
    long key = -1;
    std::uint64_t low = 0, high = 0, count = 0;
    for (auto [i, c] : h.to_sparse()) {
        const std::uint64_t lo = Histogram::bucket_low(i), hi = Histogram::bucket_high(i);
        const long k = lo < 1 ? 0 : static_cast<long>(std::floor(8.0 * std::log2(double(lo)))) + 1;
        if (k != key) {
            if (count) out.push_back(json::array{low, high, count});
            key = k;
            low = lo;
            count = 0;
        }
        high = hi;
        count += c;
    }
    if (count) out.push_back(json::array{low, high, count});
    return out;
}

json::array point_json(const Point& p) {
    auto r = [](double v) { return std::round(v * 1000.0) / 1000.0; };
    const double span = std::max(p.t - p.start, 1e-3);
    auto ns = [&](std::uint64_t v) { return p.timed ? json::value(v) : json::value(nullptr); };
    return json::array{r(p.t), r(double(p.requests) / span), r(double(p.hits) / span), r(double(p.errors) / span),
                       ns(p.p50), ns(p.p95), ns(p.p99), p.users, p.users_busy};
}

// A run's series outgrew the cap: every point now covers twice the seconds.
// Counts add up exactly; a percentile of two spans cannot be had from
// theirs, so the higher one stands for both (an upper bound of the merged
// span's, never an average).
void compact(Run& r) {
    r.span *= 2;
    std::vector<Point> out;
    out.reserve(r.points.size() / 2 + 1);
    for (const auto& p : r.points) {
        const std::int64_t w = p.window / 2;
        if (!out.empty() && out.back().window == w) {
            out.back().absorb(p);
        } else {
            out.push_back(p);
            out.back().window = w;
        }
    }
    r.points = std::move(out);
    r.sent_points = 0;  // every point changed: the next update carries them all
}

// The open second is over: it becomes a point, or joins the last one when
// points cover more than a second.
void close_bin(Run& r) {
    if (r.bin.index < 0) return;
    Point p = r.bin.point();
    p.window = r.bin.index / r.span;
    r.bin = Bin{};
    if (!r.points.empty() && r.points.back().window == p.window) {
        r.points.back().absorb(p);
        r.sent_points = std::min(r.sent_points, r.points.size() - 1);  // it changed: send it again
    } else {
        r.points.push_back(p);
    }
    if (r.points.size() > Board::kMaxPoints) compact(r);
}

// "started on a0, a1" -> {a0, a1}
std::vector<std::string> agents_of_started(const std::string& message) {
    std::vector<std::string> out;
    const std::string prefix = "started on ";
    if (message.rfind(prefix, 0) != 0) return out;
    std::string rest = message.substr(prefix.size());
    std::size_t pos = 0;
    while (pos <= rest.size()) {
        auto comma = rest.find(", ", pos);
        auto item = rest.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
        if (!item.empty()) out.push_back(item);
        if (comma == std::string::npos) break;
        pos = comma + 2;
    }
    return out;
}

// --- Prometheus text format

std::string label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\') out += "\\\\";
        else if (c == '"') out += "\\\"";
        else if (c == '\n') out += "\\n";
        else out += c;
    }
    return out;
}


class Exposition {
public:
    void family(const char* name, const char* type, const char* help) {
        out_ += "# HELP ";
        out_ += name;
        out_ += ' ';
        out_ += help;
        out_ += "\n# TYPE ";
        out_ += name;
        out_ += ' ';
        out_ += type;
        out_ += '\n';
    }
    // labels: "run=\"r1\",kind=\"x\"" (already escaped) or empty.
    void sample(std::string_view name, const std::string& labels, const std::string& value) {
        out_ += name;
        if (!labels.empty()) {
            out_ += '{';
            out_ += labels;
            out_ += '}';
        }
        out_ += ' ';
        out_ += value;
        out_ += '\n';
    }
    void sample(std::string_view name, const std::string& labels, std::uint64_t v) {
        sample(name, labels, std::to_string(v));
    }
    std::string take() { return std::move(out_); }

private:
    std::string out_;
};

// Upper bounds of the Prometheus buckets: round values of latency, each moved
// up to the highest value of our histogram bucket that holds it, so that the
// cumulative count at every bound is exact (our buckets are 1/128 of an
// octave wide: a bound is at most 0.8% above its round value).
const std::vector<std::pair<std::size_t, std::uint64_t>>& prometheus_bounds() {
    static const auto bounds = [] {
        std::vector<std::pair<std::size_t, std::uint64_t>> b;
        const double targets[] = {100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3,
                                  100e-3, 250e-3, 500e-3, 1.0,  2.5,    5.0,  10.0, 30.0,  60.0};
        for (double t : targets) {
            auto i = Histogram::bucket_of(static_cast<std::uint64_t>(std::llround(t * 1e9)));
            b.emplace_back(i, Histogram::bucket_high(i));
        }
        return b;
    }();
    return bounds;
}

void histogram_samples(Exposition& x, const std::string& name, const std::string& labels,
                       const Histogram& h) {
    const auto sparse = h.to_sparse();
    std::size_t k = 0;
    std::uint64_t cum = 0;
    const std::string sep = labels.empty() ? "" : ",";
    for (auto [index, bound_ns] : prometheus_bounds()) {
        while (k < sparse.size() && sparse[k].first <= index) cum += sparse[k++].second;
        x.sample(name + "_bucket", labels + sep + "le=\"" + seconds_text(bound_ns) + "\"", cum);
    }
    x.sample(name + "_bucket", labels + sep + "le=\"+Inf\"", h.count());
    x.sample(name + "_sum", labels, seconds_text(h.sum()));
    x.sample(name + "_count", labels, h.count());
}

}  // namespace

std::string seconds_text(std::uint64_t ns) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%llu.%09llu", static_cast<unsigned long long>(ns / 1'000'000'000ULL),
                  static_cast<unsigned long long>(ns % 1'000'000'000ULL));
    std::string s = buf;
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s;
}

struct Board::Impl {
    std::mutex mu;
    std::deque<std::unique_ptr<Run>> runs;  // oldest first
    std::map<std::string, AgentRow> agents;
    std::string source;
    bool cluster = true;
    bool status_ok = false;
    std::int64_t status_ms = 0;
    std::uint64_t lost_events = 0, registrations = 0, bad_messages = 0;
    std::uint64_t n_snapshots = 0, n_events = 0, n_cluster = 0;
    std::string last_bad;
    std::uint64_t cluster_version = 1, cluster_sent = 0;

    Run* find(const std::string& id) {
        for (auto& r : runs)
            if (r->id == id) return r.get();
        return nullptr;
    }
    Run& run(const std::string& id) {
        if (Run* r = find(id)) return *r;
        runs.push_back(std::make_unique<Run>());
        runs.back()->id = id;
        while (runs.size() > kMaxRuns) runs.pop_front();
        ++cluster_version;  // the list of runs changed
        return *runs.back();
    }
    AgentRow& agent(const std::string& id) {
        auto [it, added] = agents.try_emplace(id);
        auto& a = it->second;
        if (a.info.id.empty()) a.info.id = id;
        ++cluster_version;
        if (added && agents.size() > kMaxAgents) forget_an_agent(id);
        return a;
    }
    // Bounded memory whatever the churn of agent ids: forgets the agent lost
    // longest ago (or, with none lost, the one heard of longest ago).
    void forget_an_agent(const std::string& keep) {
        auto victim = agents.end();
        for (auto it = agents.begin(); it != agents.end(); ++it) {
            if (it->first == keep) continue;
            if (victim == agents.end()) {
                victim = it;
                continue;
            }
            const bool lost = it->second.state == "lost", victim_lost = victim->second.state == "lost";
            if ((lost && !victim_lost) ||
                (lost == victim_lost && it->second.last_seen_ms < victim->second.last_seen_ms))
                victim = it;
        }
        if (victim != agents.end()) agents.erase(victim);
    }

    void snapshot(const proto::Snapshot& s) {
        ++n_snapshots;
        const bool known = find(s.run) != nullptr;
        Run& r = run(s.run);
        if (r.finished) return;  // the summary has the last word
        // A run first seen by a snapshot: its "started" event (and whatever
        // came before) was missed.
        if (!known) {
            r.joined_late = true;
            r.started_ms = unix_ms_now() - std::chrono::duration_cast<std::chrono::milliseconds>(s.elapsed).count();
        }
        if (r.last_seq && s.seq > r.last_seq + 1) r.missed += s.seq - r.last_seq - 1;
        r.last_seq = std::max(r.last_seq, s.seq);
        ++r.snapshots;
        r.total.merge(s.delta);
        r.cycle = s.cycle;
        r.elapsed_s = secs(s.elapsed);
        r.hits_done = s.hits_done;
        r.hits_total = s.hits_total;
        r.duration_total_s = s.duration_total ? std::optional<double>(secs(*s.duration_total)) : std::nullopt;
        r.agents_running = s.agents_running;
        r.users = s.users;
        r.users_busy = s.users_busy;
        if (!s.agents.empty()) {
            r.agent_figures = s.agents;
            // A run joined late learns its agents here too.
            for (const auto& a : s.agents)
                if (std::find(r.agents.begin(), r.agents.end(), a.id) == r.agents.end()) r.agents.push_back(a.id);
        }
        ++r.version;

        // The time series. A delta covers (previous snapshot, this one]. The
        // first delta of a run joined late covers an unknown span: it counts
        // in the totals but not in the rates.
        const double e = r.elapsed_s;
        if (!known && s.seq > 1) {
            r.prev_elapsed = e;
            return;
        }
        const double prev = std::max(r.prev_elapsed, 0.0);
        r.prev_elapsed = e;
        const auto idx = static_cast<std::int64_t>(std::floor(e));
        if (r.bin.index >= 0 && idx > r.bin.index) close_bin(r);
        if (r.bin.index < 0) {
            r.bin.index = idx;
            r.bin.start = prev;
        }
        r.bin.end = e;
        r.bin.hits += s.delta.hits;
        r.bin.requests += s.delta.requests;
        r.bin.errors += s.delta.errors + s.delta.failures;
        r.bin.latency.merge(s.delta.latency);
        r.bin.users = s.users;
        r.bin.users_busy = s.users_busy;
    }

    void run_event(const proto::RunEvent& e) {
        ++n_events;
        Run& r = run(e.run);
        ++r.version;
        std::string line = clock_text(e.time_ms) + " " + e.event;
        if (!e.agent.empty()) line += " " + e.agent;
        if (!e.message.empty()) line += ": " + e.message;
        if (r.events.size() < 200) r.events.push_back(line);
        if (e.event == "started") {
            r.started_ms = e.time_ms;
            r.agents = agents_of_started(e.message);
            for (auto& id : r.agents) {
                auto& a = agent(id);
                a.state = "busy";
                a.run = r.id;
                a.last_seen_ms = std::max(a.last_seen_ms, e.time_ms);
            }
        } else if (e.event == "agent-lost" && !e.agent.empty()) {
            r.incomplete = true;
            auto& a = agent(e.agent);
            a.state = "lost";
        } else if (e.event == "gap") {
            r.incomplete = true;
        } else if (e.event == "finished") {
            close_bin(r);
            r.finished = true;
            r.users = r.users_busy = r.agents_running = 0;
            if (e.summary) {
                const auto& s = *e.summary;
                r.test = s.test;
                if (s.started_ms) r.started_ms = s.started_ms;
                r.elapsed_s = secs(s.elapsed);
                r.stopped = s.stopped;
                r.incomplete = r.incomplete || s.incomplete;
                r.error = s.error;
                if (!s.agents.empty()) r.agents = s.agents;
                for (auto& ev : s.events)
                    if (r.events.size() < 200) r.events.push_back(ev);
                r.total = s.total;
                r.hits_done = s.total.hits;
            }
            for (auto& id : r.agents) {
                auto it = agents.find(id);
                if (it != agents.end() && it->second.state != "lost" && it->second.run == r.id) {
                    it->second.state = "idle";
                    it->second.run.clear();
                    it->second.last_seen_ms = std::max(it->second.last_seen_ms, e.time_ms);
                }
            }
            ++cluster_version;
        }
    }

    void cluster_event(const proto::ClusterEvent& e) {
        ++n_cluster;
        auto& a = agent(e.agent.id);
        a.info = e.agent;
        a.last_seen_ms = std::max(a.last_seen_ms, e.time_ms);
        if (e.event == "agent-registered") {
            ++registrations;
            a.state = "idle";
            a.run.clear();
        } else if (e.event == "agent-lost" || e.event == "agent-gone") {
            ++lost_events;
            a.state = "lost";
        }
    }

    void status(const proto::Status& s) {
        const auto now = unix_ms_now();
        status_ok = true;
        status_ms = now;
        for (auto& [id, a] : agents)
            if (a.state != "lost") a.state = "lost";  // gone from the registry
        for (const auto& st : s.agents) {
            auto& a = agent(st.agent.id);
            a.info = st.agent;
            a.state = st.state;
            a.run = st.run;
            a.last_seen_ms = now - st.last_seen_ms;
            // A run joined after its "started" event learns its agents here.
            if (Run* r = st.run.empty() ? nullptr : find(st.run);
                r && !r->finished && std::find(r->agents.begin(), r->agents.end(), st.agent.id) == r->agents.end()) {
                r->agents.push_back(st.agent.id);
                ++r->version;
            }
        }
        ++cluster_version;
    }

    json::object run_json(const Run& r, std::size_t points_from) const {
        const Stats& t = r.total;
        json::object o;
        o["id"] = r.id;
        o["test"] = r.test;
        o["state"] = r.finished ? "finished" : "running";
        o["joined_late"] = r.joined_late;
        o["started_ms"] = r.started_ms;
        o["elapsed_s"] = r.elapsed_s;
        o["cycle"] = r.cycle;
        o["agents_running"] = r.agents_running;
        o["users"] = r.users;
        o["users_busy"] = r.users_busy;
        o["hits_done"] = r.hits_done;
        o["hits_total"] = r.hits_total ? json::value(*r.hits_total) : json::value(nullptr);
        o["duration_total_s"] = r.duration_total_s ? json::value(*r.duration_total_s) : json::value(nullptr);
        o["snapshots"] = r.snapshots;
        o["missed_snapshots"] = r.missed;
        o["totals"] = json::object{{"hits", t.hits},
                                   {"successes", t.successes},
                                   {"failures", t.failures},
                                   {"errors", t.errors},
                                   {"requests", t.requests},
                                   {"request_errors", t.request_errors},
                                   {"bytes_sent", t.bytes_sent + t.ws_bytes_sent + t.tcp_bytes_sent},
                                   {"bytes_received", t.bytes_received + t.ws_bytes_received + t.tcp_bytes_received},
                                   {"scheduled", t.scheduled},
                                   {"dropped", t.dropped},
                                   {"late", t.late},
                                   {"interrupted", t.interrupted},
                                   {"ws_opened", t.ws_opened},
                                   {"ws_messages", t.ws_messages_sent + t.ws_messages_received},
                                   {"tcp_opened", t.tcp_opened}};
        o["latency"] = latency_json(t.latency);
        o["latency_from_schedule"] =
            t.latency_from_schedule.empty() ? json::value(nullptr) : json::value(latency_json(t.latency_from_schedule));
        json::object kinds;
        for (std::size_t k = 0; k < kErrorKindCount; ++k)
            if (t.errors_by_kind[k]) kinds[to_string(static_cast<ErrorKind>(k))] = t.errors_by_kind[k];
        o["errors_by_kind"] = std::move(kinds);
        json::array messages;
        for (auto& [m, n] : t.messages) messages.push_back(json::array{json::string(m), n});
        o["messages"] = std::move(messages);
        json::object codes;
        for (std::size_t c = 0; c < Stats::kStatusCodes; ++c)
            if (t.status_codes[c]) codes[std::to_string(c)] = t.status_codes[c];
        o["status_codes"] = std::move(codes);
        o["histogram"] = histogram_bars(t.latency);
        json::array labels;
        for (auto& [name, l] : t.labels)
            labels.push_back(json::object{{"name", name},
                                          {"count", l.count},
                                          {"errors", l.errors},
                                          {"p50", l.latency.value_at_quantile(0.50)},
                                          {"p95", l.latency.value_at_quantile(0.95)},
                                          {"p99", l.latency.value_at_quantile(0.99)},
                                          {"max", l.latency.max()}});
        o["labels"] = std::move(labels);
        json::array agent_ids;
        for (auto& a : r.agents) agent_ids.push_back(json::string(a));
        o["agents"] = std::move(agent_ids);
        // Each agent's own figures for the whole run so far (broker snapshots).
        json::array figures;
        for (auto& a : r.agent_figures)
            figures.push_back(json::object{{"id", a.id},
                                           {"hits", a.hits_done},
                                           {"errors", a.errors},
                                           {"failures", a.failures},
                                           {"users", a.users},
                                           {"users_busy", a.users_busy},
                                           {"state", a.state}});
        o["agent_figures"] = std::move(figures);
        json::array events;
        for (auto& e : r.events) events.push_back(json::string(e));
        o["events"] = std::move(events);
        o["incomplete"] = r.incomplete;
        o["stopped"] = r.stopped;
        o["error"] = r.error;
        o["points_from"] = points_from;
        o["point_span_s"] = r.span;
        json::array pts;
        for (std::size_t i = points_from; i < r.points.size(); ++i) pts.push_back(point_json(r.points[i]));
        if (r.bin.index >= 0) pts.push_back(point_json(r.bin.point()));
        o["points"] = std::move(pts);
        return o;
    }

    json::object cluster_json() const {
        json::object o;
        o["source"] = source;
        o["cluster"] = cluster;
        o["status_ok"] = status_ok;
        o["now_ms"] = unix_ms_now();
        json::array rows;
        std::map<std::string, std::uint64_t> counts{{"idle", 0}, {"preparing", 0}, {"busy", 0}, {"lost", 0}};
        for (auto& [id, a] : agents) {
            ++counts[a.state];
            rows.push_back(json::object{{"id", id},
                                        {"host", a.info.host},
                                        {"pid", a.info.pid},
                                        {"threads", a.info.threads},
                                        {"version", a.info.version},
                                        {"state", a.state},
                                        {"run", a.run},
                                        {"last_seen_ms", a.last_seen_ms}});
        }
        o["agents"] = std::move(rows);
        json::object c;
        for (auto& [k, v] : counts) c[k] = v;
        o["counts"] = std::move(c);
        o["lost_events"] = lost_events;
        o["registrations"] = registrations;
        o["messages"] = json::object{{"snapshot", n_snapshots}, {"event", n_events}, {"cluster", n_cluster},
                                     {"bad", bad_messages}};
        o["last_bad"] = last_bad;
        json::array ids;
        for (auto& r : runs) ids.push_back(json::string(r->id));
        o["run_ids"] = std::move(ids);
        return o;
    }
};

Board::Board() : impl_(std::make_unique<Impl>()) {}
Board::~Board() = default;

void Board::on_snapshot(const proto::Snapshot& s) {
    std::lock_guard lock(impl_->mu);
    impl_->snapshot(s);
}
void Board::on_run_event(const proto::RunEvent& e) {
    std::lock_guard lock(impl_->mu);
    impl_->run_event(e);
}
void Board::on_cluster_event(const proto::ClusterEvent& e) {
    std::lock_guard lock(impl_->mu);
    impl_->cluster_event(e);
}
void Board::on_status(const proto::Status& s) {
    std::lock_guard lock(impl_->mu);
    impl_->status(s);
}
void Board::on_bad_message(const std::string& what) {
    std::lock_guard lock(impl_->mu);
    ++impl_->bad_messages;
    impl_->last_bad = what.substr(0, 300);
    ++impl_->cluster_version;
}
void Board::set_source(std::string source, bool cluster) {
    std::lock_guard lock(impl_->mu);
    impl_->source = std::move(source);
    impl_->cluster = cluster;
    ++impl_->cluster_version;
}

std::string Board::full_json() {
    std::lock_guard lock(impl_->mu);
    json::array runs;
    for (auto& r : impl_->runs) runs.push_back(impl_->run_json(*r, 0));
    return json::serialize(json::object{{"type", "full"}, {"cluster", impl_->cluster_json()}, {"runs", std::move(runs)}});
}

std::optional<std::string> Board::take_update() {
    std::lock_guard lock(impl_->mu);
    json::array runs;
    for (auto& r : impl_->runs) {
        if (r->version == r->sent_version) continue;
        runs.push_back(impl_->run_json(*r, r->sent_points));
        r->sent_version = r->version;
        r->sent_points = r->points.size();
    }
    const bool cluster_changed = impl_->cluster_version != impl_->cluster_sent;
    if (runs.empty() && !cluster_changed) return std::nullopt;
    impl_->cluster_sent = impl_->cluster_version;
    // The cluster rides along always: it carries the list of runs kept and the clock.
    return json::serialize(json::object{{"type", "update"}, {"cluster", impl_->cluster_json()}, {"runs", std::move(runs)}});
}

std::string Board::metrics_text() {
    std::lock_guard lock(impl_->mu);
    const Impl& m = *impl_;
    Exposition x;
    auto run_label = [](const Run& r) { return "run=\"" + label_value(r.id) + "\""; };
    struct Counter {
        const char* name;
        const char* help;
        std::uint64_t Stats::*field;
    };
    static const Counter counters[] = {
        {"loads_hits_total", "Hits (executions of the test) finished.", &Stats::hits},
        {"loads_successes_total", "Hits that ended with no failure and no error.", &Stats::successes},
        {"loads_failures_total", "Hits where a check of the test did not hold.", &Stats::failures},
        {"loads_requests_total", "HTTP requests that got a response (any status).", &Stats::requests},
        {"loads_request_errors_total", "HTTP requests that got no response.", &Stats::request_errors},
        {"loads_scheduled_total", "Open model: arrivals due.", &Stats::scheduled},
        {"loads_dropped_total", "Open model: arrivals that never started.", &Stats::dropped},
        {"loads_late_total", "Open model: hits started more than 1 ms after their schedule.", &Stats::late},
        {"loads_interrupted_total", "Hits cut short by a deadline or a stop.", &Stats::interrupted},
        {"loads_websocket_messages_sent_total", "WebSocket messages sent.", &Stats::ws_messages_sent},
        {"loads_websocket_messages_received_total", "WebSocket messages received.", &Stats::ws_messages_received},
    };
    for (const auto& c : counters) {
        x.family(c.name, "counter", c.help);
        for (auto& r : m.runs) x.sample(c.name, run_label(*r), r->total.*(c.field));
    }
    x.family("loads_errors_total", "counter", "Hits that ended in an error, by kind.");
    for (auto& r : m.runs)
        for (std::size_t k = 0; k < kErrorKindCount; ++k)
            x.sample("loads_errors_total",
                     run_label(*r) + ",kind=\"" + std::string(to_string(static_cast<ErrorKind>(k))) + "\"",
                     r->total.errors_by_kind[k]);
    x.family("loads_bytes_sent_total", "counter", "Bytes sent, by protocol (HTTP: headers and body; ws/tcp: payload).");
    for (auto& r : m.runs) {
        const Stats& t = r->total;
        x.sample("loads_bytes_sent_total", run_label(*r) + ",protocol=\"http\"", t.bytes_sent);
        x.sample("loads_bytes_sent_total", run_label(*r) + ",protocol=\"ws\"", t.ws_bytes_sent);
        x.sample("loads_bytes_sent_total", run_label(*r) + ",protocol=\"tcp\"", t.tcp_bytes_sent);
    }
    x.family("loads_bytes_received_total", "counter", "Bytes received, by protocol (HTTP: headers and body; ws/tcp: payload).");
    for (auto& r : m.runs) {
        const Stats& t = r->total;
        x.sample("loads_bytes_received_total", run_label(*r) + ",protocol=\"http\"", t.bytes_received);
        x.sample("loads_bytes_received_total", run_label(*r) + ",protocol=\"ws\"", t.ws_bytes_received);
        x.sample("loads_bytes_received_total", run_label(*r) + ",protocol=\"tcp\"", t.tcp_bytes_received);
    }

    x.family("loads_users", "gauge", "Virtual users alive (0 once the run is over).");
    for (auto& r : m.runs) x.sample("loads_users", run_label(*r), r->users);
    x.family("loads_users_busy", "gauge", "Virtual users in a hit.");
    for (auto& r : m.runs) x.sample("loads_users_busy", run_label(*r), r->users_busy);
    x.family("loads_run_agents", "gauge", "Agents still running the run.");
    for (auto& r : m.runs) x.sample("loads_run_agents", run_label(*r), r->agents_running);
    x.family("loads_run_running", "gauge", "1 while the run goes, 0 once its summary arrived.");
    for (auto& r : m.runs) x.sample("loads_run_running", run_label(*r), r->finished ? 0 : 1);
    {
        auto agent_label = [&](const Run& r, const proto::SnapshotAgent& a) {
            return run_label(r) + ",agent=\"" + label_value(a.id) + "\"";
        };
        x.family("loads_agent_hits_total", "counter", "Hits done by one agent of the run (broker snapshots).");
        for (auto& r : m.runs)
            for (auto& a : r->agent_figures) x.sample("loads_agent_hits_total", agent_label(*r, a), a.hits_done);
        x.family("loads_agent_errors_total", "counter", "Hits of one agent of the run that ended in an error.");
        for (auto& r : m.runs)
            for (auto& a : r->agent_figures) x.sample("loads_agent_errors_total", agent_label(*r, a), a.errors);
        x.family("loads_agent_failures_total", "counter", "Hits of one agent of the run where a check did not hold.");
        for (auto& r : m.runs)
            for (auto& a : r->agent_figures) x.sample("loads_agent_failures_total", agent_label(*r, a), a.failures);
    }
    x.family("loads_run_start_time_seconds", "gauge", "When the run started (unix time).");
    for (auto& r : m.runs) x.sample("loads_run_start_time_seconds", run_label(*r), seconds_text(std::uint64_t(std::max<std::int64_t>(r->started_ms, 0)) * 1'000'000ULL));

    x.family("loads_latency_seconds", "histogram",
             "Service time of every request and timed exchange (first byte sent to last byte received). "
             "Each bound is the top of one of loads' histogram buckets, so the counts are exact.");
    for (auto& r : m.runs) histogram_samples(x, "loads_latency_seconds", run_label(*r), r->total.latency);
    x.family("loads_latency_from_schedule_seconds", "histogram",
             "Open model: every finished hit, from its scheduled time to its end.");
    for (auto& r : m.runs)
        if (!r->total.latency_from_schedule.empty())
            histogram_samples(x, "loads_latency_from_schedule_seconds", run_label(*r), r->total.latency_from_schedule);

    x.family("loads_name_requests_total", "counter", "Requests and timed exchanges by request name.");
    for (auto& r : m.runs)
        for (auto& [name, l] : r->total.labels)
            x.sample("loads_name_requests_total", run_label(*r) + ",name=\"" + label_value(name) + "\"", l.count);
    x.family("loads_name_errors_total", "counter", "Requests and timed exchanges by request name that ended in an error.");
    for (auto& r : m.runs)
        for (auto& [name, l] : r->total.labels)
            x.sample("loads_name_errors_total", run_label(*r) + ",name=\"" + label_value(name) + "\"", l.errors);
    x.family("loads_name_latency_seconds", "histogram", "Service time by request name.");
    for (auto& r : m.runs)
        for (auto& [name, l] : r->total.labels)
            histogram_samples(x, "loads_name_latency_seconds", run_label(*r) + ",name=\"" + label_value(name) + "\"",
                              l.latency);

    std::map<std::string, std::uint64_t> counts{{"idle", 0}, {"preparing", 0}, {"busy", 0}, {"lost", 0}};
    for (auto& [id, a] : m.agents) ++counts[a.state];
    x.family("loads_agents", "gauge", "Agents known to the dashboard, by state.");
    for (auto& [state, n] : counts) x.sample("loads_agents", "state=\"" + label_value(state) + "\"", n);
    x.family("loads_agent_up", "gauge", "1 for an agent that is registered, 0 for one that was lost.");
    for (auto& [id, a] : m.agents)
        x.sample("loads_agent_up", "agent=\"" + label_value(id) + "\",host=\"" + label_value(a.info.host) + "\"",
                 a.state == "lost" ? 0 : 1);
    x.family("loads_agent_busy", "gauge", "1 while the agent is in a run.");
    for (auto& [id, a] : m.agents)
        x.sample("loads_agent_busy", "agent=\"" + label_value(id) + "\"", a.state == "busy" ? 1 : 0);
    x.family("loads_agent_last_seen_time_seconds", "gauge", "When the agent was last heard of (unix time).");
    for (auto& [id, a] : m.agents)
        x.sample("loads_agent_last_seen_time_seconds", "agent=\"" + label_value(id) + "\"",
                 seconds_text(std::uint64_t(std::max<std::int64_t>(a.last_seen_ms, 0)) * 1'000'000ULL));
    x.family("loads_agent_lost_events_total", "counter", "Agents the broker declared lost.");
    x.sample("loads_agent_lost_events_total", "", m.lost_events);
    x.family("loads_stream_messages_total", "counter", "Messages read from the broker's stream, by kind.");
    x.sample("loads_stream_messages_total", "kind=\"snapshot\"", m.n_snapshots);
    x.sample("loads_stream_messages_total", "kind=\"event\"", m.n_events);
    x.sample("loads_stream_messages_total", "kind=\"cluster\"", m.n_cluster);
    x.sample("loads_stream_messages_total", "kind=\"bad\"", m.bad_messages);
    x.family("loads_stream_snapshots_missed_total", "counter", "Snapshots of a run missing from the stream (seq gaps).");
    for (auto& r : m.runs) x.sample("loads_stream_snapshots_missed_total", run_label(*r), r->missed);
    return x.take();
}

}  // namespace loads::dashboard
