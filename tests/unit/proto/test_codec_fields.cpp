// The field lists of proto/src/fields.hpp, which the encoder and the decoder
// both walk: every field they list comes back from a round trip as it was
// sent. The test walks the same lists, so a field added there is checked
// here at once; the message below must then set it (a field left at its
// default would pass unread).
#include "loads/proto/messages.hpp"

#include "fields.hpp"  // proto/src
#include "sample_messages.hpp"

#include <catch2/catch.hpp>

#include <memory>
#include <set>

using namespace loads;
using namespace loads::proto;
using namespace loads::proto::samples;
using namespace std::chrono_literals;
using Kind = loads::proto::ErrorKind;

namespace {

// One message of every kind, every field set to other than its default.
std::vector<Message> full_messages() {
    RunSpec spec = open_spec();
    spec.test.url = "http://127.0.0.1:8080/";
    spec.plan.sleep = {10ms, 20ms};
    spec.plan.startup_delay = 5ms;
    spec.plan.graceful_stop = 2s;
    spec.data_exhausted = DataExhaustion::stop;

    Stats stats = sample_stats(1);
    TaskStats& task = stats.task("Shop.browse");
    task.count = 3;
    task.failures = 1;
    task.errors = 1;
    task.duration.record(5'000'000);
    stats.metric("cart_items", MetricKind::counter)->add(2, 0);
    for (int i = 1; i <= 5; ++i) stats.metric("render_ms", MetricKind::trend)->add(i, 0);

    const Library lib{"libx.so", std::string(64, 'a'), "\x7f" "ELF", 4};
    const std::vector<DataFile> data{DataFile{"users", "users.csv", std::string(64, 'c'), "user\nalice\n"}};
    RunSummary summary = sample_summary();
    summary.error = "agent a1 rejected: no such test";
    summary.cycles[0].index = 2;  // the first entry is walked: none of its fields at the default

    RunState held{"r1-abcd", spec, "http://x/", "runner-1", true, 1'790'000'000'000, 12};
    Result result{"r1-abcd", 4, 1, 321, 1500ms, stats};
    result.users = 30;
    result.users_busy = 12;
    result.first_seq = 2;
    Finished finished{"r1-abcd", 9, true, 1'790'000'000'000, 3s, {CycleInfo{1, 10, 1s, {}}}};
    Status status;
    status.version = "0.1.0";
    status.pid = 7;
    status.uptime_ms = 1000;
    status.frontend = "tcp://127.0.0.1:7780";
    status.backend = "tcp://127.0.0.1:7781";
    status.publisher = "tcp://*:7782";
    status.agents = {AgentStatus{sample_agent(), "busy", "r1-abcd", 12, "agent-key"}};
    status.runs = {RunStatus{"r1-abcd", "running", "http://x/", 1}};
    status.curve = true;
    status.auth = {AuthCount{"frontend", 2, 10, 1}};
    status.connections = Connections{3, 1000, 2, 17000, true};
    status.heartbeat_ms = 200;
    status.liveness_ms = 1500;
    Submit submit{spec, "libx.so:X.test", 5, true, 30s, lib, data};
    submit.show_url = true;
    Snapshot snap{"r1-abcd", 3, 1, 2s, 600, 6000, Duration(9s), 2, stats};
    snap.users = 30;
    snap.users_busy = 12;
    snap.agents = {SnapshotAgent{"a0", 400, 3, 1, 20, 8, "running"}};

    return {
        Register{sample_agent(), held},
        Heartbeat{"busy", "r1-abcd"},
        Ready{"r1-abcd"},
        Rejected{"r1-abcd", "library does not load"},
        result,
        finished,
        Welcome{200, 1500, "r1-abcd", 41},
        Prepare{"r1-abcd", spec, lib, data, "http://x/", "runner-1"},
        Start{"r1-abcd"},
        Stop{"r1-abcd"},
        Error{"no-agents", "need 5 idle agents, have 2"},
        StatusRequest{},
        status,
        submit,
        Submitted{"r1-abcd", {"a0", "a1"}},
        Attach{"r1-abcd"},
        RunFinished{summary},
        snap,
        RunEvent{"r1-abcd", "finished", "a1", "done", 1'790'000'000'000, summary},
        ClusterEvent{"agent-registered", sample_agent(), 1'790'000'000'000},
        Ack{"r1-abcd", 4, true},
        Fetch{std::string(64, 'a'), 1048576, 1048576},
        Chunk{std::string(64, 'a'), 1048576, std::string("\0\x01\x02\xff chunk", 10)},
    };
}

// A field as the lists reach it: its path ("spec.plan.ramp_ns") and a copy
// of its value, with how to compare it with another.
struct Leaf {
    std::string path;
    std::shared_ptr<const void> value;
    bool (*same)(const void*, const void*);
    bool operator==(const Leaf& o) const { return same(value.get(), o.value.get()); }
};

template <class T>
bool same(const void* a, const void* b) {
    return *static_cast<const T*>(a) == *static_cast<const T*>(b);
}

// Walks a value's field list down to leaves. A field of a listed type is
// walked into; so are an optional one (whether it is set is a leaf, then its
// value or a default one) and a list of them (its size is a leaf, then its
// first entry or a default one), so any two values of a type give the same
// paths. Anything else, and any field with a codec of its own, is a leaf.
struct Leaves : codec::Visitor<Leaves> {
    std::string prefix;
    std::vector<Leaf>& out;

