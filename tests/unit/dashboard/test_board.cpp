// The dashboard's board: what the page and Prometheus get from a stream of
// snapshots and events.
#include "loads/dashboard/board.hpp"

#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include <map>
#include <regex>
#include <set>
#include <sstream>

using namespace std::chrono_literals;
using namespace loads;
namespace json = boost::json;

namespace {

proto::Snapshot snap(std::uint64_t seq, Duration elapsed, std::initializer_list<std::uint64_t> latencies_us,
                     std::uint64_t errors = 0) {
    proto::Snapshot s;
    s.run = "r1";
    s.seq = seq;
    s.elapsed = elapsed;
    s.agents_running = 2;
    s.users = 10;
    s.users_busy = 4;
    for (auto us : latencies_us) {
        s.delta.hits++;
        s.delta.successes++;
        s.delta.requests++;
        s.delta.latency.record(us * 1000);
        s.delta.label("GET /").count++;
        s.delta.label("GET /").latency.record(us * 1000);
    }
    for (std::uint64_t i = 0; i < errors; ++i) {
        s.delta.hits++;
        s.delta.count_error(ErrorKind::status);
    }
    return s;
}

// name{labels} -> value, from the exposition.
std::map<std::string, double> samples(const std::string& text) {
    std::map<std::string, double> out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        auto sp = line.rfind(' ');
        out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
    }
    return out;
}

}  // namespace

TEST_CASE("the histogram's buckets are cumulative and exact at their bounds") {
    dashboard::Board b;
    b.on_snapshot(snap(1, 500ms, {50, 900, 1000, 1003, 1004, 20000, 2'000'000}));
    auto m = samples(b.metrics_text());
    // 1 ms moves up to the top of its bucket: 1.003519 ms holds 1003 us but not 1004.
    CHECK(m["loads_latency_seconds_bucket{run=\"r1\",le=\"0.000100351\"}"] == 1);
    CHECK(m["loads_latency_seconds_bucket{run=\"r1\",le=\"0.001003519\"}"] == 4);
    CHECK(m["loads_latency_seconds_bucket{run=\"r1\",le=\"0.025034751\"}"] == 6);
    CHECK(m["loads_latency_seconds_bucket{run=\"r1\",le=\"+Inf\"}"] == 7);
    CHECK(m["loads_latency_seconds_count{run=\"r1\"}"] == 7);
    CHECK(m["loads_latency_seconds_sum{run=\"r1\"}"] == Approx(2.023957).epsilon(1e-9));
    CHECK(m["loads_requests_total{run=\"r1\"}"] == 7);
    CHECK(m["loads_name_requests_total{run=\"r1\",name=\"GET /\"}"] == 7);
    // Every bound is monotonic and every count too.
    double prev_le = 0, prev_count = 0;
    std::regex le_re("loads_latency_seconds_bucket\\{run=\"r1\",le=\"([0-9.]+)\"\\}");
    std::istringstream in(b.metrics_text());
    std::string line;
    while (std::getline(in, line)) {
        std::smatch mm;
        if (!std::regex_search(line, mm, le_re)) continue;
        const double le = std::stod(mm[1]);
        const double count = std::stod(line.substr(line.rfind(' ') + 1));
        CHECK(le > prev_le);
        CHECK(count >= prev_count);
        prev_le = le;
        prev_count = count;
    }
}

TEST_CASE("label values are escaped") {
    dashboard::Board b;
    auto s = snap(1, 100ms, {10});
    s.delta.label("say \"hi\"\\\n").count = 1;
    b.on_snapshot(s);
    auto text = b.metrics_text();
    CHECK(text.find("name=\"say \\\"hi\\\"\\\\\\n\"") != std::string::npos);
}

TEST_CASE("the summary replaces the merged deltas, and percentiles come from merged histograms") {
    dashboard::Board b;
    proto::RunEvent started{"r1", "started", "", "started on a0, a1", 1000, std::nullopt};
    b.on_run_event(started);
    b.on_snapshot(snap(1, 400ms, {1000, 1000}));
    b.on_snapshot(snap(2, 800ms, {1000, 1000}));
    b.on_snapshot(snap(3, 1200ms, {9000}));  // a new second closes the first point
    auto full = json::parse(b.full_json()).as_object();
    auto& run = full["runs"].as_array()[0].as_object();
    CHECK(run["state"] == "running");
    CHECK(run["agents"].as_array().size() == 2);
    CHECK(run["totals"].as_object()["hits"].as_int64() == 5);
    auto& pts = run["points"].as_array();
    REQUIRE(pts.size() == 2);
    // The first second: 4 hits over 0.8 s, p99 of its own histogram (1 ms), not an average.
    CHECK(pts[0].as_array()[2].to_number<double>() == Approx(5.0));
    CHECK(pts[0].as_array()[6].to_number<std::uint64_t>() <= 1'008'000);
    CHECK(pts[1].as_array()[6].to_number<std::uint64_t>() >= 9'000'000);

    proto::RunSummary sum;
    sum.run = "r1";
    sum.agents = {"a0", "a1"};
    sum.elapsed = 1500ms;
    sum.total = snap(0, 0ms, {1000, 1000, 1000, 1000, 9000, 3000}).delta;  // one the stream lost
    b.on_run_event(proto::RunEvent{"r1", "finished", "", "", 2000, sum});
    b.on_snapshot(snap(4, 1600ms, {1}));  // late: ignored
    auto m = samples(b.metrics_text());
    CHECK(m["loads_hits_total{run=\"r1\"}"] == 6);
    CHECK(m["loads_latency_seconds_count{run=\"r1\"}"] == 6);
    CHECK(m["loads_run_running{run=\"r1\"}"] == 0);
    CHECK(m["loads_agent_busy{agent=\"a0\"}"] == 0);
}

