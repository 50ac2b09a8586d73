#include "report.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cmath>

#include <ctime>
#include <iomanip>
#include <sstream>

#include <unistd.h>

namespace loads::runner {
namespace {

std::string ms(std::uint64_t ns) {
    std::ostringstream os;
    double v = double(ns) / 1e6;
    os << std::fixed << std::setprecision(v < 10 ? 3 : v < 100 ? 2 : 1) << v << " ms";
    return os.str();
}

std::string fixed(double v, int decimals) {
    std::ostringstream os;
    os << std::fixed << std::setprecision(decimals) << v;
    return os.str();
}

std::string timestamp(std::chrono::system_clock::time_point t) {
    auto secs = std::chrono::system_clock::to_time_t(t);
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count() % 1000000;
    std::tm tm{};
    localtime_r(&secs, &tm);
    std::ostringstream os;
    os << std::put_time(&tm, "%Y-%m-%d %H:%M:%S") << '.' << std::setw(6) << std::setfill('0') << micros;
    return os.str();
}

std::string host_name() {
    char buf[256] = {};
    if (gethostname(buf, sizeof buf - 1) != 0) return "";
    return buf;
}

double seconds(Duration d) { return std::chrono::duration<double>(d).count(); }

// A custom metric's value: whole numbers as such, others to 3 decimals.
std::string number(double v) {
    if (v == std::floor(v) && std::fabs(v) < 1e15) return fixed(v, 0);
    std::string t = fixed(v, 3);
    while (t.back() == '0') t.pop_back();
    return t;
}

// What the summary says of one custom metric, after its name, kind and count.
std::string describe_metric(const MetricStats& m, double secs) {
    switch (m.kind) {
        case MetricKind::counter:
            return "total " + number(m.sum) + (secs > 0 ? "  (" + number(std::round(m.sum / secs * 10) / 10) + "/s)" : "");
        case MetricKind::gauge:
            return "last " + number(m.last) + "  min " + number(m.min) + "  max " + number(m.max);
        case MetricKind::rate:
            return fixed(m.count ? 100.0 * double(m.nonzero) / double(m.count) : 0, 2) + "% (" +
                   std::to_string(m.nonzero) + " of " + std::to_string(m.count) + ")";
        case MetricKind::trend:
            return "mean " + number(m.mean()) + "  p50 " + number(m.quantile(0.5)) + "  p90 " +
                   number(m.quantile(0.9)) + "  p95 " + number(m.quantile(0.95)) + "  p99 " +
                   number(m.quantile(0.99)) + "  min " + number(m.min) + "  max " + number(m.max);
    }
    return {};
}

constexpr std::pair<const char*, double> kQuantiles[] = {
    {"p50", 0.50}, {"p90", 0.90}, {"p95", 0.95}, {"p99", 0.99}, {"p99.9", 0.999}};

std::string pad(std::string s, std::size_t w) {
    if (s.size() < w) s.append(w - s.size(), ' ');
    return s;
}
std::string lpad(std::string s, std::size_t w) {
    if (s.size() < w) s.insert(0, w - s.size(), ' ');
    return s;
}

// Hits, when, how fast, and what became of them (Loads' summary).
void print_counts(std::ostream& out, const Report& r) {
    const Stats& s = r.result.total;
    double secs = seconds(r.result.elapsed);
    double rps = secs > 0 ? double(s.hits) / secs : 0;
    out << "\n";
    out << "Hits: " << s.hits << "\n";
    out << "Started: " << timestamp(r.result.started) << "\n";
    out << "Duration: " << fixed(secs, 2) << " seconds\n";
    out << "Approximate Average RPS: " << static_cast<std::uint64_t>(rps + 0.5) << "\n";
    out << "Opened web sockets: " << s.ws_opened << "\n";
    out << "Bytes received via web sockets: " << s.ws_bytes_received << "\n";
    out << "\n";
    out << "Success: " << s.successes << "\n";
    out << "Errors: " << s.errors << "\n";
    out << "Failures: " << s.failures << "\n";
    out << "Dropped: " << s.dropped << "\n";
    out << "Late: " << s.late << "\n";
    out << "Interrupted: " << s.interrupted << "\n";
    if (s.users_out_of_data)
        out << "Out of data: " << s.users_out_of_data << " users (no row left for them in a data set; "
            << "--data-exhausted stop)\n";
    out << "Skipped: " << s.skipped << "\n";
}

// What was asked: the rate and its split, data, tasks, agents, and how the run ended.
void print_plan(std::ostream& out, const Report& r) {
    const Stats& s = r.result.total;
    const Plan& plan = r.spec.plan;
    if (plan.open()) {
        out << "\nRate: " << describe_rate_split(plan, std::max(1u, r.agents)) << ", " << to_string(plan.arrivals)
            << " arrivals";
        if (plan.ramp > Duration::zero()) out << ", ramp " << format_duration(plan.ramp);
        out << ", at most " << plan.max_users << " users\n";
        out << "Scheduled: " << s.scheduled << " (" << s.hits << " hits + " << s.dropped << " dropped + "
            << s.interrupted << " interrupted)\n";
        std::uint32_t peak = 0;
        for (const auto& c : r.result.cycles) peak = std::max(peak, c.users);
        if (peak >= plan.max_users && (s.late || s.dropped))
            out << "The pool reached --max-users " << plan.max_users << ": hits started late (" << s.late
                << ") or were dropped (" << s.dropped << ") for want of a free user; the latencies from schedule "
                << "count that wait. Raise --max-users if the target should see the full rate.\n";
    }
    if (!r.spec.data.empty()) {
        out << "\nData:";
        for (std::size_t i = 0; i < r.spec.data.size(); ++i)
            out << (i ? ", " : " ") << r.spec.data[i].name << " (" << r.spec.data[i].path << ")";
        out << "; user_row() past the last row: "
            << (r.spec.data_exhausted == DataExhaustion::stop ? "stop" : "wrap") << "\n";
    }
    if (s.start_failures) {
        out << "\nUsers that could not start: " << s.start_failures
            << " (on_start or the test's constructor threw; each counts one hit"
            << (s.skipped ? " and skips the rest of its cycle" : "") << ", on_stop still runs after a failed on_start)\n";
    }
    if (r.tasks.size() > 1) {
        out << "\nTasks:";
        for (std::size_t i = 0; i < r.tasks.size(); ++i) {
            const TaskInfo& t = r.tasks[i];
            out << (i ? ", " : " ") << t.name << " x" << t.weight;
            if (t.think)
                out << " @" << format_duration(t.think->min)
                    << (t.think->max > t.think->min ? ":" + format_duration(t.think->max) : "");
        }
        out << " (each hit picks one by weight)\n";
    }
    if (r.agents) out << "\nAgents: " << r.agents << "\n";
    if (r.result.stopped) out << "\nInterrupted: the plan did not run to its end.\n";
    if (r.aborted && r.aborted->index < r.thresholds.size())
        out << "Stopped by --abort-on-fail: " << r.thresholds[r.aborted->index].expression
            << " could no longer pass after " << fixed(seconds(r.aborted->at), 1) << " s\n";
    for (auto& e : r.events) out << e << "\n";
}

// What went over the wire, by protocol.
void print_traffic(std::ostream& out, const Report& r) {
    const Stats& s = r.result.total;
    const double secs = seconds(r.result.elapsed);
    if (s.requests || s.request_errors) {
        out << "\nRequests: " << s.requests << " responses (" << fixed(secs > 0 ? s.requests / secs : 0, 1)
            << "/s), " << s.request_errors << " without response; received "
            << format_bytes(s.bytes_received) << ", sent " << format_bytes(s.bytes_sent) << "\n";
    }
    if (s.ws_opened || s.ws_messages_sent || s.ws_messages_received) {
        out << "WebSocket: " << s.ws_opened << " opened, " << s.ws_closed << " closed, "
            << s.ws_messages_sent << " messages sent (" << format_bytes(s.ws_bytes_sent) << "), "
            << s.ws_messages_received << " received (" << format_bytes(s.ws_bytes_received) << ")\n";
    }
    if (s.tcp_opened) {
        out << "TCP: " << s.tcp_opened << " connections, " << format_bytes(s.tcp_bytes_sent)
            << " sent, " << format_bytes(s.tcp_bytes_received) << " received\n";
    }
}

// Latency tables: from schedule (open model) and from send.
void print_latency(std::ostream& out, const Report& r) {
    const Stats& s = r.result.total;
    auto table = [&](const Histogram& h) {
        out << " ";
        for (auto& [name, q] : kQuantiles) out << " " << name << " " << ms(h.value_at_quantile(q)) << ",";
        out << " max " << ms(h.max()) << "\n";
        out << "  min " << ms(h.min()) << ", mean " << ms(std::uint64_t(h.mean())) << "\n";
    };
    if (!s.latency_from_schedule.empty()) {
        out << "\nLatency (from schedule) (" << s.latency_from_schedule.count()
            << " hits, scheduled start to end of hit, waiting for a free user included):\n";
        table(s.latency_from_schedule);
    }
    if (!s.latency.empty()) {
        if (!s.latency_from_schedule.empty())
            out << "\nService time (from send) (" << s.latency.count()
                << " requests and exchanges, first byte sent to last byte received):\n";
        else
            out << "\nLatency (" << s.latency.count()
                << " requests and exchanges, first byte sent to last byte received):\n";
        table(s.latency);
    }
}

// Status codes, errors by kind and the most frequent messages.
void print_outcomes(std::ostream& out, const Report& r) {
    const Stats& s = r.result.total;
    bool any_status = false;
    for (auto c : s.status_codes) any_status |= c != 0;
    if (any_status) {
        out << "\nStatus codes:\n";
        for (std::size_t code = 0; code < s.status_codes.size(); ++code)
            if (s.status_codes[code]) out << "  " << code << ": " << s.status_codes[code] << "\n";
    }
    if (s.errors) {
        out << "\nErrors by kind:\n";
        for (std::size_t k = 0; k < kErrorKindCount; ++k)
            if (s.errors_by_kind[k])
                out << "  " << to_string(static_cast<ErrorKind>(k)) << ": " << s.errors_by_kind[k] << "\n";
    }
    if (!s.messages.empty()) {
        out << "\nWhy (first distinct messages):\n";
        std::vector<std::pair<std::uint64_t, std::string>> sorted;
        for (auto& [m, n] : s.messages) sorted.emplace_back(n, m);
        std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.first > b.first; });
        for (std::size_t i = 0; i < sorted.size() && i < 10; ++i)
            out << "  " << lpad(std::to_string(sorted[i].first), 8) << "  " << sorted[i].second << "\n";
    }
}

