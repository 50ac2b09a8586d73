// The wire codec (docs/protocol.md): every message survives a round trip, and
// every kind of bad input is refused with its typed error, never a crash.
#include "loads/proto/messages.hpp"
#include "loads/proto/wire.hpp"

#include "sample_messages.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace loads;
using namespace loads::proto;
using Kind = loads::proto::ErrorKind;
using namespace std::chrono_literals;

using namespace loads::proto::samples;

namespace {

Kind kind_of(std::string_view command, std::string_view body) {
    try {
        decode(command, body);
    } catch (const ProtoError& e) {
        return e.kind;
    }
    FAIL("decoded without an error: " << command);
    return Kind::malformed;
}

// Hand-made msgpack: {"v": v, "run": <value bytes>}.
std::string body_with_run(std::uint8_t v, std::string run_value) {
    return std::string("\x82\xa1v", 3) + static_cast<char>(v) + std::string("\xa3run", 4) + run_value;
}

}  // namespace

TEST_CASE("every message round-trips through its frames") {
    for (const auto& m : every_message()) {
        INFO(command_of(m));
        Frames f = encode(m);
        CHECK(f.head == command_of(m));
        Message back = std::holds_alternative<Snapshot>(m) || std::holds_alternative<RunEvent>(m) ||
                               std::holds_alternative<ClusterEvent>(m)
                           ? decode_published(topic_of(m), f.body)
                           : decode(f.head, f.body);
        REQUIRE(back.index() == m.index());
        // Same message again means same bytes: every field came back.
        CHECK(encode(back).body == f.body);
    }
}

TEST_CASE("a snapshot's per-agent list comes back exactly, and is checked") {
    Snapshot snap{"r1", 4, 0, 3s, 900, std::nullopt, 5s, 1, sample_stats(2)};
    snap.agents = {SnapshotAgent{"a0", 600, 2, 1, 10, 3, "finished"},
                   SnapshotAgent{std::string(255, 'x'), UINT64_MAX, 5, 6, UINT32_MAX, 0, "lost"}};
    auto back = std::get<Snapshot>(decode_published(topic_of(snap), encode(snap).body));
    CHECK(back.agents == snap.agents);
    CHECK(back.hits_done == 900);
    CHECK(back.duration_total == Duration(5s));

    Snapshot none{"r2", 1, 0, 1s, 0, std::nullopt, std::nullopt, 0, Stats{}};
    CHECK(std::get<Snapshot>(decode_published("run.r2.snapshot", encode(none).body)).agents.empty());

    auto kind = [](const Snapshot& s) {
        try {
            decode_published(topic_of(s), encode(s).body);
        } catch (const ProtoError& e) {
            return e.kind;
        }
        FAIL("decoded without an error");
        return Kind::empty;
    };
    Snapshot bad = snap;
    bad.agents[1].id = std::string(256, 'x');
    CHECK(kind(bad) == Kind::malformed);
    bad = snap;
    bad.agents[0].id.clear();
    CHECK(kind(bad) == Kind::malformed);
    bad = snap;
    bad.agents[0].state = std::string(256, 's');
    CHECK(kind(bad) == Kind::malformed);
}

TEST_CASE("round trips keep the figures exactly") {
    Result r{"r9", 7, 2, 1000, 1500ms, sample_stats(11)};
    Frames f = encode(r);
    auto back = std::get<Result>(decode(f.head, f.body));
    CHECK(back.seq == 7);
    CHECK(back.cycle == 2);
    CHECK(back.elapsed == Duration(1500ms));
    CHECK(back.stats == r.stats);
    CHECK(back.stats.latency.value_at_quantile(0.99) == r.stats.latency.value_at_quantile(0.99));
    CHECK(back.stats.latency.clamped() == 1);

    auto p = std::get<Prepare>(decode("PREPARE", encode(Prepare{"r9", sample_spec(), std::nullopt}).body));
    CHECK(p.spec.plan.cycles.size() == 2);
    CHECK(p.spec.plan.cycles[1].duration == Duration(2s));
    CHECK(p.spec.test.headers == sample_spec().test.headers);
    CHECK(p.spec.agent_index == 1);
    CHECK(p.spec.agent_count == 3);
    CHECK(p.spec.params == sample_spec().params);
    auto o = std::get<Prepare>(decode("PREPARE", encode(Prepare{"r9", open_spec(), std::nullopt}).body));
    CHECK(o.spec.plan.open());
    CHECK(o.spec.plan.cycles == open_spec().plan.cycles);
    CHECK(o.spec.plan.ramp == Duration(2s));
    CHECK(o.spec.plan.arrivals == Arrivals::poisson);
    CHECK(o.spec.plan.max_users == 40);
    CHECK(o.spec.plan.arrival_window == Duration(250us));
    CHECK(!p.library);

    auto s = std::get<Submit>(decode("SUBMIT", encode(Submit{sample_spec(), "t", 5, true, 30s,
        Library{"l.so", std::string(64, 'b'), std::string("\0\0\xff", 3)}}).body));
    REQUIRE(s.library);
    CHECK(s.library->bytes == std::string("\0\0\xff", 3));
    CHECK(s.agents == 5);
}

