// The msgpack codec of docs/protocol.md. Encoding writes maps with string
// keys (readable from any language); decoding checks every type and range
// and turns anything unexpected into a ProtoError, never a crash.
#include "loads/proto/messages.hpp"

#include <msgpack.hpp>

#include <array>
#include <cmath>
#include <utility>

namespace loads::proto {

namespace {

using Packer = msgpack::packer<msgpack::sbuffer>;

// ------------------------------------------------------------ writing

struct Writer {
    msgpack::sbuffer buf;
    Packer pk{buf};

    void map(std::size_t n) { pk.pack_map(static_cast<std::uint32_t>(n)); }
    void array(std::size_t n) { pk.pack_array(static_cast<std::uint32_t>(n)); }
    void str(std::string_view s) {
        pk.pack_str(static_cast<std::uint32_t>(s.size()));
        pk.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
    }
    void bin(std::string_view s) {
        pk.pack_bin(static_cast<std::uint32_t>(s.size()));
        pk.pack_bin_body(s.data(), static_cast<std::uint32_t>(s.size()));
    }
    void u64(std::uint64_t v) { pk.pack_uint64(v); }
    void i64(std::int64_t v) { pk.pack_int64(v); }
    void f64(double v) { pk.pack_double(v); }
    void boolean(bool b) { b ? pk.pack_true() : pk.pack_false(); }
    void nil() { pk.pack_nil(); }
    void dur(Duration d) { pk.pack_int64(d.count()); }

