// The maps of the wire (docs/protocol.md), each listed once: its keys in the
// order they are written, with the member each one carries. codec.cpp's
// encoder and decoder both walk these lists, so a field is one line here and
// cannot be written but forgotten in reading (issue 14); the unit tests walk
// them too, to check that every listed field survives a round trip.
//
// A list is `fields(v, m)`, calling v(key, member, options...) per field, m
// const when writing. The options, in any order:
//   a codec: how the value is written and read when its type alone does not
//     say (bytes as bin, an enum's names, a capped list); without one, by
//     the type (codec.cpp, put and take).
//   a presence: required (the default: always written, absent is malformed);
//     `later`, added after the first v2 release: always written, absent on
//     read keeps the struct's default; `later_or_nil`: the same, nil too;
//     `if_any`: a std::optional written only when set, absent on read is none.
// Checks across fields (ranges, caps, one field against another) are the
// struct's check() in codec.cpp, run once its fields are read. Keys no list
// names are ignored on read.
#pragma once

#include "loads/proto/messages.hpp"

#include <array>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace loads::proto::codec {

enum class Presence { required, later, later_or_nil, if_any };
inline constexpr Presence later = Presence::later;
inline constexpr Presence later_or_nil = Presence::later_or_nil;
inline constexpr Presence if_any = Presence::if_any;

// ------------------------------------------------------------ codecs

struct Plain {};  // by the value's type
struct Bin {};    // a std::string as msgpack bin (str is read as well)
inline constexpr Bin bin;

// An enum (or bool) as one of its names.
template <class E, std::size_t N>
struct Names {
    std::array<std::pair<E, std::string_view>, N> names;
};
inline constexpr Names<TestSpec::Kind, 2> kTestKinds{{{{TestSpec::Kind::url, "url"}, {TestSpec::Kind::library, "library"}}}};
inline constexpr Names<LoadModelKind, 2> kModels{{{{LoadModelKind::closed, "closed"}, {LoadModelKind::open, "open"}}}};
inline constexpr Names<Arrivals, 2> kArrivals{{{{Arrivals::uniform, "uniform"}, {Arrivals::poisson, "poisson"}}}};
inline constexpr Names<DataExhaustion, 2> kExhaustion{{{{DataExhaustion::wrap, "wrap"}, {DataExhaustion::stop, "stop"}}}};
inline constexpr Names<bool, 2> kRunStates{{{{false, "running"}, {true, "finished"}}}};
inline constexpr Names<MetricKind, kMetricKindCount> kMetricKinds{{{{MetricKind::counter, "counter"},
                                                                    {MetricKind::gauge, "gauge"},
                                                                    {MetricKind::rate, "rate"},
                                                                    {MetricKind::trend, "trend"}}}};

// A list read only up to `n` entries: more is malformed ("more than 32 data files").
struct AtMost {
    std::size_t n;
    std::string_view what;
};
// A library's size: written as its bytes' when they are here.
struct SizeOf {
    const std::string& bytes;
};
// A list of maps, each of `list` rather than its own fields().
template <class F>
struct Each {
    F list;
};
template <class F>
Each(F) -> Each<F>;
// Stats' maps with a shape of their own (codec.cpp says which).
struct ErrorKinds {};
struct StatusCodes {};
struct MessageCounts {};
struct LabelRows {};
struct TaskRows {};    // on the whole Stats: it folds past its cap
struct MetricRows {};  // on the whole Stats: it folds past its cap
struct ParamMap {};    // --param: checked like the command line checks it

// ------------------------------------------------------------ visitors

// The codec among a field's options: Plain when there is none.
template <class C, class... O>
C codec_of(C c, O...) {
    return c;
}
inline Plain codec_of() { return {}; }
template <class... O>
auto codec_of(Presence, O... o) {
    return codec_of(o...);
}

// What the lists call: v(key, member, options...) becomes
// self.field(key, member, codec, presence).
template <class Self>
struct Visitor {
    template <class T, class... O>
    void operator()(std::string_view key, T& value, O... options) {
        Presence p = Presence::required;
        (note(p, options), ...);
        static_cast<Self&>(*this).field(key, value, codec_of(options...), p);
    }

private:
    template <class O>
    static void note(Presence& p, const O& option) {
        if constexpr (std::is_same_v<O, Presence>) p = option;
    }
};

// M is T or const T: one list serves the encoder (const) and the decoder.
template <class M, class T>
concept Is = std::is_same_v<std::remove_const_t<M>, T>;