TEST_CASE("data files and --data-exhausted ride in SUBMIT and PREPARE") {
    RunSpec spec = sample_spec();
    spec.data_exhausted = DataExhaustion::stop;
    std::vector<DataFile> files{DataFile{"users", "users.csv", std::string(64, 'a'), std::string("a\n\0\xff", 4)}};
    auto p = std::get<Prepare>(decode("PREPARE", encode(Prepare{"r", spec, std::nullopt, files}).body));
    CHECK(p.data == files);
    CHECK(p.spec.data_exhausted == DataExhaustion::stop);
    CHECK(p.spec.data.empty());  // paths are the agent's business
    Submit sub{spec, "t", 1, false, 0s, std::nullopt};
    sub.data = files;
    CHECK(std::get<Submit>(decode("SUBMIT", encode(sub).body)).data == files);

    // A writer from before data files (no "data" key: the last one written)
    // is still read, as no files.
    std::string body = encode(Prepare{"r", sample_spec(), std::nullopt, {}}).body;
    const std::string tail("\xa4" "data" "\x90", 6);
    REQUIRE(body.size() > tail.size());
    REQUIRE(body.substr(body.size() - tail.size()) == tail);
    REQUIRE(static_cast<unsigned char>(body[0]) == 0x87);  // v, run, spec, library, data, test, owner
    body = char(0x86) + body.substr(1, body.size() - 1 - tail.size());
    auto old = std::get<Prepare>(decode("PREPARE", body));
    CHECK(old.data.empty());
    CHECK(old.run == "r");

    // Checked: too many files, an empty name, a bad policy.
    auto kind = [](const Message& m) {
        try {
            decode(command_of(m), encode(m).body);
        } catch (const ProtoError& e) {
            return e.kind;
        }
        return Kind::empty;
    };
    Prepare many{"r", sample_spec(), std::nullopt, std::vector<DataFile>(kMaxDataFiles + 1, files[0])};
    CHECK(kind(many) == Kind::malformed);
    Prepare unnamed{"r", sample_spec(), std::nullopt, files};
    unnamed.data[0].name.clear();
    CHECK(kind(unnamed) == Kind::malformed);
}

TEST_CASE("http2 and streams (--http2, --streams) ride in RunSpec client, optional to read") {
    auto p = std::get<Prepare>(decode("PREPARE", encode(Prepare{"r", sample_spec(), std::nullopt}).body));
    CHECK(p.spec.client.http2);
    CHECK(p.spec.client.streams == 10);
    CHECK(p.spec.client.max_body == (1u << 20));

    // A writer from before HTTP/2 (client map of 6, no http2/streams) reads
    // as HTTP/1.1 with one request per hit.
    std::string body = encode(Prepare{"r", sample_spec(), std::nullopt}).body;
    const std::string keys("\xa5" "http2" "\xc3" "\xa7" "streams" "\x0a", 16);
    auto at = body.find(keys);
    REQUIRE(at != std::string::npos);
    body.erase(at, keys.size());
    auto map = body.find(std::string("\x88\xb2" "connect_timeout_ns", 20));
    REQUIRE(map != std::string::npos);
    body[map] = char(0x86);
    auto old = std::get<Prepare>(decode("PREPARE", body));
    CHECK(!old.spec.client.http2);
    CHECK(old.spec.client.streams == 1);
    CHECK(old.spec.client.max_body == (1u << 20));

    for (unsigned bad : {0u, 1001u}) {
        RunSpec spec = sample_spec();
        spec.client.streams = bad;
        CHECK(kind_of("PREPARE", encode(Prepare{"r", spec, std::nullopt}).body) == Kind::malformed);
    }
}

