#include "thresholds.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace loads::runner {

std::string_view to_string(ThresholdOp op) {
    switch (op) {
        case ThresholdOp::lt: return "<";
        case ThresholdOp::le: return "<=";
        case ThresholdOp::gt: return ">";
        case ThresholdOp::ge: return ">=";
        case ThresholdOp::eq: return "==";
    }
    return "?";
}

std::string_view to_string(ThresholdUnit u) {
    switch (u) {
        case ThresholdUnit::ns: return "ns";
        case ThresholdUnit::percent: return "%";
        case ThresholdUnit::per_second: return "1/s";
        case ThresholdUnit::count: return "count";
    }
    return "?";
}

namespace {

constexpr double kMean = -1;
constexpr double kMin = -2;

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

bool is_count_metric(std::string_view m) {
    return m == "hits" || m == "requests" || m == "errors" || m == "failures" || m == "dropped" || m == "late" ||
           m == "interrupted" || m == "skipped";
}

constexpr const char* kKnown =
    "known metrics: p50 p90 p95 p99 p99.9 (any pN), max, min, mean, service_p95 and the like, "
    "hits, requests, errors, failures, dropped, late, interrupted, skipped, rps; per name (NAME:metric) "
    "the latency metrics, errors and count; per custom metric (NAME:stat) count, total, rate, value, min, max, "
    "mean, pN";

// Leading number of `s` (no sign), and what follows it.
std::optional<std::pair<double, std::string_view>> leading_number(std::string_view s) {
    if (s.empty() || !(std::isdigit(static_cast<unsigned char>(s.front())) || s.front() == '.')) return std::nullopt;
    double v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || !std::isfinite(v)) return std::nullopt;
    return std::pair{v, trim(s.substr(static_cast<std::size_t>(end - s.data())))};
}

bool compare(double v, ThresholdOp op, double limit) {
    switch (op) {
        case ThresholdOp::lt: return v < limit;
        case ThresholdOp::le: return v <= limit;
        case ThresholdOp::gt: return v > limit;
        case ThresholdOp::ge: return v >= limit;
        case ThresholdOp::eq: return v == limit;
    }
    return false;
}

double latency_of(const Histogram& h, double quantile) {
    if (quantile == kMean) return h.mean();
    if (quantile == kMin) return double(h.min());
    if (quantile >= 1) return double(h.max());
    return double(h.value_at_quantile(quantile));
}

struct Measure {
    std::optional<double> value;
    std::string detail;
};

// A threshold on a test's custom metric (t.custom, or NAME:count when the
// run has a custom metric NAME).
Measure measure_custom(const Threshold& t, const MetricStats& m, Duration elapsed) {
    const std::string& stat = t.metric;
    auto wrong = [&](const char* has) {
        return Measure{std::nullopt, "\"" + *t.name + "\" is a " + std::string(to_string(m.kind)) + ": it has " + has};
    };
    switch (m.kind) {
        case MetricKind::counter:
            if (stat == "count" || stat == "total") return {m.sum, {}};
            if (stat == "rate") {
                const double secs = std::chrono::duration<double>(elapsed).count();
                if (secs <= 0) return {std::nullopt, "no time elapsed"};
                return {m.sum / secs, "per second"};
            }
            return wrong("count (its total) and rate (per second)");
        case MetricKind::gauge:
            if (stat == "value" || stat == "last") return {m.last, {}};
            if (stat == "min") return {m.min, {}};
            if (stat == "max") return {m.max, {}};
            return wrong("value, min and max");
        case MetricKind::rate:
            if (stat == "rate")
                return {double(m.nonzero) / double(m.count),
                        std::to_string(m.nonzero) + " of " + std::to_string(m.count)};
            return wrong("rate");
        case MetricKind::trend:
            if (stat == "count") return {double(m.count), {}};
            if (stat == "mean") return {m.mean(), {}};
            if (stat == "min") return {m.min, {}};
            if (stat == "max") return {m.max, {}};
            if (t.quantile > 0 && t.quantile <= 1) return {m.quantile(t.quantile), {}};
            return wrong("pN, mean, min, max and count");
    }
    return {std::nullopt, "unknown kind"};
}

