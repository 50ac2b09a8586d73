// Sample messages of every kind, filled in as a real run would: shared by
// the codec's unit tests (tests/unit/proto/test_codec.cpp) and the fuzzer's
// seed corpus (fuzz/make_decode_corpus.cpp).
#pragma once

#include "loads/proto/messages.hpp"

#include <chrono>
#include <random>
#include <string>
#include <vector>

namespace loads::proto::samples {

using namespace std::chrono_literals;

inline Stats sample_stats(std::uint64_t seed) {
    Stats s;
    s.hits = 10 + seed;
    s.successes = 7;
    s.failures = 2;
    s.errors = 1 + seed;
    s.requests = 12;
    s.request_errors = 1;
    s.bytes_sent = 1234;
    s.bytes_received = 56789;
    s.ws_opened = 3;
    s.ws_closed = 2;
    s.ws_messages_sent = 40;
    s.ws_messages_received = 41;
    s.ws_bytes_sent = 400;
    s.ws_bytes_received = 410;
    s.tcp_opened = 1;
    s.tcp_closed = 1;
    s.tcp_bytes_sent = 99;
    s.tcp_bytes_received = 98;
    s.interrupted = 3;
    s.scheduled = 20 + seed;
    s.dropped = 5;
    s.late = 4;
    s.users_out_of_data = 2 + seed;
    s.start_failures = 2;
    s.skipped = 6 + seed;
    s.latency_from_schedule.record(2'000'000 + seed);
    s.errors_by_kind[static_cast<std::size_t>(loads::ErrorKind::timeout)] = 1;
    s.errors_by_kind[static_cast<std::size_t>(loads::ErrorKind::status)] = seed;
    s.status_codes[200] = 9;
    s.status_codes[503] = 3;
    s.messages["answer: expected Blue."] = 2;
    std::mt19937_64 rng(seed);
    std::lognormal_distribution<double> d(13.0, 1.5);
    for (int i = 0; i < 1000; ++i) s.latency.record(static_cast<std::uint64_t>(d(rng)));
    s.latency.record(Histogram::kMaxValue + 5);  // clamped
    auto& row = s.label("login");
    row.count = 5;
    row.errors = 1;
    row.latency.record(1'500'000);
    return s;
}

inline RunSpec sample_spec() {
    RunSpec s;
    s.test.kind = TestSpec::Kind::library;
    s.test.url = "";
    s.test.method = "POST";
    s.test.headers = {{"X-Test", "1"}, {"Accept", "*/*"}};
    s.test.body = "hello";
    s.test.expect = "ok";
    s.test.until = ".";
    s.test.test_name = "WebSite.test_home";
    s.plan.cycles = {Cycle{10, 20, std::nullopt}, Cycle{30, 0, Duration(2s)}};
    s.plan.sleep.min = 10ms;
    s.plan.sleep.max = 20ms;
    s.plan.startup_delay = 5ms;
    s.plan.graceful_stop = 1s;
    s.server_url = "http://127.0.0.1:8080";
    s.client.connect_timeout = 3s;
    s.client.timeout = 7s;
    s.client.follow_redirects = true;
    s.client.max_redirects = 4;
    s.client.insecure = true;
    s.client.max_body = 1 << 20;
    s.client.http2 = true;
    s.client.streams = 10;
    s.interval = 250ms;
    s.agent_index = 1;
    s.agent_count = 3;
    s.params = {{"user", "alice"}, {"payload", "a=b c\xc3\xa9"}, {"empty", ""}};
    return s;
}

inline RunSpec open_spec() {
    RunSpec s = sample_spec();
    s.plan = Plan{};
    s.plan.model = LoadModelKind::open;
    s.plan.cycles = {Cycle{0, 0, Duration(5s), 500.0}, Cycle{0, 0, Duration(5s), 1234.5}};
    s.plan.ramp = 2s;
    s.plan.arrivals = Arrivals::poisson;
    s.plan.max_users = 40;
    s.plan.arrival_window = 250us;
    return s;
}

inline RunSpec one_hit_spec() {
    RunSpec s;
    s.plan.cycles = {Cycle{1, 1, std::nullopt}};
    return s;
}

inline RunSummary sample_summary() {
    RunSummary s;
    s.run = "r1-abcd";
    s.test = "libwebsite.so:WebSite.test_home";
    s.started_ms = 1'790'000'000'000;
    s.elapsed = 3s;
    s.stopped = true;
    s.incomplete = true;
    s.error = "";
    s.agents = {"a0", "a1"};
    s.events = {"agent a1 lost at 12:00:03 (silent for 5.0 s)"};
    s.cycles = {CycleInfo{0, 20, 1s, sample_stats(1)}, CycleInfo{1, 40, 2s, sample_stats(2)}};
    s.total = sample_stats(3);
    return s;
}

inline AgentInfo sample_agent() { return AgentInfo{"agent-1", "host-a", 4242, 2, "0.1.0"}; }

inline std::vector<Message> every_message() {
    Library lib{"libx.so", std::string(64, 'a'), std::string("\0\x01\x02\xff binary", 11)};
    Status status;
    status.version = "0.1.0";
    status.pid = 7;
    status.uptime_ms = 1000;
    status.frontend = "tcp://127.0.0.1:7780";
    status.backend = "tcp://127.0.0.1:7781";
    status.publisher = "tcp://*:7782";
    status.agents = {AgentStatus{sample_agent(), "busy", "r1-abcd", 12}};
    status.runs = {RunStatus{"r1-abcd", "running", "http://x/", 1}};
    status.connections = Connections{3, 1000, 2, 17000, true};
    status.heartbeat_ms = 1000;
    status.liveness_ms = 5000;
    Submit submit{sample_spec(), "libx.so:X.test", 5, true, 30s, lib};
    submit.data = {DataFile{"users", "users.csv", std::string(64, 'c'), "user\nalice\n"},
                   DataFile{"items", "items.jsonl", std::string(64, 'd'), std::string("{}\0", 3)}};
    Prepare with_data{"r4-data", sample_spec(), lib, submit.data};
    with_data.spec.data_exhausted = DataExhaustion::stop;
    Snapshot snap{"r1-abcd", 3, 1, 2s, 600, 6000, std::nullopt, 2, sample_stats(4)};
    snap.users = 30;
    snap.users_busy = 12;
    snap.agents = {SnapshotAgent{"a0", 400, 3, 1, 20, 8, "running"},
                   SnapshotAgent{"a1", 200, 0, 7, 10, 4, "lost"}};
    Finished fin{"r1-abcd", 9, true, 1'790'000'000'000, 3s, {CycleInfo{0, 10, 1s, {}}}};
    Result res{"r1-abcd", 4, 1, 321, 1500ms, sample_stats(5)};
    Result range = res;  // a cycle's batches 1..4 merged, resent to a restarted broker
    range.first_seq = 1;
    RunState held{"r1-abcd", sample_spec(), "http://x/", "runner-1", false, 1'790'000'000'000, 12};
    held.spec.agent_index = 1;
    held.spec.agent_count = 3;
    RunState over = held;
    over.finished = true;
    Prepare owned{"r5-own", one_hit_spec(), std::nullopt, {}, "http://x/?q=REDACTED", "runner-1"};
    return {
        Register{sample_agent()},
        Heartbeat{"busy", "r1-abcd"},
        Ready{"r1-abcd"},
        Rejected{"r1-abcd", "library does not load"},
        res,
        fin,
        Welcome{1000, 5000},
        Prepare{"r1-abcd", sample_spec(), lib},
        Prepare{"r5-fetch", sample_spec(), Library{"libx.so", std::string(64, 'a'), "", 104857600}},
        Fetch{std::string(64, 'a'), 1048576, 1048576},
        Chunk{std::string(64, 'a'), 1048576, std::string("\0\x01\x02\xff chunk", 10)},
        Prepare{"r2-wxyz", one_hit_spec(), std::nullopt},
        Prepare{"r3-open", open_spec(), std::nullopt},
        with_data,
        Start{"r1-abcd"},
        Stop{"r1-abcd"},
        Error{"no-agents", "need 5 idle agents, have 2"},
        StatusRequest{},
        status,
        submit,
        Submitted{"r1-abcd", {"a0", "a1"}},
        Attach{"r1-abcd"},
        RunFinished{sample_summary()},
        snap,
        RunEvent{"r1-abcd", "finished", "", "", 1'790'000'000'000, sample_summary()},
        RunEvent{"r1-abcd", "agent-lost", "a1", "agent a1 lost", 1'790'000'000'000, std::nullopt},
        ClusterEvent{"agent-registered", sample_agent(), 1'790'000'000'000},
        // Recovery (docs/protocol.md 5.4).
        Register{sample_agent(), held},
        Register{sample_agent(), over},
        range,
        Welcome{1000, 5000, "r1-abcd", 7},
        owned,
        Ack{"r1-abcd", 4, false},
        Ack{"r1-abcd", 9, true},
    };
}

}  // namespace loads::proto::samples