TEST_CASE("params are checked like --param checks them") {
    auto refused = [](Params params) {
        RunSpec spec = sample_spec();
        spec.params = std::move(params);
        return kind_of("PREPARE", encode(Prepare{"r9", spec, std::nullopt}).body);
    };
    CHECK(refused({{"", "x"}}) == Kind::malformed);
    CHECK(refused({{"a b", "x"}}) == Kind::malformed);
    CHECK(refused({{std::string(kMaxParamKey + 1, 'k'), "x"}}) == Kind::malformed);
    CHECK(refused({{"big", std::string(kMaxParamValue + 1, 'v')}}) == Kind::malformed);
    Params many;
    for (std::size_t i = 0; i <= kMaxParams; ++i) many.emplace("k" + std::to_string(i), "v");
    CHECK(refused(many) == Kind::malformed);
    Params most;
    for (std::size_t i = 0; i < kMaxParams; ++i) most.emplace("k" + std::to_string(i), std::string(kMaxParamValue, 'v'));
    RunSpec spec = sample_spec();
    spec.params = most;
    auto back = std::get<Prepare>(decode("PREPARE", encode(Prepare{"r9", spec, std::nullopt}).body));
    CHECK(back.spec.params == most);
}

TEST_CASE("durations are bounded: a result interval by one hour, any other by 366 days") {
    auto decoded = [](RunSpec spec) {
        return std::get<Prepare>(decode("PREPARE", encode(Prepare{"r9", std::move(spec), std::nullopt}).body)).spec;
    };
    auto refused = [](RunSpec spec) { return kind_of("PREPARE", encode(Prepare{"r9", std::move(spec), std::nullopt}).body); };
    RunSpec spec = sample_spec();
    spec.interval = kMaxInterval;
    CHECK(decoded(spec).interval == kMaxInterval);
    spec.interval = kMaxInterval + 1ns;
    CHECK(refused(spec) == Kind::malformed);
    spec.interval = Duration(INT64_MAX);  // once made a broker publish snapshots in a tight loop
    CHECK(refused(spec) == Kind::malformed);
    spec = sample_spec();
    spec.client.timeout = kMaxWireDuration;
    CHECK(decoded(spec).client.timeout == kMaxWireDuration);
    spec.client.timeout = kMaxWireDuration + 1ns;
    CHECK(refused(spec) == Kind::malformed);
    spec = sample_spec();
    spec.plan.cycles[0].duration = Duration(INT64_MAX);
    CHECK(refused(spec) == Kind::malformed);
    CHECK(kind_of("RESULT", encode(Result{"r1", 1, 0, 1, Duration(INT64_MAX), Stats{}}).body) == Kind::malformed);
}