    // Field helpers: key then value.
    void kstr(std::string_view k, std::string_view v) { str(k); str(v); }
    void ku64(std::string_view k, std::uint64_t v) { str(k); u64(v); }
    void ki64(std::string_view k, std::int64_t v) { str(k); i64(v); }
    void kf64(std::string_view k, double v) { str(k); f64(v); }
    void kbool(std::string_view k, bool v) { str(k); boolean(v); }
    void kdur(std::string_view k, Duration v) { str(k); dur(v); }
};

// The Stats counters, one table for both directions.
struct Counter {
    std::string_view name;
    std::uint64_t Stats::*field;
};
constexpr std::array<Counter, 22> kCounters{{
    {"hits", &Stats::hits},
    {"successes", &Stats::successes},
    {"failures", &Stats::failures},
    {"errors", &Stats::errors},
    {"interrupted", &Stats::interrupted},
    {"scheduled", &Stats::scheduled},
    {"dropped", &Stats::dropped},
    {"late", &Stats::late},
    {"requests", &Stats::requests},
    {"request_errors", &Stats::request_errors},
    {"bytes_sent", &Stats::bytes_sent},
    {"bytes_received", &Stats::bytes_received},
    {"ws_opened", &Stats::ws_opened},
    {"ws_closed", &Stats::ws_closed},
    {"ws_messages_sent", &Stats::ws_messages_sent},
    {"ws_messages_received", &Stats::ws_messages_received},
    {"ws_bytes_sent", &Stats::ws_bytes_sent},
    {"ws_bytes_received", &Stats::ws_bytes_received},
    {"tcp_opened", &Stats::tcp_opened},
    {"tcp_closed", &Stats::tcp_closed},
    {"tcp_bytes_sent", &Stats::tcp_bytes_sent},
    {"tcp_bytes_received", &Stats::tcp_bytes_received},
}};

// Counters added after the first v2 release: always written, optional to
// read (absent is 0), so older writers stay readable.
constexpr std::array<Counter, 3> kLaterCounters{{
    {"users_out_of_data", &Stats::users_out_of_data},
    {"start_failures", &Stats::start_failures},
    {"skipped", &Stats::skipped},
}};

void write_histogram(Writer& w, const Histogram& h) {
    auto sparse = h.to_sparse();
    w.map(5);
    w.str("buckets");
    w.array(sparse.size() * 2);
    for (auto [i, c] : sparse) {
        w.u64(i);
        w.u64(c);
    }
    w.ku64("min", h.min());
    w.ku64("max", h.max());
    w.ku64("sum", h.sum());
    w.ku64("clamped", h.clamped());
}

void write_stats(Writer& w, const Stats& s) {
    w.map(kCounters.size() + kLaterCounters.size() + 8);
    for (const auto& c : kCounters) w.ku64(c.name, s.*c.field);
    for (const auto& c : kLaterCounters) w.ku64(c.name, s.*c.field);

    std::size_t kinds = 0;
    for (auto n : s.errors_by_kind) kinds += n != 0;
    w.str("errors_by_kind");
    w.map(kinds);
    for (std::size_t i = 0; i < s.errors_by_kind.size(); ++i)
        if (s.errors_by_kind[i]) w.ku64(to_string(static_cast<loads::ErrorKind>(i)), s.errors_by_kind[i]);

    std::size_t codes = 0;
    for (auto n : s.status_codes) codes += n != 0;
    w.str("status_codes");
    w.map(codes);
    for (std::size_t i = 0; i < s.status_codes.size(); ++i)
        if (s.status_codes[i]) {
            w.u64(i);
            w.u64(s.status_codes[i]);
        }

    w.str("messages");
    w.map(s.messages.size());
    for (const auto& [m, n] : s.messages) w.ku64(m, n);

    w.str("latency");
    write_histogram(w, s.latency);
    w.str("latency_from_schedule");
    write_histogram(w, s.latency_from_schedule);

    w.str("labels");
    std::size_t used = 0;
    for (const auto& [name, row] : s.labels) used += row.count != 0 || row.errors != 0;
    w.map(used);
    for (const auto& [name, row] : s.labels) {
        if (row.count == 0 && row.errors == 0) continue;
        w.str(name);
        w.map(3);
        w.ku64("count", row.count);
        w.ku64("errors", row.errors);
        w.str("latency");
        write_histogram(w, row.latency);
    }

    w.str("tasks");
    std::size_t ran = 0;
    for (const auto& [name, row] : s.tasks) ran += row.count != 0;
    w.map(ran);
    for (const auto& [name, row] : s.tasks) {
        if (row.count == 0) continue;
        w.str(name);
        w.map(4);
        w.ku64("count", row.count);
        w.ku64("failures", row.failures);
        w.ku64("errors", row.errors);
        w.str("duration");
        write_histogram(w, row.duration);
    }

    w.str("metrics");
    std::size_t added = 0;
    for (const auto& [name, m] : s.metrics) added += m.count != 0;
    w.map(added);
    for (const auto& [name, m] : s.metrics) {
        if (m.count == 0) continue;
        w.str(name);
        w.map(9);
        w.kstr("kind", to_string(m.kind));
        w.ku64("count", m.count);
        w.ku64("nonzero", m.nonzero);
        w.kf64("sum", m.sum);
        w.kf64("min", m.min);
        w.kf64("max", m.max);
        w.kf64("last", m.last);
        w.ki64("last_at_ns", m.last_at_ns);
        w.str("values");
        if (m.values) write_histogram(w, *m.values);
        else w.nil();
    }
}

void write_agent(Writer& w, const AgentInfo& a) {
    w.map(5);
    w.kstr("id", a.id);
    w.kstr("host", a.host);
    w.ku64("pid", a.pid);
    w.ku64("threads", a.threads);
    w.kstr("version", a.version);
}

void write_library(Writer& w, const std::optional<Library>& lib) {
    if (!lib) {
        w.nil();
        return;
    }
    w.map(4);
    w.kstr("name", lib->name);
    w.kstr("sha256", lib->sha256);
    w.ku64("size", lib->bytes.empty() ? lib->size : lib->bytes.size());
    w.str("bytes");
    w.bin(lib->bytes);
}

void write_data_files(Writer& w, const std::vector<DataFile>& files) {
    w.array(files.size());
    for (const auto& f : files) {
        w.map(4);
        w.kstr("name", f.name);
        w.kstr("file", f.file);
        w.kstr("sha256", f.sha256);
        w.str("bytes");
        w.bin(f.bytes);
    }
}

void write_spec(Writer& w, const RunSpec& s) {
    w.map(9);
    w.str("test");
    const TestSpec& t = s.test;
    w.map(8);
    w.kstr("kind", t.kind == TestSpec::Kind::url ? "url" : "library");
    w.kstr("url", t.url);
    w.kstr("method", t.method);
    w.str("headers");
    w.array(t.headers.size());
    for (const auto& [k, v] : t.headers) {
        w.array(2);
        w.str(k);
        w.str(v);
    }
    w.kstr("body", t.body);
    w.kstr("expect", t.expect);
    w.kstr("until", t.until);
    w.kstr("test_name", t.test_name);

    w.str("plan");
    const Plan& p = s.plan;
    w.map(10);
    w.kstr("model", to_string(p.model));
    w.str("cycles");
    w.array(p.cycles.size());
    for (const auto& c : p.cycles) {
        w.array(4);
        w.u64(c.users);
        w.u64(c.hits);
        if (c.duration) w.dur(*c.duration);
        else w.nil();
        w.pk.pack_double(c.rate);
    }
    w.kdur("ramp_ns", p.ramp);
    w.kstr("arrivals", to_string(p.arrivals));
    w.ku64("max_users", p.max_users);
    w.kdur("arrival_window_ns", p.arrival_window);
    w.kdur("sleep_min_ns", p.sleep.min);
    w.kdur("sleep_max_ns", p.sleep.max);
    w.kdur("startup_delay_ns", p.startup_delay);
    w.kdur("graceful_stop_ns", p.graceful_stop);

    w.kstr("server_url", s.server_url);
    w.str("client");
    w.map(8);
    w.kdur("connect_timeout_ns", s.client.connect_timeout);
    w.kdur("timeout_ns", s.client.timeout);
    w.kbool("follow_redirects", s.client.follow_redirects);
    w.ku64("max_redirects", s.client.max_redirects);
    w.kbool("insecure", s.client.insecure);
    w.ku64("max_body", s.client.max_body);
    w.kbool("http2", s.client.http2);
    w.ku64("streams", s.client.streams);
    w.kdur("interval_ns", s.interval);
    w.ku64("agent_index", s.agent_index);
    w.ku64("agent_count", s.agent_count);
    w.kstr("data_exhausted", s.data_exhausted == DataExhaustion::stop ? "stop" : "wrap");
    w.str("params");
    w.map(s.params.size());
    for (const auto& [k, v] : s.params) w.kstr(k, v);
}

void write_cycles(Writer& w, const std::vector<CycleInfo>& cycles, bool with_stats) {
    w.array(cycles.size());
    for (const auto& c : cycles) {
        w.map(with_stats ? 4 : 3);
        w.ku64("index", c.index);
        w.ku64("users", c.users);
        w.kdur("elapsed_ns", c.elapsed);
        if (with_stats) {
            w.str("stats");
            write_stats(w, c.stats);
        }
    }
}

void write_strings(Writer& w, const std::vector<std::string>& v) {
    w.array(v.size());
    for (const auto& s : v) w.str(s);
}

void write_summary(Writer& w, const RunSummary& s) {
    w.map(11);
    w.kstr("run", s.run);
    w.kstr("test", s.test);
    w.ki64("started_ms", s.started_ms);
    w.kdur("elapsed_ns", s.elapsed);
    w.kbool("stopped", s.stopped);
    w.kbool("incomplete", s.incomplete);
    w.kstr("error", s.error);
    w.str("agents");
    write_strings(w, s.agents);
    w.str("events");
    write_strings(w, s.events);
    w.str("cycles");
    write_cycles(w, s.cycles, true);
    w.str("total");
    write_stats(w, s.total);
}

// Every body starts with "v". `n` is the number of other fields.
void begin(Writer& w, std::size_t n) {
    w.map(n + 1);
    w.ku64("v", kVersion);
}

struct BodyWriter {
    Writer& w;
    void operator()(const Register& m) {
        begin(w, 2);
        w.str("agent");
        write_agent(w, m.agent);
        w.str("run");
        if (!m.run) {
            w.nil();
            return;
        }
        w.map(7);
        w.kstr("run", m.run->run);
        w.str("spec");
        write_spec(w, m.run->spec);
        w.kstr("test", m.run->test);
        w.kstr("owner", m.run->owner);
        w.kstr("state", m.run->finished ? "finished" : "running");
        w.ki64("started_ms", m.run->started_ms);
        w.ku64("last_seq", m.run->last_seq);
    }
    void operator()(const Heartbeat& m) {
        begin(w, 2);
        w.kstr("state", m.state);
        w.kstr("run", m.run);
    }
    void operator()(const Ready& m) {
        begin(w, 1);
        w.kstr("run", m.run);
    }
    void operator()(const Fetch& m) {
        begin(w, 3);
        w.kstr("sha256", m.sha256);
        w.ku64("offset", m.offset);
        w.ku64("length", m.length);
    }
    void operator()(const Chunk& m) {
        begin(w, 3);
        w.kstr("sha256", m.sha256);
        w.ku64("offset", m.offset);
        w.str("data");
        w.bin(m.data);
    }
    void operator()(const Rejected& m) {
        begin(w, 2);
        w.kstr("run", m.run);
        w.kstr("error", m.error);
    }
    void operator()(const Result& m) {
        begin(w, 9);
        w.ku64("first_seq", m.first_seq);
        w.ku64("users", m.users);
        w.ku64("users_busy", m.users_busy);
        w.kstr("run", m.run);
        w.ku64("seq", m.seq);
        w.ku64("cycle", m.cycle);
        w.ku64("hits_done", m.hits_done);
        w.kdur("elapsed_ns", m.elapsed);
        w.str("stats");
        write_stats(w, m.stats);
    }
    void operator()(const Finished& m) {
        begin(w, 6);
        w.kstr("run", m.run);
        w.ku64("last_seq", m.last_seq);
        w.kbool("stopped", m.stopped);
        w.ki64("started_ms", m.started_ms);
        w.kdur("elapsed_ns", m.elapsed);
        w.str("cycles");
        write_cycles(w, m.cycles, false);
    }
    void operator()(const Welcome& m) {
        begin(w, 4);
        w.ku64("heartbeat_ms", m.heartbeat_ms);
        w.ku64("liveness_ms", m.liveness_ms);
        w.kstr("run", m.run);
        w.ku64("acked", m.acked);
    }
    void operator()(const Ack& m) {
        begin(w, 3);
        w.kstr("run", m.run);
        w.ku64("seq", m.seq);
        w.kbool("finished", m.finished);
    }
    void operator()(const Prepare& m) {
        begin(w, 6);
        w.kstr("test", m.test);
        w.kstr("owner", m.owner);
        w.kstr("run", m.run);
        w.str("spec");
        write_spec(w, m.spec);
        w.str("library");
        write_library(w, m.library);
        w.str("data");
        write_data_files(w, m.data);
    }
    void operator()(const Start& m) {
        begin(w, 1);
        w.kstr("run", m.run);
    }
    void operator()(const Stop& m) {
        begin(w, 1);
        w.kstr("run", m.run);
    }
    void operator()(const Error& m) {
        begin(w, 2);
        w.kstr("code", m.code);
        w.kstr("message", m.message);
    }
    void operator()(const StatusRequest&) { begin(w, 0); }
    void operator()(const Status& m) {
        begin(w, m.connections ? 13 : 12);
        w.kstr("version", m.version);
        w.ku64("heartbeat_ms", m.heartbeat_ms);
        w.ku64("liveness_ms", m.liveness_ms);
        w.ku64("pid", m.pid);
        w.ki64("uptime_ms", m.uptime_ms);
        w.kstr("frontend", m.frontend);
        w.kstr("backend", m.backend);
        w.kstr("publisher", m.publisher);
        w.str("agents");
        w.array(m.agents.size());
        for (const auto& a : m.agents) {
            w.map(5);
            w.str("agent");
            write_agent(w, a.agent);
            w.kstr("state", a.state);
            w.kstr("run", a.run);
            w.ki64("last_seen_ms", a.last_seen_ms);
            w.kstr("key", a.key);
        }
        w.str("runs");
        w.array(m.runs.size());
        for (const auto& r : m.runs) {
            w.map(4);
            w.kstr("id", r.id);
            w.kstr("state", r.state);
            w.kstr("test", r.test);
            w.ku64("agents", r.agents);
        }
        w.kbool("curve", m.curve);
        w.str("auth");
        w.array(m.auth.size());
        for (const auto& a : m.auth) {
            w.map(4);
            w.kstr("socket", a.socket);
            w.ku64("keys", a.keys);
            w.ku64("allowed", a.allowed);
            w.ku64("refused", a.refused);
        }
        if (m.connections) {
            w.str("connections");
            w.map(5);
            w.ku64("frontend", m.connections->frontend);
            w.ku64("backend", m.connections->backend);
            w.ku64("publisher", m.connections->publisher);
            w.ku64("max", m.connections->max);
            w.kbool("refusing", m.connections->refusing);
        }
    }
    void operator()(const Submit& m) {
        begin(w, 8);
        w.str("spec");
        write_spec(w, m.spec);
        w.kstr("test", m.test);
        w.ku64("agents", m.agents);
        w.kbool("wait", m.wait);
        w.kdur("wait_timeout_ns", m.wait_timeout);
        w.str("library");
        write_library(w, m.library);
        w.str("data");
        write_data_files(w, m.data);
        w.kbool("show_url", m.show_url);
    }
    void operator()(const Submitted& m) {
        begin(w, 2);
        w.kstr("run", m.run);
        w.str("agents");
        write_strings(w, m.agents);
    }
    void operator()(const Attach& m) {
        begin(w, 1);
        w.kstr("run", m.run);
    }
    void operator()(const RunFinished& m) {
        begin(w, 1);
        w.str("summary");
        write_summary(w, m.summary);
    }
    void operator()(const Snapshot& m) {
        begin(w, 12);
        w.ku64("users", m.users);
        w.ku64("users_busy", m.users_busy);
        w.kstr("run", m.run);
        w.ku64("seq", m.seq);
        w.ku64("cycle", m.cycle);
        w.kdur("elapsed_ns", m.elapsed);
        w.ku64("hits_done", m.hits_done);
        w.str("hits_total");
        if (m.hits_total) w.u64(*m.hits_total);
        else w.nil();
        w.str("duration_total_ns");
        if (m.duration_total) w.dur(*m.duration_total);
        else w.nil();
        w.ku64("agents_running", m.agents_running);
        w.str("delta");
        write_stats(w, m.delta);
        w.str("agents");
        w.array(m.agents.size());
        for (const auto& a : m.agents) {
            w.map(7);
            w.kstr("id", a.id);
            w.ku64("hits_done", a.hits_done);
            w.ku64("errors", a.errors);
            w.ku64("failures", a.failures);
            w.ku64("users", a.users);
            w.ku64("users_busy", a.users_busy);
            w.kstr("state", a.state);
        }
    }
    void operator()(const RunEvent& m) {
        begin(w, 6);
        w.kstr("run", m.run);
        w.kstr("event", m.event);
        w.kstr("agent", m.agent);
        w.kstr("message", m.message);
        w.ki64("time_ms", m.time_ms);
        w.str("summary");
        if (m.summary) write_summary(w, *m.summary);
        else w.nil();
    }
    void operator()(const ClusterEvent& m) {
        begin(w, 3);
        w.kstr("event", m.event);
        w.str("agent");
        write_agent(w, m.agent);
        w.ki64("time_ms", m.time_ms);
    }
};

// ------------------------------------------------------------ reading

[[noreturn]] void bad(const std::string& what) { throw ProtoError(ErrorKind::malformed, what); }

class Value {
public:
    Value(const msgpack::object& o, std::string path) : o_(o), path_(std::move(path)) {}