    Leaves(std::string p, std::vector<Leaf>& o) : prefix(std::move(p)), out(o) {}

    template <class T>
    void leaf(const std::string& path, const T& x) {
        out.push_back({path, std::make_shared<T>(x), &same<T>});
    }
    template <class T>
    void walk(const std::string& path, const T& x) {
        Leaves inner(path, out);
        codec::fields(inner, x);
    }
    template <class T, class C>
    void field(std::string_view key, const T& value, C, codec::Presence) {
        using U = std::remove_cvref_t<T>;
        const U& x = value;
        const std::string path = prefix.empty() ? std::string(key) : prefix + "." + std::string(key);
        if constexpr (!std::is_same_v<C, codec::Plain>) {
            leaf(path, x);
        } else if constexpr (codec::Listed<U>) {
            walk(path, x);
        } else if constexpr (codec::is_optional<U>) {
            leaf(path + " (set)", x.has_value());
            if constexpr (codec::Listed<typename U::value_type>) walk(path, x ? *x : typename U::value_type{});
            else leaf(path, x);
        } else if constexpr (codec::is_vector<U>) {
            leaf(path, x.size());
            if constexpr (codec::Listed<typename U::value_type>)
                walk(path + "[0]", x.empty() ? typename U::value_type{} : x.front());
            else leaf(path, x);
        } else {
            leaf(path, x);
        }
    }
};

template <class M>
std::vector<Leaf> leaves_of(const M& m) {
    std::vector<Leaf> out;
    Leaves walker("", out);
    codec::fields(walker, m);
    return out;
}

bool published(const Message& m) {
    return std::holds_alternative<Snapshot>(m) || std::holds_alternative<RunEvent>(m) ||
           std::holds_alternative<ClusterEvent>(m);
}

}  // namespace