TEST_CASE("a library's size: with its bytes it is theirs; FETCH and CHUNK are bounded") {
    // PREPARE carries the size and no bytes.
    auto p = std::get<Prepare>(decode("PREPARE", encode(Prepare{"r", sample_spec(), Library{"l.so", std::string(64, 'b'), "", 5000}}).body));
    REQUIRE(p.library);
    CHECK(p.library->size == 5000);
    CHECK(p.library->bytes.empty());
    // SUBMIT's bytes set the size; a size that is not theirs is malformed.
    Submit s{sample_spec(), "l.so:X.t", 1, false, 0s, Library{"l.so", std::string(64, 'b'), "abc"}};
    CHECK(std::get<Submit>(decode("SUBMIT", encode(s).body)).library->size == 3);
    s.library->size = 4;
    auto body = encode(s).body;  // written as the bytes' size: 3
    CHECK(std::get<Submit>(decode("SUBMIT", body)).library->size == 3);
    const std::string three = std::string("\xa4size\x03", 6), four = std::string("\xa4size\x04", 6);
    REQUIRE(body.find(three) != std::string::npos);
    body.replace(body.find(three), three.size(), four);
    CHECK(kind_of("SUBMIT", body) == Kind::malformed);
    // A library above the largest body is refused before anything is fetched.
    CHECK_THROWS_AS(decode("PREPARE", encode(Prepare{"r", sample_spec(), Library{"l.so", "x", "", kMaxLibrarySize + 1}}).body), ProtoError);
    // FETCH asks for 1 byte to kMaxChunk; CHUNK carries at most kMaxChunk.
    CHECK(std::get<Fetch>(decode("FETCH", encode(Fetch{"h", 7, kMaxChunk}).body)).length == kMaxChunk);
    CHECK(kind_of("FETCH", encode(Fetch{"h", 7, 0}).body) == Kind::malformed);
    CHECK(kind_of("FETCH", encode(Fetch{"h", 7, kMaxChunk + 1}).body) == Kind::malformed);
    CHECK(kind_of("CHUNK", encode(Chunk{"h", 0, std::string(kMaxChunk + 1, 'x')}).body) == Kind::malformed);
    CHECK(std::get<Chunk>(decode("CHUNK", encode(Chunk{"h", 9, "abc"}).body)).data == "abc");
}

TEST_CASE("STATUS is a request without fields and a reply with them") {
    CHECK(std::holds_alternative<StatusRequest>(decode("STATUS", encode(StatusRequest{}).body)));
    Status st;
    st.version = "x";
    CHECK(std::holds_alternative<Status>(decode("STATUS", encode(st).body)));
    CHECK_FALSE(std::get<Status>(decode("STATUS", encode(st).body)).connections);  // optional: absent is none
    st.connections = Connections{3, 1000, 2, 17000, true};
    CHECK(std::get<Status>(decode("STATUS", encode(st).body)).connections == st.connections);
}

TEST_CASE("empty input is refused as empty") {
    CHECK(kind_of("READY", "") == Kind::empty);
    CHECK(kind_of("", encode(Ready{"r"}).body) == Kind::empty);
    std::vector<zmq::message_t> none;
    CHECK_THROWS_AS(split(none, false), ProtoError);
}

TEST_CASE("truncated input is refused as truncated") {
    const std::string body = encode(Result{"r1", 1, 0, 1, 1s, sample_stats(1)}).body;
    for (std::size_t cut : {std::size_t{1}, body.size() / 3, body.size() / 2, body.size() - 1}) {
        INFO("cut at " << cut << " of " << body.size());
        CHECK(kind_of("RESULT", std::string_view(body).substr(0, cut)) == Kind::truncated);
    }
}

TEST_CASE("wrong-typed input is refused as malformed") {
    CHECK(kind_of("READY", body_with_run(kVersion, "\x05")) == Kind::malformed);          // run: 5
    CHECK(kind_of("READY", body_with_run(kVersion, "\xc3")) == Kind::malformed);          // run: true
    CHECK(kind_of("READY", std::string("\x81\xa1v", 3) + char(kVersion)) == Kind::malformed);   // run missing
    CHECK(kind_of("READY", std::string("\x93\x01\x02\x03", 4)) == Kind::malformed);  // an array
    CHECK(kind_of("READY", body_with_run(kVersion, "\xa2r1") + std::string(1, '\0')) == Kind::malformed);  // trailing byte
    // A negative seq where an unsigned is due.
    std::string res = encode(Result{"r1", 1, 0, 1, 1s, Stats{}}).body;
    auto at = res.find("\xa3seq");
    REQUIRE(at != std::string::npos);
    res[at + 4] = '\xff';  // positive fixint 1 -> negative fixint -1
    CHECK(kind_of("RESULT", res) == Kind::malformed);
    // Inconsistent histogram: bucket indexes out of order.
    Stats s;
    s.latency.record(1000);
    s.latency.record(2000);
    std::string st = encode(Result{"r1", 1, 0, 1, 1s, s}).body;
    auto b = st.find("\xa7" "buckets");
    REQUIRE(b != std::string::npos);
    // buckets: [i1, 1, i2, 1] -> swap the two indexes.
    std::size_t arr = b + 8;
    REQUIRE(static_cast<unsigned char>(st[arr]) == 0x94);
    std::string first = st.substr(arr + 1, 3), second = st.substr(arr + 5, 3);  // uint16 indexes
    REQUIRE(static_cast<unsigned char>(first[0]) == 0xcd);
    st.replace(arr + 1, 3, second);
    st.replace(arr + 5, 3, first);
    CHECK(kind_of("RESULT", st) == Kind::malformed);
}