// One row per request name.
void print_labels(std::ostream& out, const Report& r) {
    const Stats& s = r.result.total;
    if (!s.labels.empty()) {
        std::size_t w = 4;
        for (auto& [name, l] : s.labels) w = std::max(w, std::min<std::size_t>(name.size(), 40));
        out << "\nPer name:\n  " << pad("Name", w) << "  " << lpad("Count", 9) << "  " << lpad("Errors", 7)
            << "  " << lpad("p50", 10) << "  " << lpad("p95", 10) << "  " << lpad("p99", 10) << "  "
            << lpad("max", 10) << "\n";
        for (auto& [name, l] : s.labels) {
            if (!l.count) continue;
            out << "  " << pad(name.size() > 40 ? name.substr(0, 37) + "..." : name, w) << "  "
                << lpad(std::to_string(l.count), 9) << "  " << lpad(std::to_string(l.errors), 7) << "  "
                << lpad(ms(l.latency.value_at_quantile(0.5)), 10) << "  "
                << lpad(ms(l.latency.value_at_quantile(0.95)), 10) << "  "
                << lpad(ms(l.latency.value_at_quantile(0.99)), 10) << "  " << lpad(ms(l.latency.max()), 10)
                << "\n";
        }
        auto has = [&](std::string_view prefix) {
            return std::any_of(s.labels.begin(), s.labels.end(), [&](const auto& e) { return e.first.rfind(prefix, 0) == 0; });
        };
        if (has("group "))
            out << "  (group rows time a test's group() as a whole: not in the latency above; their requests are)\n";
        if (has("WS connect "))
            out << "  (WS connect rows time WebSocket handshakes: not in the latency above, which times the exchanges)\n";
    }
}