    const std::string& path() const { return path_; }
    bool is_nil() const { return o_.type == msgpack::type::NIL; }

    std::uint64_t u64() const {
        if (o_.type != msgpack::type::POSITIVE_INTEGER) bad(path_ + ": expected a non-negative integer");
        return o_.via.u64;
    }
    std::uint32_t u32() const {
        auto v = u64();
        if (v > UINT32_MAX) bad(path_ + ": value out of range");
        return static_cast<std::uint32_t>(v);
    }
    std::int64_t i64() const {
        if (o_.type == msgpack::type::NEGATIVE_INTEGER) return o_.via.i64;
        if (o_.type == msgpack::type::POSITIVE_INTEGER && o_.via.u64 <= INT64_MAX)
            return static_cast<std::int64_t>(o_.via.u64);
        bad(path_ + ": expected an integer");
    }
    double f64() const {
        double d = 0;
        if (o_.type == msgpack::type::FLOAT32 || o_.type == msgpack::type::FLOAT64) d = o_.via.f64;
        else if (o_.type == msgpack::type::POSITIVE_INTEGER) d = static_cast<double>(o_.via.u64);
        else if (o_.type == msgpack::type::NEGATIVE_INTEGER) d = static_cast<double>(o_.via.i64);
        else bad(path_ + ": expected a number");
        if (!std::isfinite(d)) bad(path_ + ": not a finite number");
        return d;
    }
    Duration dur() const {
        auto v = i64();
        if (v < 0) bad(path_ + ": negative duration");
        if (Duration(v) > kMaxWireDuration) bad(path_ + ": above 366 days");
        return Duration(v);
    }
    bool boolean() const {
        if (o_.type != msgpack::type::BOOLEAN) bad(path_ + ": expected a boolean");
        return o_.via.boolean;
    }
    std::string str() const {
        if (o_.type != msgpack::type::STR) bad(path_ + ": expected a string");
        return std::string(o_.via.str.ptr, o_.via.str.size);
    }
    // Bytes: bin, or str from writers that cannot make bin.
    std::string bytes() const {
        if (o_.type == msgpack::type::BIN) return std::string(o_.via.bin.ptr, o_.via.bin.size);
        if (o_.type == msgpack::type::STR) return std::string(o_.via.str.ptr, o_.via.str.size);
        bad(path_ + ": expected bytes");
    }
    std::size_t size() const { return array().size; }
    Value operator[](std::size_t i) const {
        const auto& a = array();
        if (i >= a.size) bad(path_ + ": array too short");
        return Value(a.ptr[i], path_ + "[" + std::to_string(i) + "]");
    }
    const msgpack::object_array& array() const {
        if (o_.type != msgpack::type::ARRAY) bad(path_ + ": expected an array");
        return o_.via.array;
    }
    const msgpack::object_map& map() const {
        if (o_.type != msgpack::type::MAP) bad(path_ + ": expected a map");
        return o_.via.map;
    }
    // Map access by string key.
    std::optional<Value> find(std::string_view key) const {
        const auto& m = map();
        for (std::uint32_t i = 0; i < m.size; ++i) {
            const auto& k = m.ptr[i].key;
            if (k.type == msgpack::type::STR && std::string_view(k.via.str.ptr, k.via.str.size) == key)
                return Value(m.ptr[i].val, path_ + "." + std::string(key));
        }
        return std::nullopt;
    }
    Value operator()(std::string_view key) const {
        auto v = find(key);
        if (!v) bad(path_ + ": missing field '" + std::string(key) + "'");
        return *v;
    }
    // Iterates a map with string keys.
    template <class F>
    void each(F&& f) const {
        const auto& m = map();
        for (std::uint32_t i = 0; i < m.size; ++i) {
            Value k(m.ptr[i].key, path_ + ".<key>");
            f(k, Value(m.ptr[i].val, path_ + "[" + std::to_string(i) + "]"));
        }
    }

private:
    const msgpack::object& o_;
    std::string path_;
};

Histogram read_histogram(const Value& v) {
    Value b = v("buckets");
    const auto n = b.size();
    if (n % 2 != 0) bad(b.path() + ": odd length");
    std::vector<std::pair<std::uint32_t, std::uint64_t>> sparse;
    sparse.reserve(n / 2);
    for (std::size_t i = 0; i < n; i += 2) sparse.emplace_back(b[i].u32(), b[i + 1].u64());
    Histogram h;
    if (!h.from_sparse(sparse, v("min").u64(), v("max").u64(), v("sum").u64(), v("clamped").u64()))
        bad(v.path() + ": inconsistent histogram");
    return h;
}

// One custom metric of a stats map, checked as docs/protocol.md says.
void merge_metric(Stats& s, const std::string& name, const Value& row) {
    if (name.empty() || name.size() > Stats::kMaxMetricName)
        bad(row.path() + ": a metric name is 1 to " + std::to_string(Stats::kMaxMetricName) + " bytes");
    auto kind = metric_kind_from_string(row("kind").str());
    if (!kind) bad(row.path() + ".kind: not one of counter, gauge, rate, trend");
    MetricStats in(*kind);
    in.count = row("count").u64();
    in.nonzero = row("nonzero").u64();
    in.sum = row("sum").f64();
    in.min = row("min").f64();
    in.max = row("max").f64();
    in.last = row("last").f64();
    in.last_at_ns = row("last_at_ns").i64();
    if (in.count == 0) bad(row.path() + ": count is 0 (a metric is sent once it has a value)");
    if (in.nonzero > in.count) bad(row.path() + ": nonzero > count");
    if (in.min > in.max) bad(row.path() + ": min > max");
    if (*kind == MetricKind::trend) {
        in.values = read_histogram(row("values"));
        if (in.values->count() != in.count) bad(row.path() + ".values: count differs from the metric's");
    } else if (!row("values").is_nil()) {
        bad(row.path() + ".values: only a trend has values");
    }
    MetricStats* mine = s.metric(name, *kind);
    if (!mine) bad(row.path() + ": name given twice with different kinds");
    mine->merge(in);
}

Stats read_stats(const Value& v) {
    Stats s;
    for (const auto& c : kCounters) s.*c.field = v(c.name).u64();
    for (const auto& c : kLaterCounters)
        if (auto f = v.find(c.name)) s.*c.field = f->u64();
    v("errors_by_kind").each([&](const Value& k, const Value& n) {
        auto kind = error_kind_from_string(k.str());
        // A newer peer's unknown kind still counts, as "other".
        s.errors_by_kind[static_cast<std::size_t>(kind.value_or(loads::ErrorKind::other))] += n.u64();
    });
    v("status_codes").each([&](const Value& k, const Value& n) {
        auto code = k.u64();
        s.status_codes[code < Stats::kStatusCodes ? code : 0] += n.u64();
    });
    // An agent folds past its caps, so more rows than the cap plus "(other)"
    // is not from one (docs/protocol.md, Stats).
    if (v("messages").map().size > Stats::kMaxMessages + 1)
        bad(v.path() + ".messages: more than " + std::to_string(Stats::kMaxMessages) + " messages and (other)");
    if (v("labels").map().size > Stats::kMaxLabels + 1)
        bad(v.path() + ".labels: more than " + std::to_string(Stats::kMaxLabels) + " labels and (other)");
    v("messages").each([&](const Value& k, const Value& n) {
        auto text = k.str();
        auto count = n.u64();
        auto it = s.messages.find(text);
        if (it != s.messages.end()) it->second += count;
        else if (s.messages.size() < Stats::kMaxMessages) s.messages.emplace(std::move(text), count);
        else s.messages["(other)"] += count;
    });
    s.latency = read_histogram(v("latency"));
    s.latency_from_schedule = read_histogram(v("latency_from_schedule"));
    v("labels").each([&](const Value& k, const Value& row) {
        LabelStats& l = s.labels[k.str()];  // as sent: the broker checks names' bytes (4.7), label() would cut them
        LabelStats in;
        in.count = row("count").u64();
        in.errors = row("errors").u64();
        in.latency = read_histogram(row("latency"));
        l.merge(in);
    });
    if (auto tasks = v.find("tasks")) {  // optional: a later v2 addition
        if (tasks->map().size > Stats::kMaxTasks + 1) bad(tasks->path() + ": more than 100 tasks");
        tasks->each([&](const Value& k, const Value& row) {
            TaskStats in;
            in.count = row("count").u64();
            in.failures = row("failures").u64();
            in.errors = row("errors").u64();
            in.duration = read_histogram(row("duration"));
            s.task(k.str()).merge(in);
        });
    }
    if (auto metrics = v.find("metrics")) {  // optional: a later v2 addition
        if (metrics->map().size > Stats::kMaxMetrics + kMetricKindCount)
            bad(metrics->path() + ": more than " + std::to_string(Stats::kMaxMetrics) + " metrics");
        metrics->each([&](const Value& k, const Value& row) { merge_metric(s, k.str(), row); });
    }
    return s;
}

AgentInfo read_agent(const Value& v) {
    AgentInfo a;
    a.id = v("id").str();
    a.host = v("host").str();
    a.pid = v("pid").u32();
    a.threads = v("threads").u32();
    a.version = v("version").str();
    if (a.id.empty() || a.id.size() > 255) bad(v.path() + ".id: must be 1 to 255 bytes");
    return a;
}

std::optional<Library> read_library(const Value& v) {
    if (v.is_nil()) return std::nullopt;
    Library l;
    l.name = v("name").str();
    l.sha256 = v("sha256").str();
    l.bytes = v("bytes").bytes();
    // size: optional (absent: the bytes'); with bytes, it must be theirs.
    l.size = l.bytes.size();
    if (auto size = v.find("size")) {
        l.size = size->u64();
        if (!l.bytes.empty() && l.size != l.bytes.size())
            bad(v.path() + ".size: " + std::to_string(l.size) + " but " + std::to_string(l.bytes.size()) + " bytes");
        if (l.size > kMaxLibrarySize) bad(v.path() + ".size: above " + std::to_string(kMaxLibrarySize));
    }
    return l;
}

// Optional since it came after the first v2 release: absent is no files.
std::vector<DataFile> read_data_files(const std::optional<Value>& v) {
    std::vector<DataFile> out;
    if (!v || v->is_nil()) return out;
    if (v->size() > kMaxDataFiles) bad(v->path() + ": more than " + std::to_string(kMaxDataFiles) + " data files");
    for (std::size_t i = 0; i < v->size(); ++i) {
        Value f = (*v)[i];
        DataFile d;
        d.name = f("name").str();
        if (d.name.empty() || d.name.size() > 64) bad(f.path() + ".name: must be 1 to 64 bytes");
        d.file = f("file").str();
        d.sha256 = f("sha256").str();
        d.bytes = f("bytes").bytes();
        out.push_back(std::move(d));
    }
    return out;
}

RunSpec read_spec(const Value& v) {
    RunSpec s;
    Value t = v("test");
    auto kind = t("kind").str();
    if (kind == "url") s.test.kind = TestSpec::Kind::url;
    else if (kind == "library") s.test.kind = TestSpec::Kind::library;
    else bad(t.path() + ".kind: expected \"url\" or \"library\"");
    s.test.url = t("url").str();
    s.test.method = t("method").str();
    Value h = t("headers");
    for (std::size_t i = 0; i < h.size(); ++i) s.test.headers.emplace_back(h[i][0].str(), h[i][1].str());
    s.test.body = t("body").str();
    s.test.expect = t("expect").str();
    s.test.until = t("until").str();
    s.test.test_name = t("test_name").str();

    Value p = v("plan");
    auto model = p("model").str();
    if (model == "closed") s.plan.model = LoadModelKind::closed;
    else if (model == "open") s.plan.model = LoadModelKind::open;
    else bad(p.path() + ".model: expected \"closed\" or \"open\"");
    Value cycles = p("cycles");
    if (cycles.size() == 0) bad(cycles.path() + ": a plan needs at least one cycle");
    for (std::size_t i = 0; i < cycles.size(); ++i) {
        Cycle c;
        c.users = cycles[i][0].u32();
        c.hits = cycles[i][1].u64();
        if (!cycles[i][2].is_nil()) c.duration = cycles[i][2].dur();
        c.rate = cycles[i][3].f64();
        if (s.plan.open()) {
            if (!c.duration || *c.duration <= Duration::zero()) bad(cycles[i].path() + ": an open cycle needs a duration");
            if (!(c.rate > 0) || c.rate > 1e8) bad(cycles[i].path() + ": rate out of range (0, 1e8]");
        } else if (c.users == 0 || c.users > 1'000'000) {
            bad(cycles[i].path() + ": users out of range");
        }
        s.plan.cycles.push_back(c);
    }
    s.plan.ramp = p("ramp_ns").dur();
    auto arrivals = p("arrivals").str();
    if (arrivals == "uniform") s.plan.arrivals = Arrivals::uniform;
    else if (arrivals == "poisson") s.plan.arrivals = Arrivals::poisson;
    else bad(p.path() + ".arrivals: expected \"uniform\" or \"poisson\"");
    s.plan.max_users = p("max_users").u32();
    s.plan.arrival_window = p("arrival_window_ns").dur();
    if (s.plan.arrival_window > std::chrono::milliseconds(100)) bad(p.path() + ".arrival_window_ns: above 100 ms");
    if (s.plan.open() && s.plan.max_users == 0) bad(p.path() + ".max_users: at least 1 in the open model");
    s.plan.sleep.min = p("sleep_min_ns").dur();
    s.plan.sleep.max = p("sleep_max_ns").dur();
    if (s.plan.sleep.max < s.plan.sleep.min) bad(p.path() + ": sleep max below min");
    s.plan.startup_delay = p("startup_delay_ns").dur();
    s.plan.graceful_stop = p("graceful_stop_ns").dur();

    s.server_url = v("server_url").str();
    Value c = v("client");
    s.client.connect_timeout = c("connect_timeout_ns").dur();
    s.client.timeout = c("timeout_ns").dur();
    s.client.follow_redirects = c("follow_redirects").boolean();
    s.client.max_redirects = c("max_redirects").u32();
    s.client.insecure = c("insecure").boolean();
    s.client.max_body = c("max_body").u64();
    if (auto h2 = c.find("http2")) s.client.http2 = h2->boolean();  // optional: a later addition
    if (auto n = c.find("streams")) {                                // optional: absent is 1
        s.client.streams = n->u32();
        if (s.client.streams < 1 || s.client.streams > 1000) bad(c.path() + ".streams: 1 to 1000");
    }
    s.interval = v("interval_ns").dur();
    if (s.interval < std::chrono::milliseconds(10)) bad(v.path() + ".interval_ns: below 10 ms");
    if (s.interval > kMaxInterval) bad(v.path() + ".interval_ns: above 1 hour");
    s.agent_index = v("agent_index").u32();
    s.agent_count = v("agent_count").u32();
    if (s.agent_count == 0 || s.agent_index >= s.agent_count)
        bad(v.path() + ": agent_index must be below agent_count (at least 1)");
    if (s.plan.open() && s.plan.max_users < s.agent_count)
        bad(v.path() + ".plan.max_users: below agent_count");
    if (auto d = v.find("data_exhausted")) {  // optional: absent is "wrap"
        auto text = d->str();
        if (text == "stop") s.data_exhausted = DataExhaustion::stop;
        else if (text != "wrap") bad(d->path() + ": expected \"wrap\" or \"stop\"");
    }
    // Optional (added after the first v2 release): absent is none.
    if (auto params = v.find("params"); params && !params->is_nil()) {
        if (params->map().size > kMaxParams) bad(params->path() + ": more than " + std::to_string(kMaxParams) + " params");
        params->each([&](const Value& k, const Value& val) {
            auto key = k.str();
            if (auto why = check_param_key(key); !why.empty()) bad(params->path() + ": \"" + key.substr(0, 64) + "\": " + why);
            auto text = val.str();
            if (text.size() > kMaxParamValue) bad(params->path() + "." + key + ": value above " + std::to_string(kMaxParamValue) + " bytes");
            if (!s.params.emplace(std::move(key), std::move(text)).second) bad(params->path() + ": key given twice");
        });
    }
    return s;
}

std::vector<CycleInfo> read_cycles(const Value& v, bool with_stats) {
    std::vector<CycleInfo> out;
    for (std::size_t i = 0; i < v.size(); ++i) {
        CycleInfo c;
        c.index = v[i]("index").u32();
        c.users = v[i]("users").u32();
        c.elapsed = v[i]("elapsed_ns").dur();
        if (with_stats) c.stats = read_stats(v[i]("stats"));
        out.push_back(std::move(c));
    }
    return out;
}

std::vector<std::string> read_strings(const Value& v) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < v.size(); ++i) out.push_back(v[i].str());
    return out;
}

