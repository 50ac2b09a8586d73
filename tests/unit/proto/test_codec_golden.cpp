// The codec's bytes, pinned: every message of sample_messages.hpp (with
// fewer latencies), and a few
// more that reach what those do not (tasks, custom metrics, a STATUS without
// connections, a snapshot's duration), encoded and compared byte for byte
// with codec_golden.txt, recorded from the encoder before its field lists
// (issue 14). A difference is a change of the wire: docs/protocol.md and this
// file change together, and on purpose. On a mismatch the test writes what it
// got to codec_golden.actual.txt in its working directory, to compare or,
// once the change is meant, to copy over codec_golden.txt.
#include "loads/proto/messages.hpp"

#include "sample_messages.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace loads;
using namespace loads::proto;
using namespace loads::proto::samples;
using namespace std::chrono_literals;

namespace {

void lighten(Stats& s);

// Stats with what sample_stats leaves empty: tasks and one custom metric of
// each kind.
Stats stats_with_tasks_and_metrics() {
    Stats s = sample_stats(9);
    lighten(s);
    TaskStats& browse = s.task("Shop.browse");
    browse.count = 7;
    browse.failures = 1;
    browse.errors = 2;
    browse.duration.record(3'000'000);
    browse.duration.record(70'000'000'000);
    s.task("Shop.buy").count = 1;
    s.task("never ran");  // count 0: not written
    s.metric("cart_items", MetricKind::counter)->add(3, 0);
    s.metric("cart_items", MetricKind::counter)->add(2.5, 0);
    s.metric("queue", MetricKind::gauge)->add(-7, 1'790'000'000'000'000'000);
    s.metric("cache_hit", MetricKind::rate)->add(1, 0);
    s.metric("cache_hit", MetricKind::rate)->add(0, 0);
    for (int i = 1; i <= 20; ++i) s.metric("render_ms", MetricKind::trend)->add(i * 0.75, 0);
    s.label("unused");  // a row with nothing counted: not written
    return s;
}

// sample_stats' latency holds a thousand samples: ~300 buckets whose bytes
// show nothing a few values of every size do not, in a golden file 3 times
// the size. These have the same figures with a handful of latencies.
void lighten(Stats& s) {
    s.latency = Histogram{};
    for (std::uint64_t v : {std::uint64_t{1}, std::uint64_t{255}, std::uint64_t{256}, std::uint64_t{70'000},
                            std::uint64_t{3'000'000} + s.hits, std::uint64_t{4'000'000'000},
                            Histogram::kMaxValue + 5})
        s.latency.record(v);
}
void lighten(RunSummary& s) {
    for (auto& c : s.cycles) lighten(c.stats);
    lighten(s.total);
}
void lighten(Message& m) {
    std::visit(
        [](auto& msg) {
            using T = std::decay_t<decltype(msg)>;
            if constexpr (std::is_same_v<T, Result>) lighten(msg.stats);
            if constexpr (std::is_same_v<T, Snapshot>) lighten(msg.delta);
            if constexpr (std::is_same_v<T, RunFinished>) lighten(msg.summary);
            if constexpr (std::is_same_v<T, RunEvent>)
                if (msg.summary) lighten(*msg.summary);
        },
        m);
}

struct Golden {
    std::string name;  // "12 PREPARE"
    std::string body;
};

std::vector<Message> golden_messages() {
    std::vector<Message> all = every_message();
    for (auto& m : all) lighten(m);

    Result tasks{"r7-tasks", 2, 0, 99, 750ms, stats_with_tasks_and_metrics()};
    tasks.users = 4'000'000'000u;
    tasks.users_busy = 3;
    all.push_back(tasks);
    Status bare;  // no connections, no auth: a broker without CURVE
    bare.version = "0.2.0";
    all.push_back(bare);
    Status curve;
    curve.version = "0.2.0";
    curve.pid = 99;
    curve.uptime_ms = -1;
    curve.agents = {AgentStatus{sample_agent(), "idle", "", 3, "agent-key"}};
    curve.curve = true;
    curve.auth = {AuthCount{"frontend", 2, 10, 1}, AuthCount{"backend", 1, UINT64_MAX, 0}};
    curve.connections = Connections{0, 0, 0, 0, false};
    all.push_back(curve);
    Snapshot timed{"r8", 1, 0, 1s, 0, std::nullopt, Duration(20s), 0, Stats{}};
    all.push_back(timed);
    Submit quiet{open_spec(), "http://x/", 100'000, false, 0s, std::nullopt};
    quiet.show_url = true;
    quiet.spec.params.clear();
    all.push_back(quiet);
    Finished with_stats{"r9", 0, false, -5, 0s, {CycleInfo{3, 1, 1ms, stats_with_tasks_and_metrics()}}};  // stats not written
    all.push_back(with_stats);
    all.push_back(RunEvent{"r1", "gap", "", "", 0, std::nullopt});
    return all;
}

std::vector<Golden> golden_bodies() {
    const std::vector<Message> all = golden_messages();
    std::vector<Golden> out;
    for (std::size_t i = 0; i < all.size(); ++i)
        out.push_back({std::to_string(i) + " " + std::string(command_of(all[i])), encode(all[i]).body});
    out.push_back({"stats empty", encode_stats(Stats{})});
    out.push_back({"stats full", encode_stats(stats_with_tasks_and_metrics())});
    return out;
}

// One body as its name line, then hex lines of 64 bytes.
std::string to_text(const std::vector<Golden>& bodies) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (const auto& [name, body] : bodies) {
        out += "== " + name + " (" + std::to_string(body.size()) + " bytes)\n";
        for (std::size_t i = 0; i < body.size(); ++i) {
            auto b = static_cast<unsigned char>(body[i]);
            out += kHex[b >> 4];
            out += kHex[b & 15];
            if (i % 64 == 63 || i + 1 == body.size()) out += '\n';
        }
    }
    return out;
}

// The golden text split at its "== " lines: name line -> hex lines.
std::vector<std::pair<std::string, std::string>> sections(const std::string& text) {
    std::vector<std::pair<std::string, std::string>> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("== ")) out.emplace_back(line, "");
        else if (!out.empty()) out.back().second += line + "\n";
    }
    return out;
}

}  // namespace

TEST_CASE("every message encodes to the bytes recorded before the field lists (codec_golden.txt)") {
    std::ifstream in(LOADS_CODEC_GOLDEN, std::ios::binary);
    REQUIRE(in);
    std::stringstream golden_text;
    golden_text << in.rdbuf();
    const std::string actual_text = to_text(golden_bodies());
    if (actual_text != golden_text.str()) std::ofstream("codec_golden.actual.txt", std::ios::binary) << actual_text;

    const auto want = sections(golden_text.str()), got = sections(actual_text);
    CHECK(got.size() == want.size());
    for (std::size_t i = 0; i < std::min(want.size(), got.size()); ++i) {
        INFO(want[i].first);
        CHECK(got[i].first == want[i].first);
        if (got[i].second == want[i].second) continue;
        const auto& a = got[i].second;
        const auto& b = want[i].second;
        std::size_t at = 0;
        while (at < a.size() && at < b.size() && a[at] == b[at]) ++at;
        const std::size_t from = at < 40 ? 0 : at - 40;
        FAIL_CHECK("bytes differ at character " << at << ": got ..." << a.substr(from, 100) << "... want ..."
                                                  << b.substr(from, 100) << "...");
    }
}

TEST_CASE("the golden messages decode, and encode again to the same bytes") {
    for (const auto& m : golden_messages()) {
        INFO(command_of(m));
        const Frames f = encode(m);
        const bool pub = std::holds_alternative<Snapshot>(m) || std::holds_alternative<RunEvent>(m) ||
                         std::holds_alternative<ClusterEvent>(m);
        const Message back = pub ? decode_published(topic_of(m), f.body) : decode(f.head, f.body);
        CHECK(back.index() == m.index());
        CHECK(encode(back).body == f.body);
    }
    const std::string stats = encode_stats(stats_with_tasks_and_metrics());
    Stats want = stats_with_tasks_and_metrics();
    want.tasks.erase("never ran");  // rows with nothing counted are not written
    want.labels.erase("unused");
    CHECK(decode_stats(stats) == want);
    CHECK(encode_stats(decode_stats(stats)) == stats);
}