// Field types the walkers look into (codec.cpp's put and take, the tests).
template <class T>
constexpr bool is_optional = false;
template <class T>
constexpr bool is_optional<std::optional<T>> = true;
template <class T>
constexpr bool is_vector = false;
template <class T>
constexpr bool is_vector<std::vector<T>> = true;

// ------------------------------------------------------------ pieces

void fields(auto& v, Is<AgentInfo> auto& m) {
    v("id", m.id);
    v("host", m.host);
    v("pid", m.pid);
    v("threads", m.threads);
    v("version", m.version);
}

void fields(auto& v, Is<Library> auto& m) {
    v("name", m.name);
    v("sha256", m.sha256);
    v("size", m.size, SizeOf{m.bytes}, later);  // absent: the bytes'
    v("bytes", m.bytes, bin);
}

void fields(auto& v, Is<DataFile> auto& m) {
    v("name", m.name);
    v("file", m.file);
    v("sha256", m.sha256);
    v("bytes", m.bytes, bin);
}
inline constexpr AtMost kDataFiles{kMaxDataFiles, "data files"};

void fields(auto& v, Is<TestSpec> auto& m) {
    v("kind", m.kind, kTestKinds);
    v("url", m.url);
    v("method", m.method);
    v("headers", m.headers);
    v("body", m.body);
    v("expect", m.expect);
    v("until", m.until);
    v("test_name", m.test_name);
}

void fields(auto& v, Is<Plan> auto& m) {
    v("model", m.model, kModels);
    v("cycles", m.cycles);  // [users, hits, duration_ns or nil, rate] each
    v("ramp_ns", m.ramp);
    v("arrivals", m.arrivals, kArrivals);
    v("max_users", m.max_users);
    v("arrival_window_ns", m.arrival_window);
    v("sleep_min_ns", m.sleep.min);
    v("sleep_max_ns", m.sleep.max);
    v("startup_delay_ns", m.startup_delay);
    v("graceful_stop_ns", m.graceful_stop);
}

void fields(auto& v, Is<ClientOptions> auto& m) {
    v("connect_timeout_ns", m.connect_timeout);
    v("timeout_ns", m.timeout);
    v("follow_redirects", m.follow_redirects);
    v("max_redirects", m.max_redirects);
    v("insecure", m.insecure);
    v("max_body", m.max_body);
    v("http2", m.http2, later);
    v("streams", m.streams, later);
}

// RunSpec's library_path and data are the agent's: the library and the data
// files ride beside the spec.
void fields(auto& v, Is<RunSpec> auto& m) {
    v("test", m.test);
    v("plan", m.plan);
    v("server_url", m.server_url);
    v("client", m.client);
    v("interval_ns", m.interval);
    v("agent_index", m.agent_index);
    v("agent_count", m.agent_count);
    v("data_exhausted", m.data_exhausted, kExhaustion, later);
    v("params", m.params, ParamMap{}, later_or_nil);
}

void fields(auto& v, Is<LabelStats> auto& m) {
    v("count", m.count);
    v("errors", m.errors);
    v("latency", m.latency);
}

void fields(auto& v, Is<TaskStats> auto& m) {
    v("count", m.count);
    v("failures", m.failures);
    v("errors", m.errors);
    v("duration", m.duration);
}

void fields(auto& v, Is<MetricStats> auto& m) {
    v("kind", m.kind, kMetricKinds);
    v("count", m.count);
    v("nonzero", m.nonzero);
    v("sum", m.sum);
    v("min", m.min);
    v("max", m.max);
    v("last", m.last);
    v("last_at_ns", m.last_at_ns);
    v("values", m.values);  // nil but for a trend
}