RunSummary read_summary(const Value& v) {
    RunSummary s;
    s.run = v("run").str();
    s.test = v("test").str();
    s.started_ms = v("started_ms").i64();
    s.elapsed = v("elapsed_ns").dur();
    s.stopped = v("stopped").boolean();
    s.incomplete = v("incomplete").boolean();
    s.error = v("error").str();
    s.agents = read_strings(v("agents"));
    s.events = read_strings(v("events"));
    s.cycles = read_cycles(v("cycles"), true);
    s.total = read_stats(v("total"));
    return s;
}

// The smallest encoding of a Snapshot "agents" entry: a fixmap header, its
// seven keys as fixstr (52 bytes), an id of at least one byte (2), five
// positive fixints and an empty state (6).
constexpr std::size_t kMinSnapshotAgentBytes = 1 + (3 + 10 + 7 + 9 + 6 + 11 + 6) + (2 + 5 + 1);

Message read_published(std::string_view kind, const Value& v) {
    if (kind == "snapshot") {
        Snapshot s;
        s.run = v("run").str();
        s.seq = v("seq").u64();
        s.cycle = v("cycle").u32();
        s.elapsed = v("elapsed_ns").dur();
        s.hits_done = v("hits_done").u64();
        if (Value t = v("hits_total"); !t.is_nil()) s.hits_total = t.u64();
        if (Value d = v("duration_total_ns"); !d.is_nil()) s.duration_total = d.dur();
        s.agents_running = v("agents_running").u32();
        s.users = v("users").u32();
        s.users_busy = v("users_busy").u32();
        s.delta = read_stats(v("delta"));
        Value agents = v("agents");
        // Each entry is a map of 7 fields, at least kMinSnapshotAgentBytes
        // encoded: a longer list cannot have come in one body.
        if (agents.size() > kMaxBodySize / kMinSnapshotAgentBytes) bad(agents.path() + ": too many entries");
        s.agents.reserve(agents.size());
        for (std::size_t i = 0; i < agents.size(); ++i) {
            Value e = agents[i];
            SnapshotAgent a;
            a.id = e("id").str();
            if (a.id.empty() || a.id.size() > 255) bad(e.path() + ".id: must be 1 to 255 bytes");
            a.hits_done = e("hits_done").u64();
            a.errors = e("errors").u64();
            a.failures = e("failures").u64();
            a.users = e("users").u32();
            a.users_busy = e("users_busy").u32();
            a.state = e("state").str();
            if (a.state.size() > 255) bad(e.path() + ".state: above 255 bytes");
            s.agents.push_back(std::move(a));
        }
        return s;
    }
    if (kind == "event") {
        RunEvent e;
        e.run = v("run").str();
        e.event = v("event").str();
        e.agent = v("agent").str();
        e.message = v("message").str();
        e.time_ms = v("time_ms").i64();
        if (Value s = v("summary"); !s.is_nil()) e.summary = read_summary(s);
        return e;
    }
    if (kind == "cluster") return ClusterEvent{v("event").str(), read_agent(v("agent")), v("time_ms").i64()};
    throw ProtoError(ErrorKind::unknown_command, "unknown topic kind '" + std::string(kind.substr(0, 64)) + "'");
}