// One row per task of a weighted mix.
void print_tasks(std::ostream& out, const Report& r) {
    const Stats& s = r.result.total;
    if (!s.tasks.empty()) {
        std::uint32_t weights = 0;
        for (const auto& t : r.tasks) weights += t.weight;
        std::size_t w = 4;
        for (auto& [name, t] : s.tasks) w = std::max(w, std::min<std::size_t>(name.size(), 40));
        out << "\nPer task:\n  " << pad("Task", w) << "  " << lpad("Hits", 9) << "  " << lpad("Share", 6) << "  "
            << lpad("Asked", 6) << "  " << lpad("Failures", 8) << "  " << lpad("Errors", 7) << "  "
            << lpad("p50", 10) << "  " << lpad("p95", 10) << "  " << lpad("max", 10) << "\n";
        std::uint64_t hits = 0;
        for (auto& [name, t] : s.tasks) hits += t.count;
        for (auto& [name, t] : s.tasks) {
            if (!t.count) continue;
            std::string weight = "-";
            for (const auto& info : r.tasks)
                if (info.name == name && weights)
                    weight = fixed(100.0 * info.weight / weights, 1) + "%";
            out << "  " << pad(name.size() > 40 ? name.substr(0, 37) + "..." : name, w) << "  "
                << lpad(std::to_string(t.count), 9) << "  "
                << lpad(fixed(hits ? 100.0 * double(t.count) / double(hits) : 0, 1) + "%", 6) << "  "
                << lpad(weight, 6) << "  " << lpad(std::to_string(t.failures), 8) << "  "
                << lpad(std::to_string(t.errors), 7) << "  " << lpad(ms(t.duration.value_at_quantile(0.5)), 10)
                << "  " << lpad(ms(t.duration.value_at_quantile(0.95)), 10) << "  " << lpad(ms(t.duration.max()), 10)
                << "\n";
        }
        out << "  (a task's time is its whole hit, setUp to tearDown; Asked is its weight's share)\n";
    }
}