Measure measure(const Threshold& t, const Stats& s, Duration elapsed, bool open_model) {
    auto count = [](std::uint64_t n) { return std::optional<double>(double(n)); };
    if (t.name && (t.custom || t.metric == "count")) {
        auto it = s.metrics.find(*t.name);
        if (it != s.metrics.end() && it->second.count) return measure_custom(t, it->second, elapsed);
        if (t.custom) return {std::nullopt, "no custom metric named \"" + *t.name + "\" got a value"};
    }
    if (t.name) {
        auto it = s.labels.find(*t.name);
        if (it == s.labels.end() || it->second.count == 0)
            return {std::nullopt, "no request named \"" + *t.name + "\" appeared"};
        const LabelStats& l = it->second;
        if (t.latency()) {
            if (l.latency.empty()) return {std::nullopt, "no latency recorded"};
            return {latency_of(l.latency, t.quantile), {}};
        }
        if (t.metric == "count") return {count(l.count), {}};
        // errors
        if (t.unit == ThresholdUnit::percent)
            return {100.0 * double(l.errors) / double(l.count),
                    std::to_string(l.errors) + " of " + std::to_string(l.count)};
        return {count(l.errors), {}};
    }
    if (t.latency()) {
        const Histogram& h = t.service || !open_model ? s.latency : s.latency_from_schedule;
        if (h.empty()) return {std::nullopt, "no data"};
        return {latency_of(h, t.quantile), {}};
    }
    if (t.metric == "rps") {
        double secs = std::chrono::duration<double>(elapsed).count();
        return {secs > 0 ? double(s.hits) / secs : 0.0, {}};
    }
    std::uint64_t n = t.metric == "hits"          ? s.hits
                      : t.metric == "requests"    ? s.requests
                      : t.metric == "errors"      ? s.errors
                      : t.metric == "failures"    ? s.failures
                      : t.metric == "dropped"     ? s.dropped
                      : t.metric == "late"        ? s.late
                      : t.metric == "interrupted" ? s.interrupted
                      : t.metric == "skipped"     ? s.skipped
                                                  : 0;
    if (t.unit == ThresholdUnit::percent) {
        if (s.hits == 0) return {std::nullopt, "no hits"};
        return {100.0 * double(n) / double(s.hits), std::to_string(n) + " of " + std::to_string(s.hits) + " hits"};
    }
    return {count(n), {}};
}

}  // namespace

