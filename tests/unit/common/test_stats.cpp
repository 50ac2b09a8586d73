#include "loads/stats.hpp"

#include <catch2/catch.hpp>

using loads::ErrorKind;
using loads::Stats;

namespace {
Stats sample(std::uint64_t base) {
    Stats s;
    s.hits = base + 3;
    s.successes = base + 1;
    s.failures = 1;
    s.count_error(ErrorKind::timeout);
    s.requests = base * 2;
    s.bytes_received = base * 100;
    s.count_status(200);
    s.count_status(503);
    s.count_status(777);  // out of range: counted under 0
    s.ws_opened = base;
    s.ws_bytes_received = base * 10;
    s.tcp_opened = 1;
    s.note("failure: greeting");
    for (std::uint64_t i = 1; i <= base; ++i) {
        s.latency.record(i * 1000);
        s.label("GET /").count++;
        s.label("GET /").latency.record(i * 1000);
    }
    s.label("login").errors = 1;
    return s;
}
}  // namespace

TEST_CASE("stats merge adds every figure") {
    Stats a = sample(10), b = sample(20);
    Stats m;
    m.merge(a);
    m.merge(b);
    REQUIRE(m.hits == a.hits + b.hits);
    REQUIRE(m.successes == 32);
    REQUIRE(m.errors == 2);
    REQUIRE(m.errors_by_kind[static_cast<std::size_t>(ErrorKind::timeout)] == 2);
    REQUIRE(m.status_codes[200] == 2);
    REQUIRE(m.status_codes[503] == 2);
    REQUIRE(m.status_codes[0] == 2);
    REQUIRE(m.bytes_received == 3000);
    REQUIRE(m.ws_opened == 30);
    REQUIRE(m.ws_bytes_received == 300);
    REQUIRE(m.tcp_opened == 2);
    REQUIRE(m.messages.at("failure: greeting") == 2);
    REQUIRE(m.latency.count() == 30);
    REQUIRE(m.labels.at("GET /").count == 30);
    REQUIRE(m.labels.at("GET /").latency.count() == 30);
    REQUIRE(m.labels.at("login").errors == 2);

    Stats other_order;
    other_order.merge(b);
    other_order.merge(a);
    REQUIRE(other_order == m);
}

TEST_CASE("reset zeroes figures but keeps label rows in place") {
    Stats s = sample(5);
    auto* row = &s.label("GET /");
    s.reset();
    REQUIRE_FALSE(s.labels.empty());  // label rows remain
    REQUIRE(s.hits == 0);
    REQUIRE(s.latency.empty());
    REQUIRE(&s.label("GET /") == row);
    REQUIRE(row->count == 0);
    REQUIRE(row->latency.empty());
    REQUIRE(s.messages.empty());
}

TEST_CASE("labels and messages fold into (other) past their limits") {
    Stats s;
    for (std::size_t i = 0; i < Stats::kMaxLabels + 10; ++i) s.label("name " + std::to_string(i)).count++;
    REQUIRE(s.labels.size() == Stats::kMaxLabels + 1);
    REQUIRE(s.labels.at("(other)").count == 10);
    for (std::size_t i = 0; i < Stats::kMaxMessages + 5; ++i) s.note("message " + std::to_string(i));
    REQUIRE(s.messages.size() == Stats::kMaxMessages + 1);
    REQUIRE(s.messages.at("(other)") == 5);
}

TEST_CASE("custom metrics merge exactly: counters add, gauges keep the latest, rates and trends add up") {
    using loads::MetricKind;
    Stats whole, a, b;
    auto add = [](Stats& s, const char* name, MetricKind k, double v, std::int64_t at = 0) {
        REQUIRE(s.metric(name, k));
        s.metric(name, k)->add(v, at);
    };
    for (int i = 0; i < 10; ++i) {
        Stats& part = i % 2 ? a : b;
        for (Stats* s : {&whole, &part}) {
            add(*s, "items", MetricKind::counter, i);
            add(*s, "queue", MetricKind::gauge, 100 - i, 1000 + i);
            add(*s, "hit", MetricKind::rate, i % 3 == 0);
            add(*s, "ms", MetricKind::trend, i * 1.5);
        }
    }
    Stats merged;
    merged.merge(a);
    merged.merge(b);
    CHECK(merged == whole);
    const auto& m = merged.metrics;
    CHECK(m.at("items").sum == 45);
    CHECK(m.at("queue").last == 91);  // set last (at 1009), though its part was merged first
    CHECK(m.at("queue").min == 91);
    CHECK(m.at("queue").max == 100);
    CHECK(m.at("hit").nonzero == 4);
    CHECK(m.at("hit").count == 10);
    CHECK(m.at("ms").count == 10);
    CHECK(m.at("ms").mean() == Approx(6.75));
    CHECK(m.at("ms").quantile(1.0) == 13.5);
    CHECK(m.at("ms").quantile(0.5) == Approx(6.0).epsilon(0.01));
}

TEST_CASE("a custom metric name keeps its kind, and names past the cap fold per kind") {
    using loads::MetricKind;
    Stats s;
    s.metric("x", MetricKind::counter)->add(1, 0);
    CHECK(s.metric("x", MetricKind::trend) == nullptr);
    Stats other;
    other.metric("x", MetricKind::trend)->add(5, 0);
    s.merge(other);
    CHECK(s.metrics.at("x").kind == MetricKind::counter);
    CHECK(s.metrics.at("x").sum == 1);
    REQUIRE(s.messages.size() == 1);
    CHECK(s.messages.begin()->first.find("\"x\" is a counter and also came as a trend") != std::string::npos);

    for (std::size_t i = 1; i < Stats::kMaxMetrics; ++i) s.metric("c" + std::to_string(i), MetricKind::counter)->add(1, 0);
    CHECK(s.metrics.size() == Stats::kMaxMetrics);
    s.metric("late one", MetricKind::counter)->add(2, 0);
    s.metric("late two", MetricKind::trend)->add(2, 0);
    CHECK(s.metrics.at("(other counters)").sum == 2);
    CHECK(s.metrics.at("(other trends)").count == 1);
    CHECK(s.metrics.count("late one") == 0);
}

TEST_CASE("long messages and label names are cut to what a broker takes in one batch") {
    Stats s;
    const std::string long_text(5000, 'x');
    s.note(long_text);
    s.note(long_text + "y");  // differs only past the cut: the same row
    REQUIRE(s.messages.size() == 1);
    const auto& [text, count] = *s.messages.begin();
    CHECK(count == 2);
    CHECK(text.size() == Stats::kMaxMessageText);
    CHECK(text.substr(text.size() - 3) == "...");
    // A cut never splits a UTF-8 character: 'é' is 2 bytes, so 996 bytes of
    // x then 'é' puts a character across byte 997.
    Stats u;
    u.note(std::string(996, 'x') + "\xc3\xa9" + std::string(100, 'z'));
    CHECK(u.messages.begin()->first == std::string(996, 'x') + "...");
    s.label(std::string(3000, 'n')).count += 1;
    s.label(std::string(3000, 'n') + "tail").count += 1;
    REQUIRE(s.labels.size() == 1);
    CHECK(s.labels.begin()->first.size() == Stats::kMaxLabelName);
    CHECK(s.labels.begin()->second.count == 2);
    const std::string exact(Stats::kMaxMessageText, 'e');  // at the bound: kept whole
    Stats e;
    e.note(exact);
    CHECK(e.messages.begin()->first == exact);
}
