#include "loads/stats.hpp"

#include <algorithm>
#include <cmath>

namespace loads {

void LabelStats::merge(const LabelStats& o) {
    count += o.count;
    errors += o.errors;
    latency.merge(o.latency);
}

void TaskStats::merge(const TaskStats& o) {
    count += o.count;
    failures += o.failures;
    errors += o.errors;
    duration.merge(o.duration);
}

MetricStats::MetricStats(MetricKind k) : kind(k) {
    if (k == MetricKind::trend) values.emplace();
}

void MetricStats::add(double v, std::int64_t now_ns) {
    min = count ? std::min(min, v) : v;
    max = count ? std::max(max, v) : v;
    ++count;
    switch (kind) {
        case MetricKind::counter: sum += v; break;
        case MetricKind::gauge:
            if (now_ns >= last_at_ns) {
                last = v;
                last_at_ns = now_ns;
            }
            break;
        case MetricKind::rate: nonzero += v != 0; break;
        case MetricKind::trend: {
            sum += v;
            if (!values) values.emplace();
            const double scaled = std::clamp(v * kTrendScale, 0.0, 2.0 * double(Histogram::kMaxValue));
            values->record(static_cast<std::uint64_t>(std::llround(scaled)));
            break;
        }
    }
}

void MetricStats::merge(const MetricStats& o) {
    if (o.count == 0) return;
    min = count ? std::min(min, o.min) : o.min;
    max = count ? std::max(max, o.max) : o.max;
    count += o.count;
    nonzero += o.nonzero;
    sum += o.sum;
    if (o.last_at_ns >= last_at_ns) {
        last = o.last;
        last_at_ns = o.last_at_ns;
    }
    if (o.values) {
        if (!values) values.emplace();
        values->merge(*o.values);
    }
}

double MetricStats::quantile(double q) const {
    if (!values || values->empty()) return 0.0;
    if (q >= 1) return max;
    // The histogram's bucket bound, kept within the exact extremes.
    return std::clamp(double(values->value_at_quantile(q)) / kTrendScale, min, max);
}

MetricStats* Stats::metric(std::string_view name, MetricKind kind) {
    auto it = metrics.find(name);
    if (it == metrics.end()) {
        std::string key(name);
        if (metrics.size() >= kMaxMetrics) {
            key = "(other " + std::string(to_string(kind)) + "s)";
            it = metrics.find(key);
        }
        if (it == metrics.end()) it = metrics.emplace(std::move(key), MetricStats(kind)).first;
    }
    return it->second.kind == kind ? &it->second : nullptr;
}

TaskStats& Stats::task(std::string_view name) {
    if (auto it = tasks.find(name); it != tasks.end()) return it->second;
    if (tasks.size() >= kMaxTasks) return tasks["(other)"];
    return tasks.emplace(std::string(name), TaskStats{}).first->second;
}

namespace {

// `text` cut to at most `max` bytes of whole UTF-8 characters plus "...", or
// `text` itself when it fits.
std::string clipped(std::string_view text, std::size_t max) {
    std::size_t end = max;
    while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;  // not inside a character
    std::string out(text.substr(0, end));
    out += "...";
    return out;
}

}  // namespace

void Stats::note(std::string_view message) {
    std::string cut;
    if (message.size() > kMaxMessageText) message = cut = clipped(message, kMaxMessageText - 3);
    auto it = messages.find(message);
    if (it != messages.end()) ++it->second;
    else if (messages.size() < kMaxMessages) messages.emplace(std::string(message), 1);
    else ++messages["(other)"];
}

LabelStats& Stats::label(std::string_view name) {
    std::string cut;
    if (name.size() > kMaxLabelName) name = cut = clipped(name, kMaxLabelName - 3);
    if (auto it = labels.find(name); it != labels.end()) return it->second;
    if (labels.size() >= kMaxLabels) {
        if (auto it = labels.find(std::string_view("(other)")); it != labels.end()) return it->second;
        return labels["(other)"];
    }
    return labels.emplace(std::string(name), LabelStats{}).first->second;
}

void Stats::merge(const Stats& o) {
    hits += o.hits;
    successes += o.successes;
    failures += o.failures;
    errors += o.errors;
    for (std::size_t i = 0; i < errors_by_kind.size(); ++i) errors_by_kind[i] += o.errors_by_kind[i];
    interrupted += o.interrupted;
    start_failures += o.start_failures;
    skipped += o.skipped;
    scheduled += o.scheduled;
    dropped += o.dropped;
    late += o.late;
    users_out_of_data += o.users_out_of_data;

    requests += o.requests;
    request_errors += o.request_errors;
    bytes_sent += o.bytes_sent;
    bytes_received += o.bytes_received;
    for (std::size_t i = 0; i < status_codes.size(); ++i) status_codes[i] += o.status_codes[i];

    ws_opened += o.ws_opened;
    ws_closed += o.ws_closed;
    ws_messages_sent += o.ws_messages_sent;
    ws_messages_received += o.ws_messages_received;
    ws_bytes_sent += o.ws_bytes_sent;
    ws_bytes_received += o.ws_bytes_received;

    tcp_opened += o.tcp_opened;
    tcp_closed += o.tcp_closed;
    tcp_bytes_sent += o.tcp_bytes_sent;
    tcp_bytes_received += o.tcp_bytes_received;

    for (const auto& [message, count] : o.messages) {
        auto it = messages.find(message);
        if (it != messages.end()) it->second += count;
        else if (messages.size() < kMaxMessages) messages.emplace(message, count);
        else messages["(other)"] += count;
    }

    latency.merge(o.latency);
    latency_from_schedule.merge(o.latency_from_schedule);
    for (const auto& [name, row] : o.labels) label(name).merge(row);
    for (const auto& [name, row] : o.tasks) task(name).merge(row);
    for (const auto& [name, m] : o.metrics) {
        if (MetricStats* mine = metric(name, m.kind)) mine->merge(m);
        else  // only a name already taken by another kind
            note("custom metric \"" + name + "\" is a " + std::string(to_string(metrics.at(name).kind)) +
                 " and also came as a " + std::string(to_string(m.kind)) + ": those values are left out");
    }
}

void Stats::reset() {
    hits = successes = failures = errors = 0;
    errors_by_kind.fill(0);
    interrupted = scheduled = dropped = late = 0;
    users_out_of_data = 0;
    start_failures = skipped = 0;
    requests = request_errors = bytes_sent = bytes_received = 0;
    status_codes.fill(0);
    ws_opened = ws_closed = ws_messages_sent = ws_messages_received = ws_bytes_sent = ws_bytes_received = 0;
    tcp_opened = tcp_closed = tcp_bytes_sent = tcp_bytes_received = 0;
    messages.clear();
    latency.reset();
    latency_from_schedule.reset();
    for (auto& [name, row] : labels) {
        row.count = 0;
        row.errors = 0;
        row.latency.reset();
    }
    for (auto& [name, row] : tasks) row = TaskStats{};
    metrics.clear();
}

}  // namespace loads