Parsed<Threshold> parse_threshold(std::string_view text) {
    Threshold t;
    t.expression = std::string(text);
    auto fail = [&](const std::string& why) {
        return Parsed<Threshold>{{}, "--threshold \"" + std::string(text) + "\": " + why};
    };

    std::string_view rest = text;
    if (auto colon = text.rfind(':'); colon != std::string_view::npos) {
        auto name = trim(text.substr(0, colon));
        if (name.empty()) return fail("empty request name before ':'");
        t.name = std::string(name);
        rest = text.substr(colon + 1);
    }
    auto opos = rest.find_first_of("<>=!");
    if (opos == std::string_view::npos)
        return fail("no comparison: expected METRIC<LIMIT, with <, <=, >, >= or == (e.g. p95<200ms, errors<1%)");
    std::size_t oplen = 1;
    const bool eq_next = opos + 1 < rest.size() && rest[opos + 1] == '=';
    switch (rest[opos]) {
        case '<': t.op = eq_next ? ThresholdOp::le : ThresholdOp::lt; oplen += eq_next; break;
        case '>': t.op = eq_next ? ThresholdOp::ge : ThresholdOp::gt; oplen += eq_next; break;
        case '=':
            if (!eq_next) return fail("'=' is not a comparison: use ==");
            t.op = ThresholdOp::eq;
            oplen = 2;
            break;
        default: return fail("'!' is not a comparison: use <, <=, >, >= or ==");
    }
    std::string metric(trim(rest.substr(0, opos)));
    std::string_view limit = trim(rest.substr(opos + oplen));
    if (metric.empty()) return fail("no metric before the comparison");
    if (limit.empty()) return fail("no limit after the comparison");
    if (limit.find_first_of("<>=!") != std::string_view::npos) return fail("one comparison per threshold");

    // The metric.
    for (auto& c : metric) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const std::string typed_metric = metric;
    if (metric.rfind("service_", 0) == 0) {
        t.service = true;
        metric.erase(0, 8);
    }
    // k6's spellings: avg, med, p(95).
    if (metric == "avg") metric = "mean";
    if (metric == "med") metric = "p50";
    if (metric.size() > 3 && metric.rfind("p(", 0) == 0 && metric.back() == ')')
        metric = "p" + metric.substr(2, metric.size() - 3);

    bool latency = true;
    if (metric == "mean") t.quantile = kMean;
    else if (metric == "min") t.quantile = kMin;
    else if (metric == "max") t.quantile = 1;
    else if (metric.size() > 1 && metric[0] == 'p' && (std::isdigit(static_cast<unsigned char>(metric[1])))) {
        auto n = leading_number(std::string_view(metric).substr(1));
        if (!n || !n->second.empty() || n->first <= 0 || n->first > 100)
            return fail("\"" + typed_metric + "\" is not a percentile: p50, p95, p99.9 (0 < N <= 100)");
        t.quantile = n->first / 100.0;
    } else {
        latency = false;
    }
    if (latency) {
        t.metric = (t.service ? "service_" : "") + metric;
        t.unit = ThresholdUnit::ns;
    } else {
        if (t.service)
            return fail("\"" + typed_metric + "\": service_ goes with a latency metric (service_p95, service_max, ...)");
        if (t.name) {
            if (metric == "total" || metric == "value" || metric == "last" || metric == "rate") {
                t.custom = true;  // a custom metric's
            } else if (metric != "errors" && metric != "count") {
                return fail("\"" + typed_metric + "\" per request name: a name has the latency metrics, errors and "
                            "count; a custom metric count, total, rate, value, last, min, max, mean, pN");
            }
        } else if (metric == "count") {
            return fail("count goes with a request name (\"GET /:count>100\"); for the whole run use hits or requests");
        } else if (metric == "rps") {
            // rps is the run's.
        } else if (!is_count_metric(metric)) {
            return fail("unknown metric \"" + typed_metric + "\"; " + kKnown);
        }
        t.metric = metric;
        t.unit = metric == "rps" ? ThresholdUnit::per_second : ThresholdUnit::count;
        if (t.custom) {
            auto num = leading_number(limit);
            if (!num) return fail("the limit \"" + std::string(limit) + "\" is not a number >= 0");
            auto [value, suffix] = *num;
            if (suffix == "%" && metric == "rate") t.limit = value / 100;
            else if (suffix.empty() || suffix == "k" || suffix == "M")
                t.limit = value * (suffix == "k" ? 1e3 : suffix == "M" ? 1e6 : 1);
            else
                return fail("a custom metric's limit is a plain number (k, M allowed; a rate's also N%)");
            return {std::move(t), {}};
        }
    }

    // The limit.
    auto num = leading_number(limit);
    if (!num) return fail("the limit \"" + std::string(limit) + "\" is not a number >= 0");
    auto [value, suffix] = *num;
    if (t.latency() && t.name && suffix.find_first_not_of("kM") == std::string_view::npos && suffix.size() <= 1) {
        // NAME:p95<250: a trend (or a gauge's min/max) of the test's own.
        t.custom = true;
        t.unit = ThresholdUnit::count;
        if (t.metric == "p100") t.metric = "max";
        if (t.quantile == 1 && t.metric != "max") t.metric = "max";
        t.limit = value * (suffix == "k" ? 1e3 : suffix == "M" ? 1e6 : 1);
        return {std::move(t), {}};
    }
    if (t.latency()) {
        double scale = 0;
        if (suffix == "ns") scale = 1;
        else if (suffix == "us" || suffix == "µs") scale = 1e3;
        else if (suffix == "ms") scale = 1e6;
        else if (suffix == "s") scale = 1e9;
        else if (suffix.empty())
            return fail("a latency limit needs a time unit (200ms, 0.2s, 500us, 100ns)");
        else
            return fail("unknown time unit \"" + std::string(suffix) + "\" (ns, us, ms, s)");
        t.limit = value * scale;
        return {std::move(t), {}};
    }
    if (suffix == "%") {
        if (t.metric != "errors" && t.metric != "failures")
            return fail("only errors and failures take a percentage (of hits; NAME:errors of NAME's count)");
        if (value > 100) return fail("a percentage is at most 100");
        t.unit = ThresholdUnit::percent;
        t.limit = value;
        return {std::move(t), {}};
    }
    if (t.unit == ThresholdUnit::per_second && suffix.size() >= 2 && suffix.substr(suffix.size() - 2) == "/s")
        suffix = trim(suffix.substr(0, suffix.size() - 2));
    double scale = 0;
    if (suffix.empty()) scale = 1;
    else if (suffix == "k") scale = 1e3;
    else if (suffix == "M") scale = 1e6;
    else if (suffix == "ms" || suffix == "s" || suffix == "us" || suffix == "ns")
        return fail("\"" + t.metric + "\" is not a latency: its limit takes no time unit");
    else
        return fail("unknown suffix \"" + std::string(suffix) + "\" (k, M" +
                    (t.metric == "errors" || t.metric == "failures" ? ", %" : "") +
                    (t.unit == ThresholdUnit::per_second ? ", /s" : "") + ")");
    t.limit = value * scale;
    return {std::move(t), {}};
}

