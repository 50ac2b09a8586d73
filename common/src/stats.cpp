#include "loads/stats.hpp"

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

TaskStats& Stats::task(std::string_view name) {
    if (auto it = tasks.find(name); it != tasks.end()) return it->second;
    if (tasks.size() >= kMaxTasks) return tasks["(other)"];
    return tasks.emplace(std::string(name), TaskStats{}).first->second;
}

LabelStats& Stats::label(std::string_view name) {
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
}

}  // namespace loads