TEST_CASE("updates carry what changed, from the last point sent") {
    dashboard::Board b;
    b.on_snapshot(snap(1, 500ms, {100}));
    auto u1 = b.take_update();
    REQUIRE(u1);
    CHECK_FALSE(b.take_update());  // nothing new
    b.on_snapshot(snap(2, 1500ms, {100}));
    b.on_snapshot(snap(3, 2500ms, {100}));
    auto u2 = json::parse(*b.take_update()).as_object();
    auto& run = u2["runs"].as_array()[0].as_object();
    CHECK(run["points_from"].as_int64() == 0);
    CHECK(run["points"].as_array().size() == 3);  // two closed seconds and the open one
    b.on_snapshot(snap(4, 2700ms, {100}));
    auto u3 = json::parse(*b.take_update()).as_object();
    auto& run3 = u3["runs"].as_array()[0].as_object();
    CHECK(run3["points_from"].as_int64() == 2);
    CHECK(run3["points"].as_array().size() == 1);
}

TEST_CASE("a run first seen in its middle is marked, and keeps only ten runs") {
    dashboard::Board b;
    b.on_snapshot(snap(40, 40s, {100}));
    auto full = json::parse(b.full_json()).as_object();
    CHECK(full["runs"].as_array()[0].as_object()["joined_late"] == true);
    for (int i = 0; i < 15; ++i) {
        auto s = snap(1, 100ms, {100});
        s.run = "run" + std::to_string(i);
        b.on_snapshot(s);
    }
    full = json::parse(b.full_json()).as_object();
    CHECK(full["runs"].as_array().size() == dashboard::Board::kMaxRuns);
    CHECK(full["runs"].as_array().back().as_object()["id"] == "run14");
}

TEST_CASE("agents come from cluster events, run events and STATUS") {
    dashboard::Board b;
    proto::AgentInfo a0{"a0", "h0", 1, 2, "0.1.0"};
    b.on_cluster_event(proto::ClusterEvent{"agent-registered", a0, 5});
    b.on_run_event(proto::RunEvent{"r1", "started", "", "started on a0", 10, std::nullopt});
    auto m = samples(b.metrics_text());
    CHECK(m["loads_agent_busy{agent=\"a0\"}"] == 1);
    CHECK(m["loads_agents{state=\"busy\"}"] == 1);
    b.on_cluster_event(proto::ClusterEvent{"agent-lost", a0, 20});
    m = samples(b.metrics_text());
    CHECK(m["loads_agent_up{agent=\"a0\",host=\"h0\"}"] == 0);
    CHECK(m["loads_agent_lost_events_total"] == 1);
    b.on_bad_message("truncated");
    CHECK(samples(b.metrics_text())["loads_stream_messages_total{kind=\"bad\"}"] == 1);
}

TEST_CASE("each agent's hits, errors and failures come from the snapshots' per-agent list") {
    dashboard::Board b;
    b.on_run_event(proto::RunEvent{"r1", "started", "", "started on a0, a1", 10, std::nullopt});
    auto s1 = snap(1, 500ms, {100, 100, 100}, 2);
    s1.agents = {proto::SnapshotAgent{"a0", 3, 1, 0, 6, 2, "running"},
                 proto::SnapshotAgent{"a1", 2, 1, 1, 4, 2, "running"}};
    b.on_snapshot(s1);
    auto s2 = snap(2, 900ms, {100});
    s2.agents = {proto::SnapshotAgent{"a0", 4, 1, 0, 6, 3, "running"},
                 proto::SnapshotAgent{"a1", 2, 1, 1, 4, 0, "lost"}};
    b.on_snapshot(s2);

    auto full = json::parse(b.full_json()).as_object();
    auto& run = full["runs"].as_array().back().as_object();
    auto& figs = run["agent_figures"].as_array();
    REQUIRE(figs.size() == 2);
    auto& a0 = figs[0].as_object();
    CHECK(a0["id"].as_string() == "a0");
    CHECK(a0["hits"].to_number<std::uint64_t>() == 4);  // the latest, whole run
    CHECK(a0["errors"].to_number<std::uint64_t>() == 1);
    CHECK(a0["failures"].to_number<std::uint64_t>() == 0);
    CHECK(a0["users_busy"].to_number<std::uint64_t>() == 3);
    auto& a1 = figs[1].as_object();
    CHECK(a1["id"].as_string() == "a1");
    CHECK(a1["hits"].to_number<std::uint64_t>() == 2);
    CHECK(a1["failures"].to_number<std::uint64_t>() == 1);
    CHECK(a1["state"].as_string() == "lost");

    auto m = samples(b.metrics_text());
    CHECK(m["loads_agent_hits_total{run=\"r1\",agent=\"a0\"}"] == 4);
    CHECK(m["loads_agent_hits_total{run=\"r1\",agent=\"a1\"}"] == 2);
    CHECK(m["loads_agent_errors_total{run=\"r1\",agent=\"a1\"}"] == 1);
    CHECK(m["loads_agent_failures_total{run=\"r1\",agent=\"a1\"}"] == 1);

    // A snapshot without the list (a local run) keeps what is known.
    b.on_snapshot(snap(3, 1300ms, {100}));
    full = json::parse(b.full_json()).as_object();
    CHECK(full["runs"].as_array().back().as_object()["agent_figures"].as_array().size() == 2);
}