TEST_CASE("every field of every list survives a round trip, set to other than its default") {
    std::set<std::size_t> kinds;
    std::size_t checked = 0;
    for (const auto& m : full_messages()) {
        INFO(command_of(m));
        kinds.insert(m.index());
        const Frames f = encode(m);
        const Message back = published(m) ? decode_published(topic_of(m), f.body) : decode(f.head, f.body);
        REQUIRE(back.index() == m.index());
        std::visit(
            [&](const auto& sent) {
                using M = std::decay_t<decltype(sent)>;
                const auto got = leaves_of(std::get<M>(back));
                const auto defaults = leaves_of(M{});
                const auto want = leaves_of(sent);
                REQUIRE(got.size() == want.size());
                REQUIRE(defaults.size() == want.size());
                for (std::size_t i = 0; i < want.size(); ++i) {
                    INFO(want[i].path);
                    CHECK(got[i].path == want[i].path);
                    CHECK(got[i] == want[i]);  // it came back
                    // The message sets it: at its default it would come back unread.
                    CHECK_FALSE(defaults[i] == want[i]);
                    ++checked;
                }
            },
            m);
    }
    CHECK(kinds.size() == std::variant_size_v<Message>);  // one message of every kind
    CHECK(checked > 250);
}

TEST_CASE("the walk sees a field that does not come back") {
    // The check above, against a decoder that forgot a field: Welcome without its acked.
    Welcome sent{200, 1500, "r1", 41};
    Welcome got = std::get<Welcome>(decode("WELCOME", encode(sent).body));
    got.acked = 0;
    const auto a = leaves_of(sent), b = leaves_of(got);
    REQUIRE(a.size() == 4);
    CHECK(a[3].path == "acked");
    CHECK_FALSE(a[3] == b[3]);
    CHECK(a[2] == b[2]);
}

namespace {

Kind kind_of(std::string_view command, const std::string& body) {
    try {
        decode(command, body);
    } catch (const ProtoError& e) {
        return e.kind;
    }
    return Kind::empty;  // decoded
}

// `body` with the bytes after `key` (a fixstr key and its value `was`) replaced by `now`.
std::string replaced(std::string body, const std::string& key, const std::string& was, const std::string& now) {
    const std::string from = static_cast<char>(0xa0 + key.size()) + key + was;
    const auto at = body.find(from);
    REQUIRE(at != std::string::npos);
    return body.replace(at, from.size(), static_cast<char>(0xa0 + key.size()) + key + now);
}

}  // namespace

TEST_CASE("a field's presence: later ones may be absent, later_or_nil ones nil, unknown keys are ignored") {
    // later: absent keeps the default, nil is malformed.
    Result r{"r1", 4, 0, 1, 1s, Stats{}};
    const std::string nil("\xc0", 1), zero("\x00", 1);
    CHECK(kind_of("RESULT", replaced(encode(r).body, "first_seq", zero, nil)) == Kind::malformed);
    // later_or_nil: data and params may be nil, as none.
    Prepare p{"r1", one_hit_spec(), std::nullopt};
    std::string body = replaced(encode(p).body, "data", "\x90", nil);
    body = replaced(body, "params", "\x80", nil);
    auto back = std::get<Prepare>(decode("PREPARE", body));
    CHECK(back.data.empty());
    CHECK(back.spec.params.empty());
    CHECK(kind_of("PREPARE", replaced(encode(p).body, "data", "\x90", "\x80")) == Kind::malformed);  // a map
    // if_any: connections is absent or a map, never nil (it is last: cut there).
    Status st;
    st.connections = Connections{1, 2, 3, 4, true};
    std::string status = encode(st).body;
    const auto at = status.find("\xab" "connections");
    REQUIRE(at != std::string::npos);
    CHECK(kind_of("STATUS", status.substr(0, at + 12) + nil) == Kind::malformed);
    // Names: only the listed ones.
    RunState held{"r1", one_hit_spec(), "t", "", true, 0, 0};
    CHECK(kind_of("REGISTER", replaced(encode(Register{sample_agent(), held}).body, "state", "\xa8" "finished",
                                       "\xa6" "paused")) == Kind::malformed);
    // An unknown key is ignored: a newer peer's field.
    std::string ready = encode(Ready{"r1"}).body;
    REQUIRE(static_cast<unsigned char>(ready[0]) == 0x82);
    ready[0] = '\x83';
    ready += "\xa5" "extra" "\x01";
    CHECK(std::get<Ready>(decode("READY", ready)).run == "r1");
}