TEST_CASE("unknown commands and topics are refused as unknown-command") {
    CHECK(kind_of("LAUNCH", body_with_run(kVersion, "\xa2r1")) == Kind::unknown_command);
    try {
        decode_published("weather", body_with_run(kVersion, "\xa2r1"));
        FAIL("decoded an unknown topic");
    } catch (const ProtoError& e) {
        CHECK(e.kind == Kind::unknown_command);
    }
}

TEST_CASE("another protocol version is refused as wrong-version") {
    CHECK(kind_of("READY", body_with_run(kVersion + 1, "\xa2r1")) == Kind::wrong_version);
    CHECK(kind_of("READY", std::string("\x81\xa3run\xa2r1", 8)) == Kind::wrong_version);  // no "v"
    CHECK(kind_of("READY", std::string("\x82\xa1v\xa1x\xa3run\xa2r1", 12)) == Kind::wrong_version);
}

TEST_CASE("oversized input is refused as oversized") {
    std::string big(kMaxBodySize + 1, '\0');
    CHECK(kind_of("READY", big) == Kind::oversized);
    std::vector<zmq::message_t> frames;
    frames.emplace_back(std::string_view("READY"));
    frames.emplace_back(big.data(), big.size());
    try {
        split(frames, false);
        FAIL("split an oversized frame");
    } catch (const ProtoError& e) {
        CHECK(e.kind == Kind::oversized);
    }
    // Nesting deeper than the limit is refused before it is walked.
    std::string deep(100, '\x91');
    CHECK(kind_of("READY", deep + "\x01") == Kind::oversized);
}

TEST_CASE("element counts are bounded by the body's size and kMaxBodyValues") {
    // A header claiming 2^24 elements in a few bytes: refused before any allocation.
    CHECK(kind_of("READY", std::string("\xdc\xff\xff", 3)) == Kind::truncated);
    CHECK(kind_of("READY", std::string("\xdd\x01\x00\x00\x00\xc0", 6)) == Kind::truncated);
    // A whole body of more values than kMaxBodyValues (nested nils) is oversized.
    std::string nils("\xdd", 1);
    const std::uint32_t n = static_cast<std::uint32_t>(kMaxBodyValues) + 1;
    for (int shift : {24, 16, 8, 0}) nils += static_cast<char>((n >> shift) & 0xff);
    nils.append(n, '\xc0');
    CHECK(kind_of("READY", nils) == Kind::oversized);
    // Depth: 33 nested maps.
    std::string deep;
    for (int i = 0; i < 33; ++i) deep += "\x81\xa1k";
    deep += "\xc0";
    CHECK(kind_of("READY", deep) == Kind::oversized);
}

TEST_CASE("more labels or messages than an agent keeps are malformed") {
    Stats s;
    s.hits = s.successes = 1;
    for (int i = 0; i < 1100; ++i) s.labels["L" + std::to_string(i)].count = 1;  // bypasses the fold
    CHECK(kind_of("RESULT", encode(Result{"r1", 1, 0, 1, 1s, s}).body) == Kind::malformed);
    Stats m;
    for (int i = 0; i < 60; ++i) m.messages["m" + std::to_string(i)] = 1;
    CHECK(kind_of("RESULT", encode(Result{"r1", 1, 0, 1, 1s, m}).body) == Kind::malformed);
    Stats ok;
    for (int i = 0; i < 1000; ++i) ok.label("L" + std::to_string(i)).count = 1;
    ok.label("one more").count = 1;  // folds into (other): 1001 rows
    CHECK(std::holds_alternative<Result>(decode("RESULT", encode(Result{"r1", 1, 0, 1, 1s, ok}).body)));
}