std::vector<ThresholdResult> evaluate(const std::vector<Threshold>& thresholds, const ThresholdInput& in) {
    std::vector<ThresholdResult> out;
    out.reserve(thresholds.size());
    for (const auto& t : thresholds) {
        auto m = measure(t, *in.total, in.elapsed, in.open_model);
        ThresholdResult r;
        r.threshold = &t;
        r.measured = m.value;
        r.ok = m.value && compare(*m.value, t.op, t.limit);
        r.detail = std::move(m.detail);
        out.push_back(std::move(r));
    }
    return out;
}

bool can_fail_early(const Threshold& t) {
    const bool up_limit = t.op == ThresholdOp::lt || t.op == ThresholdOp::le || t.op == ThresholdOp::eq;
    const bool down_limit = t.op == ThresholdOp::gt || t.op == ThresholdOp::ge || t.op == ThresholdOp::eq;
    if (t.custom) {  // counts, totals (added values are >= 0) and maxima only grow; minima only fall
        if (t.metric == "count" || t.metric == "total" || t.metric == "max") return up_limit;
        if (t.metric == "min") return down_limit;
        return false;
    }
    if (t.unit == ThresholdUnit::count) return up_limit;        // counts only grow
    if (t.latency() && t.quantile >= 1) return up_limit;        // so does the max
    if (t.latency() && t.quantile == kMin) return down_limit;   // the min only falls
    return false;  // percentiles, means, percentages and rates can still move either way
}

std::optional<Doomed> doomed(const std::vector<Threshold>& thresholds, const Stats& running, bool open_model) {
    for (std::size_t i = 0; i < thresholds.size(); ++i) {
        const Threshold& t = thresholds[i];
        if (!can_fail_early(t)) continue;
        auto m = measure(t, running, Duration::zero(), open_model);
        if (!m.value || compare(*m.value, t.op, t.limit)) continue;
        const double v = *m.value;
        // == is broken for good only once the value has moved past the limit.
        const bool falls = (t.latency() && t.quantile == kMin) || (t.custom && t.metric == "min");
        if (t.op == ThresholdOp::eq && (falls ? v > t.limit : v < t.limit)) continue;
        return Doomed{i, v};
    }
    return std::nullopt;
}

AbortWatch::AbortWatch(const std::vector<Threshold>& thresholds, bool enabled, bool open_model)
    : thresholds_(thresholds), open_model_(open_model) {
    if (enabled)
        active_ = std::any_of(thresholds.begin(), thresholds.end(), [](const Threshold& t) { return can_fail_early(t); });
}

bool AbortWatch::add(const Stats& delta, Duration elapsed) {
    if (!active_ || fired_) return false;
    running_.merge(delta);
    auto d = doomed(thresholds_, running_, open_model_);
    if (!d) return false;
    fired_ = ThresholdAbort{d->index, d->measured, elapsed};
    return true;
}

std::string AbortWatch::describe() const {
    if (!fired_) return {};
    const Threshold& t = thresholds_[fired_->index];
    char secs[32];
    std::snprintf(secs, sizeof secs, "%.1f", std::chrono::duration<double>(fired_->at).count());
    return t.expression + " can no longer pass (" + (t.name ? *t.name + ":" : "") + t.metric + " = " +
           format_threshold_value(fired_->measured, t.unit) + " after " + secs + " s)";
}

std::string format_threshold_value(double v, ThresholdUnit u) {
    char buf[64];
    switch (u) {
        case ThresholdUnit::ns: {
            double ms = v / 1e6;
            std::snprintf(buf, sizeof buf, "%.*f ms", ms < 10 ? 3 : ms < 100 ? 2 : 1, ms);
            break;
        }
        case ThresholdUnit::percent: std::snprintf(buf, sizeof buf, "%.2f%%", v); break;
        case ThresholdUnit::per_second: std::snprintf(buf, sizeof buf, "%.1f/s", v); break;
        case ThresholdUnit::count:
            if (v == std::floor(v) && v < 1e18) std::snprintf(buf, sizeof buf, "%.0f", v);
            else std::snprintf(buf, sizeof buf, "%.2f", v);
            break;
    }
    return buf;
}

}  // namespace loads::runner