TEST_CASE("a long run keeps a bounded series that still covers all of it, with exact counts") {
    dashboard::Board b;
    // Three hours at two snapshots a second, 3 hits each; second 5000 is slow.
    const int seconds = 3 * 3600;
    std::uint64_t seq = 0;
    for (int sec = 0; sec < seconds; ++sec) {
        for (int half = 0; half < 2; ++half) {
            auto s = snap(++seq, std::chrono::milliseconds(sec * 1000 + half * 500 + 400),
                          {1000, 1000, sec == 5000 ? 90'000u : 1000u});
            b.on_snapshot(s);
        }
        if (sec == 3600) {
            // At one hour nothing is compacted yet: a point a second.
            auto run = json::parse(b.full_json()).as_object()["runs"].as_array()[0].as_object();
            CHECK(run["point_span_s"].as_int64() == 1);
            CHECK(run["points"].as_array().size() == 3601);  // seconds 0..3600, the open one last
        }
        if (sec == 7000) (void)b.take_update();  // a page has everything so far
    }
    // The compaction (at 7200 s) changed every point: the next update carries them all.
    auto u = json::parse(*b.take_update()).as_object()["runs"].as_array()[0].as_object();
    CHECK(u["points_from"].as_int64() == 0);
    auto run = json::parse(b.full_json()).as_object()["runs"].as_array()[0].as_object();
    auto& pts = run["points"].as_array();
    CHECK(run["point_span_s"].as_int64() == 2);
    CHECK(pts.size() <= dashboard::Board::kMaxPoints + 1);
    CHECK(pts.size() >= seconds / 2);
    // The whole run: from its first second to its last.
    CHECK(pts.front().as_array()[0].to_number<double>() < 2.0);
    CHECK(pts.back().as_array()[0].to_number<double>() > seconds - 1);
    // Counts stay exact: 6 hits a second in every closed point, whatever it covers.
    double hits = 0;
    bool slow_seen = false;
    for (std::size_t i = 0; i + 1 < pts.size(); ++i) {
        auto& p = pts[i].as_array();
        const double t = p[0].to_number<double>();
        const double prev_t = i ? pts[i - 1].as_array()[0].to_number<double>() : 0.0;
        hits += p[2].to_number<double>() * (t - (i ? prev_t : 0.0));
        // The slow second's p99 survives the merge (the highest, not an average).
        if (prev_t < 5000.5 && t >= 5000.5) slow_seen = p[6].to_number<std::uint64_t>() >= 90'000'000;
    }
    CHECK(slow_seen);
    CHECK(hits == Approx(6.0 * (pts[pts.size() - 2].as_array()[0].to_number<double>())).epsilon(0.001));
    CHECK(u["points"].as_array().size() == pts.size());
}

TEST_CASE("agent churn is bounded: the ones lost longest ago are forgotten") {
    dashboard::Board b;
    for (std::size_t i = 0; i < dashboard::Board::kMaxAgents + 50; ++i) {
        proto::AgentInfo a{"agent-" + std::to_string(i), "h", 1, 1, "0.1.0"};
        b.on_cluster_event(proto::ClusterEvent{"agent-registered", a, std::int64_t(i)});
        if (i < 100) b.on_cluster_event(proto::ClusterEvent{"agent-lost", a, std::int64_t(i)});
    }
    auto agents = json::parse(b.full_json()).as_object()["cluster"].as_object()["agents"].as_array();
    CHECK(agents.size() == dashboard::Board::kMaxAgents);
    std::set<std::string> ids;
    for (auto& a : agents) ids.insert(std::string(a.as_object().at("id").as_string()));
    CHECK(ids.count("agent-0") == 0);   // lost first, forgotten first
    CHECK(ids.count("agent-49") == 0);
    CHECK(ids.count("agent-50") == 1);  // lost too, but more recently
    CHECK(ids.count("agent-10049") == 1);
}