// The test's own metrics.
void print_metrics(std::ostream& out, const Report& r) {
    const Stats& s = r.result.total;
    const double secs = seconds(r.result.elapsed);
    if (!s.metrics.empty()) {
        std::size_t w = 4;
        for (auto& [name, m] : s.metrics) w = std::max(w, std::min<std::size_t>(name.size(), 40));
        out << "\nCustom metrics:\n  " << pad("Name", w) << "  " << pad("Kind", 7) << "  " << lpad("Count", 9)
            << "  Value\n";
        for (auto& [name, m] : s.metrics) {
            if (!m.count) continue;
            out << "  " << pad(name.size() > 40 ? name.substr(0, 37) + "..." : name, w) << "  "
                << pad(std::string(to_string(m.kind)), 7) << "  " << lpad(std::to_string(m.count), 9) << "  "
                << describe_metric(m, secs) << "\n";
        }
    }
}

// One row per cycle.
void print_cycles(std::ostream& out, const Report& r) {
    const Plan& plan = r.spec.plan;
    if (!r.result.cycles.empty()) {
        out << "\nCycles:\n  " << lpad("Cycle", 5) << "  " << lpad(plan.open() ? "Rate" : "Users", 7) << "  "
            << lpad("Hits", 9) << "  "
            << lpad("Duration", 9) << "  " << lpad("RPS", 9) << "  " << lpad("Success", 8) << "  "
            << lpad("p50", 10) << "  " << lpad("p95", 10) << "  " << lpad("p99", 10) << "\n";
        for (auto& c : r.result.cycles) {
            const Stats& cs = c.stats;
            double cs_secs = seconds(c.elapsed);
            double success = cs.hits ? 100.0 * double(cs.successes) / double(cs.hits) : 0;
            // Open model: the cycle's asked rate, and its latency from schedule.
            const Histogram& h = cs.latency_from_schedule.empty() ? cs.latency : cs.latency_from_schedule;
            std::string first = plan.open() && c.index < plan.cycles.size()
                                    ? fixed(plan.cycles[c.index].rate, plan.cycles[c.index].rate < 10 ? 2 : 0)
                                    : std::to_string(c.users);
            out << "  " << lpad(std::to_string(c.index + 1), 5) << "  " << lpad(first, 7)
                << "  " << lpad(std::to_string(cs.hits), 9) << "  " << lpad(fixed(cs_secs, 2) + " s", 9)
                << "  " << lpad(fixed(cs_secs > 0 ? cs.hits / cs_secs : 0, 1), 9) << "  "
                << lpad(fixed(success, 1) + "%", 8) << "  " << lpad(ms(h.value_at_quantile(0.5)), 10)
                << "  " << lpad(ms(h.value_at_quantile(0.95)), 10) << "  "
                << lpad(ms(h.value_at_quantile(0.99)), 10) << "\n";
        }
    }
}