void fields(auto& v, Is<Stats> auto& m) {
    v("hits", m.hits);
    v("successes", m.successes);
    v("failures", m.failures);
    v("errors", m.errors);
    v("interrupted", m.interrupted);
    v("scheduled", m.scheduled);
    v("dropped", m.dropped);
    v("late", m.late);
    v("requests", m.requests);
    v("request_errors", m.request_errors);
    v("bytes_sent", m.bytes_sent);
    v("bytes_received", m.bytes_received);
    v("ws_opened", m.ws_opened);
    v("ws_closed", m.ws_closed);
    v("ws_messages_sent", m.ws_messages_sent);
    v("ws_messages_received", m.ws_messages_received);
    v("ws_bytes_sent", m.ws_bytes_sent);
    v("ws_bytes_received", m.ws_bytes_received);
    v("tcp_opened", m.tcp_opened);
    v("tcp_closed", m.tcp_closed);
    v("tcp_bytes_sent", m.tcp_bytes_sent);
    v("tcp_bytes_received", m.tcp_bytes_received);
    v("users_out_of_data", m.users_out_of_data, later);
    v("start_failures", m.start_failures, later);
    v("skipped", m.skipped, later);
    v("errors_by_kind", m.errors_by_kind, ErrorKinds{});
    v("status_codes", m.status_codes, StatusCodes{});
    v("messages", m.messages, MessageCounts{});
    v("latency", m.latency);
    v("latency_from_schedule", m.latency_from_schedule);
    v("labels", m.labels, LabelRows{});
    v("tasks", m, TaskRows{}, later);
    v("metrics", m, MetricRows{}, later);
}

// A cycle as FINISHED carries it: without stats (an agent's are in its RESULTs).
void cycle_fields(auto& v, Is<CycleInfo> auto& m) {
    v("index", m.index);
    v("users", m.users);
    v("elapsed_ns", m.elapsed);
}
inline constexpr Each without_stats{[](auto& v, auto& m) { cycle_fields(v, m); }};

void fields(auto& v, Is<CycleInfo> auto& m) {
    cycle_fields(v, m);
    v("stats", m.stats);
}

void fields(auto& v, Is<RunSummary> auto& m) {
    v("run", m.run);
    v("test", m.test);
    v("started_ms", m.started_ms);
    v("elapsed_ns", m.elapsed);
    v("stopped", m.stopped);
    v("incomplete", m.incomplete);
    v("error", m.error);
    v("agents", m.agents);
    v("events", m.events);
    v("cycles", m.cycles);
    v("total", m.total);
}

void fields(auto& v, Is<RunState> auto& m) {
    v("run", m.run);
    v("spec", m.spec);
    v("test", m.test);
    v("owner", m.owner);
    v("state", m.finished, kRunStates);
    v("started_ms", m.started_ms);
    v("last_seq", m.last_seq);
}

void fields(auto& v, Is<AgentStatus> auto& m) {
    v("agent", m.agent);
    v("state", m.state);
    v("run", m.run);
    v("last_seen_ms", m.last_seen_ms);
    v("key", m.key, later);
}

void fields(auto& v, Is<RunStatus> auto& m) {
    v("id", m.id);
    v("state", m.state);
    v("test", m.test);
    v("agents", m.agents);
}

void fields(auto& v, Is<AuthCount> auto& m) {
    v("socket", m.socket);
    v("keys", m.keys);
    v("allowed", m.allowed);
    v("refused", m.refused);
}

void fields(auto& v, Is<Connections> auto& m) {
    v("frontend", m.frontend);
    v("backend", m.backend);
    v("publisher", m.publisher);
    v("max", m.max);
    v("refusing", m.refusing);
}

void fields(auto& v, Is<SnapshotAgent> auto& m) {
    v("id", m.id);
    v("hits_done", m.hits_done);
    v("errors", m.errors);
    v("failures", m.failures);
    v("users", m.users);
    v("users_busy", m.users_busy);
    v("state", m.state);
}
// The smallest encoding of a SnapshotAgent: a fixmap header, its seven keys
// as fixstr (52 bytes), an id of at least one byte (2), five positive
// fixints and an empty state (6). A longer list cannot come in one body.
inline constexpr std::size_t kMinSnapshotAgentBytes = 1 + (3 + 10 + 7 + 9 + 6 + 11 + 6) + (2 + 5 + 1);
inline constexpr AtMost kSnapshotAgents{kMaxBodySize / kMinSnapshotAgentBytes, "agents"};

// ------------------------------------------------------------ messages
// Every body also holds "v": kVersion, written first.

void fields(auto& v, Is<Register> auto& m) {
    v("agent", m.agent);
    v("run", m.run, later);  // nil or absent: no run
}

void fields(auto& v, Is<Heartbeat> auto& m) {
    v("state", m.state);
    v("run", m.run);
}

void fields(auto& v, Is<Ready> auto& m) {
    v("run", m.run);
}

void fields(auto& v, Is<Fetch> auto& m) {
    v("sha256", m.sha256);
    v("offset", m.offset);
    v("length", m.length);
}

void fields(auto& v, Is<Chunk> auto& m) {
    v("sha256", m.sha256);
    v("offset", m.offset);
    v("data", m.data, bin);
}