TEST_CASE("frames are split by the protocol's layout") {
    std::vector<zmq::message_t> frames;
    frames.emplace_back(std::string_view("peer-1"));
    frames.emplace_back(std::string_view("READY"));
    const std::string body = encode(Ready{"r1"}).body;
    frames.emplace_back(body.data(), body.size());
    auto env = split(frames, true);
    CHECK(env.peer == "peer-1");
    CHECK(env.command == "READY");
    CHECK(std::get<Ready>(decode(env.command, env.body)).run == "r1");
    // Three frames on a DEALER is one too many.
    try {
        split(frames, false);
        FAIL("split three frames on a DEALER");
    } catch (const ProtoError& e) {
        CHECK(e.kind == Kind::malformed);
    }
}

TEST_CASE("random garbage never escapes as anything but a ProtoError") {
    std::mt19937 rng(42);
    const std::string good = encode(Result{"r1", 1, 0, 1, 1s, sample_stats(2)}).body;
    for (int i = 0; i < 2000; ++i) {
        std::string b = good;
        const int flips = 1 + static_cast<int>(rng() % 8);
        for (int k = 0; k < flips; ++k) b[rng() % b.size()] = static_cast<char>(rng());
        try {
            decode("RESULT", b);
        } catch (const ProtoError&) {
        }
    }
    SUCCEED("2000 corrupted bodies decoded or refused");
}

TEST_CASE("connect endpoints are checked before any socket is made", "[wire]") {
    for (const char* ok : {"tcp://127.0.0.1:7780", "tcp://broker.example:1", "tcp://[::1]:65535",
                           "ipc:///run/loads/broker.sock"}) {
        INFO(ok);
        CHECK(check_connect_endpoint(ok).empty());
    }
    for (const char* bad : {"garbage", "", "tcp://", "tcp://:7780", "tcp://*:7780", "tcp://host",
                            "udp://127.0.0.1:7780", "ipc://"}) {
        INFO(bad);
        CHECK_THAT(check_connect_endpoint(bad), Catch::Contains("expected tcp://HOST:PORT or ipc://PATH"));
    }
    for (const char* bad_port : {"tcp://127.0.0.1:0", "tcp://127.0.0.1:65536", "tcp://127.0.0.1:80x",
                                 "tcp://127.0.0.1:", "tcp://127.0.0.1:9999999999999"}) {
        INFO(bad_port);
        CHECK_FALSE(check_connect_endpoint(bad_port).empty());
    }
}

TEST_CASE("custom metrics round-trip exactly, and bad ones are malformed") {
    Stats s = sample_stats(3);
    s.metric("cart_items", MetricKind::counter)->add(3, 0);
    s.metric("cart_items", MetricKind::counter)->add(2.5, 0);
    s.metric("queue", MetricKind::gauge)->add(7, 1'790'000'000'000'000'000);
    s.metric("cache_hit", MetricKind::rate)->add(1, 0);
    s.metric("cache_hit", MetricKind::rate)->add(0, 0);
    for (int i = 1; i <= 100; ++i) s.metric("render_ms", MetricKind::trend)->add(i * 0.5, 0);
    Result r{"r9", 1, 0, 1000, 1s, s};
    Frames f = encode(r);
    auto back = std::get<Result>(decode(f.head, f.body));
    CHECK(back.stats == s);
    CHECK(back.stats.metrics.at("render_ms").quantile(0.5) == s.metrics.at("render_ms").quantile(0.5));

    auto malformed = [&](auto&& spoil) {
        Result bad = r;
        spoil(bad.stats);
        Frames fb = encode(bad);
        return kind_of(fb.head, fb.body) == Kind::malformed;
    };
    CHECK(malformed([](Stats& st) { st.metrics.at("cache_hit").nonzero = 3; }));
    CHECK(malformed([](Stats& st) { st.metrics.at("queue").min = 9; }));
    CHECK(malformed([](Stats& st) { st.metrics.at("render_ms").count = 99; }));
    CHECK(malformed([](Stats& st) { st.metrics.at("cart_items").values.emplace(); }));
    CHECK(malformed([](Stats& st) { st.metrics.emplace(std::string(101, 'n'), st.metrics.at("queue")); }));
    CHECK(malformed([](Stats& st) { st.metrics.emplace("", st.metrics.at("queue")); }));
    CHECK(malformed([](Stats& st) {
        for (int i = 0; i < 105; ++i) st.metrics.emplace("m" + std::to_string(i), st.metrics.at("queue"));
    }));
}