// Each threshold, passed or not, with what was measured.
void print_thresholds(std::ostream& out, const Report& r) {
    if (!r.thresholds.empty()) {
        auto results = threshold_results(r);
        std::size_t passed = 0;
        for (auto& t : results) passed += t.ok;
        out << "\nThresholds: " << passed << " of " << results.size() << " passed\n";
        for (std::size_t i = 0; i < results.size(); ++i) {
            const auto& res = results[i];
            const Threshold& t = *res.threshold;
            const std::string metric = (t.name ? *t.name + ":" : "") + t.metric;
            out << "  " << (res.ok ? "\u2713" : "\u2717") << " " << t.expression << "  ";
            if (res.measured) {
                out << metric << " = " << format_threshold_value(*res.measured, t.unit);
                if (!res.detail.empty()) out << " (" << res.detail << ")";
            } else {
                out << "not measured: " << res.detail;
            }
            if (r.aborted && r.aborted->index == i)
                out << "; stopped the run at " << fixed(seconds(r.aborted->at), 1) << " s ("
                    << format_threshold_value(r.aborted->measured, t.unit) << " then)";
            out << "\n";
        }
    }
}

}  // namespace

void print_summary(std::ostream& out, const Report& r) {
    print_counts(out, r);
    print_plan(out, r);
    print_traffic(out, r);
    print_latency(out, r);
    print_outcomes(out, r);
    print_labels(out, r);
    print_tasks(out, r);
    print_metrics(out, r);
    print_cycles(out, r);
    print_thresholds(out, r);
    out.flush();
}

std::vector<ThresholdResult> threshold_results(const Report& r) {
    return evaluate(r.thresholds, ThresholdInput{&r.result.total, r.result.elapsed, r.spec.plan.open()});
}