RunState read_run_state(const Value& v) {
    RunState s;
    s.run = v("run").str();
    if (s.run.empty() || s.run.size() > 255) bad(v.path() + ".run: must be 1 to 255 bytes");
    s.spec = read_spec(v("spec"));
    if (s.spec.agent_count == 0 || s.spec.agent_count > 100'000 || s.spec.agent_index >= s.spec.agent_count)
        bad(v.path() + ".spec: agent_index must be below agent_count (1 to 100000)");
    s.test = v("test").str();
    s.owner = v("owner").str();
    const std::string state = v("state").str();
    if (state != "running" && state != "finished") bad(v.path() + ".state: not running or finished");
    s.finished = state == "finished";
    s.started_ms = v("started_ms").i64();
    s.last_seq = v("last_seq").u64();
    return s;
}

Message read_body(std::string_view command, const Value& v) {
    if (command == "REGISTER") {
        Register r{read_agent(v("agent")), std::nullopt};
        // Optional (absent or nil: no run): added with recovery.
        if (auto run = v.find("run"); run && !run->is_nil()) r.run = read_run_state(*run);
        return r;
    }
    if (command == "HEARTBEAT") return Heartbeat{v("state").str(), v("run").str()};
    if (command == "READY") return Ready{v("run").str()};
    if (command == "FETCH") {
        Fetch f{v("sha256").str(), v("offset").u64(), v("length").u64()};
        if (f.length == 0 || f.length > kMaxChunk)
            bad(v.path() + ".length: " + std::to_string(f.length) + " is not 1 to " + std::to_string(kMaxChunk));
        if (f.offset > kMaxLibrarySize) bad(v.path() + ".offset: above " + std::to_string(kMaxLibrarySize));
        return f;
    }
    if (command == "CHUNK") {
        Chunk c{v("sha256").str(), v("offset").u64(), v("data").bytes()};
        if (c.data.size() > kMaxChunk) bad(v.path() + ".data: above " + std::to_string(kMaxChunk) + " bytes");
        return c;
    }
    if (command == "REJECTED") return Rejected{v("run").str(), v("error").str()};
    if (command == "RESULT") {
        Result r;
        r.run = v("run").str();
        r.seq = v("seq").u64();
        r.cycle = v("cycle").u32();
        r.hits_done = v("hits_done").u64();
        r.elapsed = v("elapsed_ns").dur();
        r.users = v("users").u32();
        r.users_busy = v("users_busy").u32();
        r.stats = read_stats(v("stats"));
        if (auto first = v.find("first_seq")) r.first_seq = first->u64();  // optional: added with recovery
        if (r.first_seq > r.seq) bad(v.path() + ".first_seq: above seq");
        return r;
    }
    if (command == "FINISHED") {
        Finished f;
        f.run = v("run").str();
        f.last_seq = v("last_seq").u64();
        f.stopped = v("stopped").boolean();
        f.started_ms = v("started_ms").i64();
        f.elapsed = v("elapsed_ns").dur();
        f.cycles = read_cycles(v("cycles"), false);
        return f;
    }
    if (command == "WELCOME") {
        Welcome w{v("heartbeat_ms").u32(), v("liveness_ms").u32()};
        // Optional: added with recovery.
        if (auto run = v.find("run")) w.run = run->str();
        if (auto acked = v.find("acked")) w.acked = acked->u64();
        return w;
    }
    if (command == "ACK") return Ack{v("run").str(), v("seq").u64(), v("finished").boolean()};
    if (command == "PREPARE") {
        Prepare p{v("run").str(), read_spec(v("spec")), read_library(v("library")), read_data_files(v.find("data"))};
        // Optional: added with recovery.
        if (auto test = v.find("test")) p.test = test->str();
        if (auto owner = v.find("owner")) p.owner = owner->str();
        return p;
    }
    if (command == "START") return Start{v("run").str()};
    if (command == "STOP") return Stop{v("run").str()};
    if (command == "ERROR") return Error{v("code").str(), v("message").str()};
    if (command == "STATUS") {
        // STATUS with only "v" is the request; with fields, the reply.
        if (!v.find("agents")) return StatusRequest{};
        Status s;
        s.version = v("version").str();
        s.pid = v("pid").u32();
        s.uptime_ms = v("uptime_ms").i64();
        s.frontend = v("frontend").str();
        s.backend = v("backend").str();
        s.publisher = v("publisher").str();
        Value agents = v("agents");
        for (std::size_t i = 0; i < agents.size(); ++i) {
            AgentStatus a;
            a.agent = read_agent(agents[i]("agent"));
            a.state = agents[i]("state").str();
            a.run = agents[i]("run").str();
            a.last_seen_ms = agents[i]("last_seen_ms").i64();
            if (auto key = agents[i].find("key")) a.key = key->str();  // optional: added with CURVE
            s.agents.push_back(std::move(a));
        }
        Value runs = v("runs");
        for (std::size_t i = 0; i < runs.size(); ++i) {
            RunStatus r;
            r.id = runs[i]("id").str();
            r.state = runs[i]("state").str();
            r.test = runs[i]("test").str();
            r.agents = runs[i]("agents").u32();
            s.runs.push_back(std::move(r));
        }
        // Optional: added with CURVE.
        if (auto curve = v.find("curve")) s.curve = curve->boolean();
        if (auto auth = v.find("auth")) {
            if (auth->size() > 3) bad(auth->path() + ": more than 3 sockets");
            for (std::size_t i = 0; i < auth->size(); ++i) {
                Value a = (*auth)[i];
                s.auth.push_back(AuthCount{a("socket").str(), a("keys").u32(), a("allowed").u64(), a("refused").u64()});
            }
        }
        if (auto h = v.find("heartbeat_ms")) s.heartbeat_ms = h->u32();  // optional: added after v2's first release
        if (auto l = v.find("liveness_ms")) s.liveness_ms = l->u32();
        if (auto c = v.find("connections"))  // optional: added with --max-connections
            s.connections = Connections{(*c)("frontend").u32(), (*c)("backend").u32(), (*c)("publisher").u32(),
                                        (*c)("max").u32(), (*c)("refusing").boolean()};
        return s;
    }
    if (command == "SUBMIT") {
        Submit s;
        s.spec = read_spec(v("spec"));
        s.test = v("test").str();
        s.agents = v("agents").u32();
        s.wait = v("wait").boolean();
        s.wait_timeout = v("wait_timeout_ns").dur();
        s.library = read_library(v("library"));
        s.data = read_data_files(v.find("data"));
        if (auto show = v.find("show_url")) s.show_url = show->boolean();  // optional: a later addition
        if (s.agents == 0 || s.agents > 100'000) bad(v.path() + ".agents: out of range");
        return s;
    }
    if (command == "SUBMITTED") return Submitted{v("run").str(), read_strings(v("agents"))};
    if (command == "ATTACH") return Attach{v("run").str()};
    if (command == "RUN_FINISHED") return RunFinished{read_summary(v("summary"))};
    if (command == "EVENT") return read_published("event", v);
    if (command == "SNAPSHOT") return read_published("snapshot", v);
    throw ProtoError(ErrorKind::unknown_command, "unknown command '" + std::string(command.substr(0, 64)) + "'");
}

// Walks a body without building it: counts the values its arrays and maps
// declare and their nesting, so a body that would make the unpacker allocate
// far more than its size (a header claiming 2^24 elements, 96 MiB of nested
// nils) is refused before anything is allocated.
struct ValueCounter : msgpack::null_visitor {
    explicit ValueCounter(std::size_t body_size) : size(body_size) {}
    bool add(std::size_t n) {
        declared += n;
        if (declared > size) {
            // Every value takes a byte at least: the body cannot be whole.
            kind = ErrorKind::truncated;
            what = "declares " + std::to_string(declared) + " values in " + std::to_string(size) + " bytes";
            return false;
        }
        if (declared > kMaxBodyValues)
            return (what = "declares more than " + std::to_string(kMaxBodyValues) + " values", false);
        return true;
    }
    bool enter() {
        if (++depth > kMaxBodyDepth) return (what = "nested deeper than " + std::to_string(kMaxBodyDepth), false);
        return true;
    }
    bool start_array(std::uint32_t n) { return enter() && add(n); }
    bool end_array() { return --depth, true; }
    bool start_map(std::uint32_t n) { return enter() && add(std::size_t(n) * 2); }
    bool end_map() { return --depth, true; }
    std::size_t size, declared = 0, depth = 0;
    ErrorKind kind = ErrorKind::oversized;
    std::string what;  // set when a bound was passed
};

void check_value_counts(std::string_view body) {
    ValueCounter counter(body.size());
    std::size_t offset = 0;
    try {
        msgpack::parse(body.data(), body.size(), offset, counter);
    } catch (const std::exception&) {
        // Not msgpack: the unpacker says precisely how.
    }
    if (!counter.what.empty()) throw ProtoError(counter.kind, "body " + counter.what);
}

// Unpacks one msgpack map, checks "v", hands it to `read`.
template <class F>
Message unpack_body(std::string_view body, F&& read) {
    if (body.empty()) throw ProtoError(ErrorKind::empty, "empty body");
    if (body.size() > kMaxBodySize) throw ProtoError(ErrorKind::oversized, "body of " + std::to_string(body.size()) + " bytes");
    check_value_counts(body);
    msgpack::object_handle oh;
    std::size_t offset = 0;
    try {
        // Limits keep a hostile peer from making us allocate without bound.
        msgpack::unpack_limit limit(1u << 24, 1u << 20, kMaxBodySize, kMaxBodySize, 1u << 16, 32);
        // Strings and bins point into `body` (alive while this decodes; the
        // message built from them copies what it keeps): a 100 MB library is
        // not copied twice.
        oh = msgpack::unpack(
            body.data(), body.size(), offset, [](msgpack::type::object_type, std::size_t, void*) { return true; },
            nullptr, limit);
    } catch (const msgpack::insufficient_bytes&) {
        throw ProtoError(ErrorKind::truncated, "body ends in the middle of a value");
    } catch (const msgpack::depth_size_overflow&) {
        throw ProtoError(ErrorKind::oversized, "body nested too deep");
    } catch (const msgpack::size_overflow& e) {
        throw ProtoError(ErrorKind::oversized, std::string("body exceeds a limit: ") + e.what());
    } catch (const std::exception& e) {
        throw ProtoError(ErrorKind::malformed, std::string("not msgpack: ") + e.what());
    }
    if (offset != body.size()) throw ProtoError(ErrorKind::malformed, "trailing bytes after the body");
    Value root(oh.get(), "body");
    if (oh.get().type != msgpack::type::MAP) throw ProtoError(ErrorKind::malformed, "body is not a map");
    auto v = root.find("v");
    if (!v || v->is_nil()) throw ProtoError(ErrorKind::wrong_version, "body has no protocol version \"v\"");
    std::uint64_t version = 0;
    try {
        version = v->u64();
    } catch (const ProtoError&) {
        throw ProtoError(ErrorKind::wrong_version, "protocol version \"v\" is not an integer");
    }
    if (version != kVersion)
        throw ProtoError(ErrorKind::wrong_version,
                         "protocol version " + std::to_string(version) + ", expected " + std::to_string(kVersion));
    try {
        return read(root);
    } catch (const ProtoError&) {
        throw;
    } catch (const std::exception& e) {
        throw ProtoError(ErrorKind::malformed, e.what());
    }
}

}  // namespace

std::string_view to_string(ErrorKind k) {
    switch (k) {
        case ErrorKind::empty: return "empty";
        case ErrorKind::truncated: return "truncated";
        case ErrorKind::malformed: return "malformed";
        case ErrorKind::unknown_command: return "unknown-command";
        case ErrorKind::wrong_version: return "wrong-version";
        case ErrorKind::oversized: return "oversized";
    }
    return "malformed";
}

std::string_view command_of(const Message& m) {
    static constexpr std::array<std::string_view, std::variant_size_v<Message>> kNames{
        "REGISTER", "HEARTBEAT", "READY",     "REJECTED", "RESULT",  "FINISHED",  "WELCOME",
        "PREPARE",  "START",     "STOP",      "ERROR",    "STATUS",  "STATUS",    "SUBMIT",
        "SUBMITTED", "ATTACH",   "RUN_FINISHED", "SNAPSHOT", "EVENT", "CLUSTER", "ACK",
        "FETCH",     "CHUNK"};
    return kNames[m.index()];
}

Frames encode(const Message& m) {
    Writer w;
    std::visit(BodyWriter{w}, m);
    return Frames{std::string(command_of(m)), std::string(w.buf.data(), w.buf.size())};
}

Message decode(std::string_view command, std::string_view body) {
    if (command.empty()) throw ProtoError(ErrorKind::empty, "empty command");
    return unpack_body(body, [&](const Value& v) { return read_body(command, v); });
}

std::string topic_of(const Message& m) {
    if (auto* s = std::get_if<Snapshot>(&m)) return "run." + s->run + ".snapshot";
    if (auto* e = std::get_if<RunEvent>(&m)) return "run." + e->run + ".event";
    if (std::holds_alternative<ClusterEvent>(m)) return "cluster";
    return "other";
}

Message decode_published(std::string_view topic, std::string_view body) {
    std::string_view kind;
    if (topic == "cluster") kind = "cluster";
    else if (topic.starts_with("run.") && topic.ends_with(".snapshot")) kind = "snapshot";
    else if (topic.starts_with("run.") && topic.ends_with(".event")) kind = "event";
    else throw ProtoError(ErrorKind::unknown_command, "unknown topic '" + std::string(topic.substr(0, 64)) + "'");
    return unpack_body(body, [&](const Value& v) { return read_published(kind, v); });
}

std::string encode_stats(const Stats& s) {
    Writer w;
    write_stats(w, s);
    return std::string(w.buf.data(), w.buf.size());
}

Stats decode_stats(std::string_view body) {
    check_value_counts(body);
    msgpack::object_handle oh;
    try {
        oh = msgpack::unpack(body.data(), body.size());
    } catch (const msgpack::insufficient_bytes&) {
        throw ProtoError(ErrorKind::truncated, "stats end in the middle of a value");
    } catch (const std::exception& e) {
        throw ProtoError(ErrorKind::malformed, e.what());
    }
    return read_stats(Value(oh.get(), "stats"));
}

}  // namespace loads::proto