TEST_CASE("recovery: REGISTER's run, WELCOME's acked, ACK and a RESULT's seq range come back exactly") {
    RunState held{"r1-abcd", sample_spec(), "http://x/", "runner-1", true, 1'790'000'000'000, 12};
    held.spec.agent_index = 2;
    held.spec.agent_count = 3;
    auto reg = std::get<Register>(decode("REGISTER", encode(Register{sample_agent(), held}).body));
    REQUIRE(reg.run);
    CHECK(reg.run->run == held.run);
    CHECK(reg.run->test == held.test);
    CHECK(reg.run->owner == held.owner);
    CHECK(reg.run->finished);
    CHECK(reg.run->started_ms == held.started_ms);
    CHECK(reg.run->last_seq == 12);
    CHECK(reg.run->spec.agent_index == 2);
    CHECK(reg.run->spec.agent_count == 3);
    CHECK(encode(Register{sample_agent(), reg.run}).body == encode(Register{sample_agent(), held}).body);
    CHECK_FALSE(std::get<Register>(decode("REGISTER", encode(Register{sample_agent()}).body)).run);

    auto w = std::get<Welcome>(decode("WELCOME", encode(Welcome{200, 1500, "r1-abcd", 41}).body));
    CHECK(w.run == "r1-abcd");
    CHECK(w.acked == 41);
    auto ack = std::get<Ack>(decode("ACK", encode(Ack{"r1-abcd", UINT64_MAX, true}).body));
    CHECK(ack.run == "r1-abcd");
    CHECK(ack.seq == UINT64_MAX);
    CHECK(ack.finished);

    Result r{"r1", 9, 0, 100, 1s, sample_stats(1)};
    r.first_seq = 3;
    CHECK(std::get<Result>(decode("RESULT", encode(r).body)).first_seq == 3);
    r.first_seq = 10;  // above seq: no range
    CHECK(kind_of("RESULT", encode(r).body) == Kind::malformed);

    Prepare p{"r1", one_hit_spec(), std::nullopt, {}, "http://x/", "runner-1"};
    auto back = std::get<Prepare>(decode("PREPARE", encode(p).body));
    CHECK(back.test == "http://x/");
    CHECK(back.owner == "runner-1");
}

TEST_CASE("recovery: peers from before it are read (no run, no acked), a bad RunState is malformed") {
    // REGISTER without "run": the last 5 bytes are "run": nil; one pair less.
    std::string old = encode(Register{sample_agent()}).body;
    REQUIRE(old.substr(old.size() - 5) == std::string("\xa3run\xc0", 5));
    old = old.substr(0, old.size() - 5);
    REQUIRE(static_cast<unsigned char>(old[0]) == 0x83);
    old[0] = '\x82';
    CHECK_FALSE(std::get<Register>(decode("REGISTER", old)).run);
    // WELCOME without "run" and "acked".
    std::string welcome = encode(Welcome{1000, 5000}).body;
    const std::string tail("\xa3run\xa0\xa5" "acked\x00", 12);
    REQUIRE(welcome.substr(welcome.size() - tail.size()) == tail);
    welcome = welcome.substr(0, welcome.size() - tail.size());
    welcome[0] = '\x83';
    auto w = std::get<Welcome>(decode("WELCOME", welcome));
    CHECK(w.run.empty());
    CHECK(w.acked == 0);

    RunState held{"r1", one_hit_spec(), "t", "", false, 0, 0};
    held.spec.agent_count = 2;
    held.spec.agent_index = 1;
    CHECK_NOTHROW(decode("REGISTER", encode(Register{sample_agent(), held}).body));
    held.run = "";  // a run needs an id
    CHECK(kind_of("REGISTER", encode(Register{sample_agent(), held}).body) == Kind::malformed);
    held.run = std::string(256, 'r');
    CHECK(kind_of("REGISTER", encode(Register{sample_agent(), held}).body) == Kind::malformed);
    held.run = "r1";
    held.spec.agent_count = 200'000;  // more agents than a run may have
    CHECK(kind_of("REGISTER", encode(Register{sample_agent(), held}).body) == Kind::malformed);
}