namespace {

namespace json = boost::json;

json::object histogram_json(const Histogram& h) {
    json::object o;
    o["count"] = h.count();
    o["min_ns"] = h.min();
    o["max_ns"] = h.max();
    o["mean_ns"] = h.mean();
    o["clamped"] = h.clamped();
    json::object q;
    for (auto& [name, v] : kQuantiles) q[name] = h.value_at_quantile(v);
    q["max"] = h.max();
    o["percentiles_ns"] = std::move(q);
    // The raw histogram: [bucket index, count] pairs. A bucket's bounds follow
    // from the formula in docs/protocol.md, so percentiles can be recomputed
    // and histograms merged exactly.
    json::array buckets;
    for (auto& [i, c] : h.to_sparse()) buckets.push_back(json::array{i, c});
    o["buckets"] = std::move(buckets);
    o["sum_ns"] = h.sum();
    return o;
}

json::object stats_json(const Stats& s) {
    json::object o;
    o["hits"] = s.hits;
    o["successes"] = s.successes;
    o["failures"] = s.failures;
    o["errors"] = s.errors;
    json::object kinds;
    for (std::size_t k = 0; k < kErrorKindCount; ++k)
        kinds[to_string(static_cast<ErrorKind>(k))] = s.errors_by_kind[k];
    o["errors_by_kind"] = std::move(kinds);
    o["interrupted"] = s.interrupted;
    o["skipped"] = s.skipped;
    o["start_failures"] = s.start_failures;
    o["scheduled"] = s.scheduled;
    o["dropped"] = s.dropped;
    o["late"] = s.late;
    o["users_out_of_data"] = s.users_out_of_data;
    o["requests"] = s.requests;
    o["request_errors"] = s.request_errors;
    o["bytes_sent"] = s.bytes_sent;
    o["bytes_received"] = s.bytes_received;
    json::object codes;
    for (std::size_t c = 0; c < s.status_codes.size(); ++c)
        if (s.status_codes[c]) codes[std::to_string(c)] = s.status_codes[c];
    o["status_codes"] = std::move(codes);
    o["ws"] = json::object{{"opened", s.ws_opened},
                           {"closed", s.ws_closed},
                           {"messages_sent", s.ws_messages_sent},
                           {"messages_received", s.ws_messages_received},
                           {"bytes_sent", s.ws_bytes_sent},
                           {"bytes_received", s.ws_bytes_received}};
    o["tcp"] = json::object{{"opened", s.tcp_opened},
                            {"closed", s.tcp_closed},
                            {"bytes_sent", s.tcp_bytes_sent},
                            {"bytes_received", s.tcp_bytes_received}};
    o["latency"] = histogram_json(s.latency);
    o["latency_from_schedule"] = histogram_json(s.latency_from_schedule);
    json::object labels;
    for (auto& [name, l] : s.labels) {
        if (!l.count) continue;
        labels[name] = json::object{{"count", l.count}, {"errors", l.errors}, {"latency", histogram_json(l.latency)}};
    }
    o["names"] = std::move(labels);
    json::object tasks;
    for (auto& [name, t] : s.tasks) {
        if (!t.count) continue;
        tasks[name] = json::object{{"count", t.count},
                                   {"failures", t.failures},
                                   {"errors", t.errors},
                                   {"duration", histogram_json(t.duration)}};
    }
    o["tasks"] = std::move(tasks);
    json::object metrics;
    for (auto& [name, m] : s.metrics) {
        if (!m.count) continue;
        // Every key always there; those of another kind are null.
        json::object mo{{"kind", to_string(m.kind)}, {"count", m.count}, {"min", m.min}, {"max", m.max},
                        {"total", nullptr}, {"last", nullptr}, {"true", nullptr}, {"rate", nullptr},
                        {"mean", nullptr}, {"percentiles", nullptr}, {"buckets", nullptr}};
        switch (m.kind) {
            case MetricKind::counter: mo["total"] = m.sum; break;
            case MetricKind::gauge: mo["last"] = m.last; break;
            case MetricKind::rate:
                mo["true"] = m.nonzero;
                mo["rate"] = double(m.nonzero) / double(m.count);
                break;
            case MetricKind::trend: {
                mo["total"] = m.sum;
                mo["mean"] = m.mean();
                json::object q;
                for (auto& [qn, qv] : kQuantiles) q[qn] = m.quantile(qv);
                mo["percentiles"] = std::move(q);
                json::array buckets;
                if (m.values)
                    for (auto& [i, c] : m.values->to_sparse()) buckets.push_back(json::array{i, c});
                mo["buckets"] = std::move(buckets);
                break;
            }
        }
        metrics[name] = std::move(mo);
    }
    o["metrics"] = std::move(metrics);
    json::object messages;
    for (auto& [m, n] : s.messages) messages[m] = n;
    o["messages"] = std::move(messages);
    return o;
}

json::object plan_json(const Report& r) {
    const RunSpec& spec = r.spec;
    const Plan& p = spec.plan;
    json::object o;
    o["model"] = to_string(p.model);
    json::array cycles;
    for (const auto& c : p.cycles) {
        json::object co;
        if (p.open()) co["rate"] = c.rate;
        else {
            co["users"] = c.users;
            if (!c.duration) co["hits_per_user"] = c.hits;
        }
        co["duration_s"] = c.duration ? json::value(seconds(*c.duration)) : json::value(nullptr);
        cycles.push_back(std::move(co));
    }
    o["cycles"] = std::move(cycles);
    if (p.open()) {
        o["ramp_s"] = seconds(p.ramp);
        o["arrivals"] = to_string(p.arrivals);
        o["max_users"] = p.max_users;
        o["arrival_window_s"] = seconds(p.arrival_window);
        o["split"] = describe_rate_split(p, std::max(1u, r.agents));
    } else {
        o["sleep_min_s"] = seconds(p.sleep.min);
        o["sleep_max_s"] = seconds(p.sleep.max);
        o["startup_delay_s"] = seconds(p.startup_delay);
    }
    o["graceful_stop_s"] = seconds(p.graceful_stop);
    o["timeout_s"] = seconds(spec.client.timeout);
    o["connect_timeout_s"] = seconds(spec.client.connect_timeout);
    o["interval_s"] = seconds(spec.interval);
    o["threads"] = r.threads;
    o["agents"] = r.agents;
    json::object data;
    for (const auto& d : spec.data) data[d.name] = d.path;
    o["data"] = std::move(data);
    o["data_exhausted"] = spec.data_exhausted == DataExhaustion::stop ? "stop" : "wrap";
    json::array tasks;
    for (const auto& t : r.tasks) {
        json::object to{{"name", t.name}, {"weight", t.weight}};
        to["think_min_s"] = t.think ? json::value(seconds(t.think->min)) : json::value(nullptr);
        to["think_max_s"] = t.think ? json::value(seconds(t.think->max)) : json::value(nullptr);
        tasks.push_back(std::move(to));
    }
    o["tasks"] = std::move(tasks);
    return o;
}

json::object quantiles_json(const Histogram& h) {
    json::object q;
    for (auto& [name, v] : kQuantiles) q[name] = h.value_at_quantile(v);
    q["max"] = h.max();
    q["count"] = h.count();
    return q;
}

json::array series_json(const Report& r) {
    json::array rows;
    for (const auto& row : r.series) {
        const double span = row.end_s - row.start_s;
        json::object o;
        o["start_s"] = row.start_s;
        o["end_s"] = row.end_s;
        o["cycle"] = row.cycle + 1;
        o["hits"] = row.hits;
        o["successes"] = row.successes;
        o["errors"] = row.errors;
        o["failures"] = row.failures;
        o["requests"] = row.requests;
        o["hits_per_s"] = span > 0 ? double(row.hits) / span : 0.0;
        o["requests_per_s"] = span > 0 ? double(row.requests) / span : 0.0;
        o["scheduled"] = row.scheduled;
        o["dropped"] = row.dropped;
        o["late"] = row.late;
        o["interrupted"] = row.interrupted;
        o["users"] = row.users;
        o["users_busy"] = row.users_busy;
        o["latency_ns"] = quantiles_json(row.latency);
        o["latency_from_schedule_ns"] = quantiles_json(row.latency_from_schedule);
        rows.push_back(std::move(o));
    }
    return rows;
}

}  // namespace