void fields(auto& v, Is<Rejected> auto& m) {
    v("run", m.run);
    v("error", m.error);
}

void fields(auto& v, Is<Result> auto& m) {
    v("first_seq", m.first_seq, later);
    v("users", m.users);
    v("users_busy", m.users_busy);
    v("run", m.run);
    v("seq", m.seq);
    v("cycle", m.cycle);
    v("hits_done", m.hits_done);
    v("elapsed_ns", m.elapsed);
    v("stats", m.stats);
}

void fields(auto& v, Is<Finished> auto& m) {
    v("run", m.run);
    v("last_seq", m.last_seq);
    v("stopped", m.stopped);
    v("started_ms", m.started_ms);
    v("elapsed_ns", m.elapsed);
    v("cycles", m.cycles, without_stats);
}

void fields(auto& v, Is<Welcome> auto& m) {
    v("heartbeat_ms", m.heartbeat_ms);
    v("liveness_ms", m.liveness_ms);
    v("run", m.run, later);
    v("acked", m.acked, later);
}

void fields(auto& v, Is<Ack> auto& m) {
    v("run", m.run);
    v("seq", m.seq);
    v("finished", m.finished);
}

void fields(auto& v, Is<Prepare> auto& m) {
    v("test", m.test, later);
    v("owner", m.owner, later);
    v("run", m.run);
    v("spec", m.spec);
    v("library", m.library);  // nil for a URL test
    v("data", m.data, kDataFiles, later_or_nil);
}

void fields(auto& v, Is<Start> auto& m) {
    v("run", m.run);
}

void fields(auto& v, Is<Stop> auto& m) {
    v("run", m.run);
}

void fields(auto& v, Is<Error> auto& m) {
    v("code", m.code);
    v("message", m.message);
}

// STATUS with only "v" is the request; the reply always has "agents".
void fields(auto&, Is<StatusRequest> auto&) {}

void fields(auto& v, Is<Status> auto& m) {
    v("version", m.version);
    v("heartbeat_ms", m.heartbeat_ms, later);
    v("liveness_ms", m.liveness_ms, later);
    v("pid", m.pid);
    v("uptime_ms", m.uptime_ms);
    v("frontend", m.frontend);
    v("backend", m.backend);
    v("publisher", m.publisher);
    v("agents", m.agents);
    v("runs", m.runs);
    v("curve", m.curve, later);
    v("auth", m.auth, AtMost{3, "sockets"}, later);
    v("connections", m.connections, if_any);
}

void fields(auto& v, Is<Submit> auto& m) {
    v("spec", m.spec);
    v("test", m.test);
    v("agents", m.agents);
    v("wait", m.wait);
    v("wait_timeout_ns", m.wait_timeout);
    v("library", m.library);
    v("data", m.data, kDataFiles, later_or_nil);
    v("show_url", m.show_url, later);
}

void fields(auto& v, Is<Submitted> auto& m) {
    v("run", m.run);
    v("agents", m.agents);
}

void fields(auto& v, Is<Attach> auto& m) {
    v("run", m.run);
}

void fields(auto& v, Is<RunFinished> auto& m) {
    v("summary", m.summary);
}

void fields(auto& v, Is<Snapshot> auto& m) {
    v("users", m.users);
    v("users_busy", m.users_busy);
    v("run", m.run);
    v("seq", m.seq);
    v("cycle", m.cycle);
    v("elapsed_ns", m.elapsed);
    v("hits_done", m.hits_done);
    v("hits_total", m.hits_total);
    v("duration_total_ns", m.duration_total);
    v("agents_running", m.agents_running);
    v("delta", m.delta);
    v("agents", m.agents, kSnapshotAgents);
}

void fields(auto& v, Is<RunEvent> auto& m) {
    v("run", m.run);
    v("event", m.event);
    v("agent", m.agent);
    v("message", m.message);
    v("time_ms", m.time_ms);
    v("summary", m.summary);  // with "finished"; nil otherwise
}

void fields(auto& v, Is<ClusterEvent> auto& m) {
    v("event", m.event);
    v("agent", m.agent);
    v("time_ms", m.time_ms);
}

// ------------------------------------------------------------

// A visitor that does nothing: for Listed.
struct Ignore : Visitor<Ignore> {
    template <class T, class C>
    void field(std::string_view, T&, C, Presence) {}
};
// A type with a field list of its own: a msgpack map.
template <class T>
concept Listed = requires(Ignore& v, T& m) { fields(v, m); };

}  // namespace loads::proto::codec