std::string to_json(const Report& r) {
    json::object o;
    o["test"] = r.test;
    o["started"] = timestamp(r.result.started);
    o["started_unix"] = std::chrono::duration<double>(r.result.started.time_since_epoch()).count();
    double secs = seconds(r.result.elapsed);
    o["duration_s"] = secs;
    o["rps"] = secs > 0 ? double(r.result.total.hits) / secs : 0.0;
    o["agents"] = r.agents;
    o["stopped"] = r.result.stopped;
    o["incomplete"] = r.incomplete;
    json::array events;
    for (auto& e : r.events) events.push_back(json::string(e));
    o["events"] = std::move(events);
    o["loads_version"] = LOADS_VERSION;
    o["host"] = host_name();
    json::array agent_ids;
    for (auto& a : r.agent_ids) agent_ids.push_back(json::string(a));
    o["agent_ids"] = std::move(agent_ids);
    json::array agent_hosts;
    for (auto& a : r.agent_hosts)
        agent_hosts.push_back(json::object{
            {"id", a.id}, {"host", a.host}, {"pid", a.pid}, {"threads", a.threads}, {"version", a.version}});
    o["agent_hosts"] = std::move(agent_hosts);
    o["total"] = stats_json(r.result.total);
    json::array cycles;
    for (auto& c : r.result.cycles) {
        json::object co = stats_json(c.stats);
        co["cycle"] = c.index + 1;
        co["users"] = c.users;
        if (r.spec.plan.open() && c.index < r.spec.plan.cycles.size()) co["rate"] = r.spec.plan.cycles[c.index].rate;
        co["duration_s"] = seconds(c.elapsed);
        cycles.push_back(std::move(co));
    }
    o["cycles"] = std::move(cycles);
    o["plan"] = plan_json(r);
    o["series"] = series_json(r);
    json::array thresholds;
    const auto results = threshold_results(r);
    for (std::size_t i = 0; i < results.size(); ++i) {
        const auto& res = results[i];
        const Threshold& t = *res.threshold;
        json::object to;
        to["expression"] = t.expression;
        to["metric"] = t.metric;
        to["name"] = t.name ? json::value(*t.name) : json::value(nullptr);
        to["operator"] = to_string(t.op);
        to["limit"] = t.limit;
        to["unit"] = to_string(t.unit);
        to["measured"] = res.measured ? json::value(*res.measured) : json::value(nullptr);
        to["ok"] = res.ok;
        to["aborted"] = r.aborted && r.aborted->index == i;
        thresholds.push_back(std::move(to));
    }
    o["thresholds"] = std::move(thresholds);
    o["exit_code"] = exit_code(r);
    return json::serialize(o) + "\n";
}

int exit_code(const Report& r) {
    const Stats& s = r.result.total;
    if (!r.thresholds.empty()) {
        for (const auto& t : threshold_results(r))
            if (!t.ok) return 3;
        if (s.hits == 0 || r.incomplete || (r.result.stopped && !r.aborted)) return 1;
        return 0;
    }
    if (s.hits == 0 || s.failures || s.errors || s.interrupted || s.dropped || r.result.stopped || r.incomplete)
        return 1;
    return 0;
}

}  // namespace loads::runner
