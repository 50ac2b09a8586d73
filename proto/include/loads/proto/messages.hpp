// The loads wire protocol (docs/protocol.md): one struct per message, and the
// codec that turns them into ZeroMQ frames and back. This is the only part of
// the project that knows msgpack; everything else speaks these structs.
//
// A message on a DEALER/ROUTER link is two frames: the command name in ASCII
// ("REGISTER") and a msgpack map that always holds "v": kVersion. A message on
// the PUB socket is two frames too: a topic ("run.r1.snapshot") and the map.
#pragma once

#include "loads/run_spec.hpp"
#include "loads/stats.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace loads::proto {

inline constexpr std::uint32_t kVersion = 2;
// Frames larger than this are refused before decoding (test libraries ride in
// SUBMIT and PREPARE, hence the size).
inline constexpr std::size_t kMaxBodySize = 128u << 20;
// ZeroMQ's maxmsgsize on every socket of the protocol: a body at most, with
// room for the rest of its frame; the socket drops a larger message unread.
inline constexpr std::int64_t kMaxMessageSize = static_cast<std::int64_t>(kMaxBodySize) + 1024;
// msgpack values (each element of an array, each key and value of a map) one
// body may declare: no more than its bytes (every value takes at least one),
// nor than this, which keeps a decoded body under ~200 MB of objects however
// it is made (docs/protocol.md section 3).
inline constexpr std::size_t kMaxBodyValues = std::size_t(1) << 23;
// Nesting depth of arrays and maps in a body.
inline constexpr std::size_t kMaxBodyDepth = 32;
// Any duration on the wire is at most 366 days, and a run's result interval
// at most one hour: a reader adds them to its clock, where 2^63 ns overflows
// (a broker once published 20,795 snapshots a second for an interval of
// 2^63 - 1 ns).
inline constexpr std::chrono::nanoseconds kMaxWireDuration = std::chrono::hours(24 * 366);
inline constexpr std::chrono::nanoseconds kMaxInterval = std::chrono::hours(1);

// ---------------------------------------------------------------- pieces

struct AgentInfo {
    std::string id;          // chosen by the agent, unique in the cluster; also its ZeroMQ routing id
    std::string host;
    std::uint32_t pid = 0;
    std::uint32_t threads = 0;  // engine worker threads: the agent's capacity
    std::string version;        // loads version of the agent
    friend bool operator==(const AgentInfo&, const AgentInfo&) = default;
};

// A C++ test library shipped to agents: its bytes and their SHA-256.
struct Library {
    std::string name;    // file name, for logs ("libwebsite.so")
    std::string sha256;  // lower-case hex of the bytes
    std::string bytes;   // in SUBMIT; empty in PREPARE (the agent FETCHes them)
    std::uint64_t size = 0;  // bytes of the library (written as bytes.size() when they are here)
    friend bool operator==(const Library&, const Library&) = default;
};
// A library's bytes travel to agents in slices of at most this (FETCH/CHUNK).
inline constexpr std::uint64_t kMaxChunk = 4u << 20;
// A library rides whole in SUBMIT, so it is never bigger than a body.
inline constexpr std::uint64_t kMaxLibrarySize = kMaxBodySize;

// A data file of --data NAME=FILE shipped to agents, like the library: its
// bytes and their SHA-256. The agent keeps it as <cache>/<sha256>.<ext>.
struct DataFile {
    std::string name;    // the data set's name ("users")
    std::string file;    // file name, for its format (.csv, .jsonl, .ndjson) and logs
    std::string sha256;  // lower-case hex of the bytes
    std::string bytes;
    friend bool operator==(const DataFile&, const DataFile&) = default;
};
inline constexpr std::size_t kMaxDataFiles = 32;

// What to run: a RunSpec (loads/run_spec.hpp: test, plan, clients, interval, user ids).
// A library test's library_path is meaningless on the wire: the library rides along;
// so do the data files (spec.data is filled in by the agent from `data`).

struct CycleInfo {
    std::uint32_t index = 0;
    std::uint32_t users = 0;
    Duration elapsed{0};
    Stats stats;  // in RUN_FINISHED; empty in FINISHED from an agent
    friend bool operator==(const CycleInfo&, const CycleInfo&) = default;
};

// ---------------------------------------------------------------- agent -> broker

// The run an agent holds when it registers again (docs/protocol.md 5.4): what
// a broker that lost it (it restarted) needs to take it back.
struct RunState {
    std::string run;
    RunSpec spec;                 // as the agent's PREPARE carried it (agent_index, agent_count)
    std::string test;             // PREPARE's `test`: the run's name as STATUS shows it
    std::string owner;            // PREPARE's `owner`: the CURVE key name of the runner that submitted it
    bool finished = false;        // the agent's part is over; its FINISHED waits for the broker
    std::int64_t started_ms = 0;  // unix ms when the agent started it
    std::uint64_t last_seq = 0;   // the highest seq it made so far
};

struct Register {
    AgentInfo agent;
    std::optional<RunState> run;  // the run it holds results of, if any
};
struct Heartbeat {            // both ways between agent and broker
    std::string state;        // agent: "idle" | "preparing" | "busy"; broker: ""
    std::string run;          // agent: the run it is in, or ""
};
struct Ready {                // the agent prepared the run and waits for START
    std::string run;
};
struct Rejected {             // the agent cannot run it (library did not load...)
    std::string run;
    std::string error;
};
struct Result {               // one interval of one agent's figures (a delta)
    std::string run;
    std::uint64_t seq = 0;    // 1, 2, 3... per agent and run: gaps are detectable
    std::uint32_t cycle = 0;
    std::uint64_t hits_done = 0;  // this agent, whole run so far
    Duration elapsed{0};          // since the agent started the run
    Stats stats;
    std::uint32_t users = 0;      // gauge: the agent's virtual users at the end of the interval
    std::uint32_t users_busy = 0; // gauge: of which in a hit
    // 0: the batch is seq alone. Else it stands for seqs first_seq..seq (one
    // cycle's batches merged, resent to a broker that restarted).
    std::uint64_t first_seq = 0;
};
struct Finished {             // the agent's run is over; no RESULT follows
    std::string run;
    std::uint64_t last_seq = 0;   // seq of its last RESULT
    bool stopped = false;         // ended by STOP rather than by the plan
    std::int64_t started_ms = 0;  // unix ms when it started
    Duration elapsed{0};
    std::vector<CycleInfo> cycles;  // index, users, elapsed (stats empty)
};

// ---------------------------------------------------------------- broker -> agent

struct Welcome {
    std::uint32_t heartbeat_ms = 1000;
    std::uint32_t liveness_ms = 5000;
    std::string run;           // the REGISTER's run the broker takes back ("" when none, or it is over)
    std::uint64_t acked = 0;   // of that run, the highest seq the broker holds with none missing below
};
// The broker holds this agent's batches of `run` up to `seq` (none missing
// below); `finished`: it took its FINISHED, or takes nothing more of the run
// from it. The agent forgets what is acknowledged.
struct Ack {
    std::string run;
    std::uint64_t seq = 0;
    bool finished = false;
};
struct Prepare {
    std::string run;
    RunSpec spec;
    std::optional<Library> library;  // present for library tests
    std::vector<DataFile> data;      // --data files
    std::string test;                // the run's name as STATUS shows it (the agent echoes it in RunState)
    std::string owner;               // CURVE: the key name of the runner that submitted it ("" without)
};
struct Start {
    std::string run;
};
// Agent -> broker: send me bytes [offset, offset + length) of that library.
struct Fetch {
    std::string sha256;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;  // 1..kMaxChunk
};
// Broker -> agent: those bytes (fewer at the library's end).
struct Chunk {
    std::string sha256;
    std::uint64_t offset = 0;
    std::string data;
};
struct Stop {                 // also runner -> broker: stop this run
    std::string run;
};

// ---------------------------------------------------------------- any direction

struct Error {
    std::string code;     // "bad-message", "unknown-agent", "no-agents", "unknown-run", ...
    std::string message;  // for humans
};

// ---------------------------------------------------------------- runner <-> broker

struct StatusRequest {};

struct AgentStatus {
    AgentInfo agent;
    std::string state;           // "idle" | "preparing" | "busy"
    std::string run;
    std::int64_t last_seen_ms = 0;  // ms since the broker last heard from it
    std::string key;             // CURVE: the name of the key it connected with ("" without CURVE)
    friend bool operator==(const AgentStatus&, const AgentStatus&) = default;
};
// CURVE authentication on one broker socket, since the broker started.
struct AuthCount {
    std::string socket;          // "frontend" | "backend" | "publisher"
    std::uint32_t keys = 0;      // public keys it allows now
    std::uint64_t allowed = 0;   // handshakes let in
    std::uint64_t refused = 0;   // handshakes refused (key not allowed)
    friend bool operator==(const AuthCount&, const AuthCount&) = default;
};
struct RunStatus {
    std::string id;
    std::string state;           // "waiting" | "preparing" | "running" | "finishing"
    std::string test;
    std::uint32_t agents = 0;
    friend bool operator==(const RunStatus&, const RunStatus&) = default;
};
// The broker's open connections per socket and its cap (--max-connections).
struct Connections {
    std::uint32_t frontend = 0, backend = 0, publisher = 0;
    std::uint32_t max = 0;   // the cap on their sum; 0: none
    bool refusing = false;   // at the cap: new connections are reset
    friend bool operator==(const Connections&, const Connections&) = default;
};
struct Status {
    std::string version;
    std::uint32_t pid = 0;
    std::int64_t uptime_ms = 0;
    std::string frontend, backend, publisher;  // endpoints as bound
    std::vector<AgentStatus> agents;
    std::vector<RunStatus> runs;
    bool curve = false;            // the broker's sockets use CURVE
    std::vector<AuthCount> auth;   // per socket (CURVE only)
    std::optional<Connections> connections;  // absent from brokers before it
    // The broker's --heartbeat and --liveness: how often it heartbeats a
    // runner that follows a run, and how long a client may take it for gone.
    // 0 from brokers before them.
    std::uint32_t heartbeat_ms = 0, liveness_ms = 0;
};

struct Submit {
    RunSpec spec;
    std::string test;        // as the user typed it, for status and events
    std::uint32_t agents = 1;
    bool wait = false;       // wait for enough idle agents instead of failing
    Duration wait_timeout{0};  // 0: forever (until the runner stops it)
    std::optional<Library> library;
    std::vector<DataFile> data;  // --data files
    bool show_url = false;   // STATUS, events and summaries may show `test` unredacted (--show-url)
};
struct Submitted {
    std::string run;
    std::vector<std::string> agents;  // empty while waiting for agents
};
struct Attach {
    std::string run;
};

// The merged end of a run: RUN_FINISHED to attached runners, and the
// payload of the "finished" run event on PUB.
struct RunSummary {
    std::string run;
    std::string test;
    std::int64_t started_ms = 0;
    Duration elapsed{0};
    bool stopped = false;
    bool incomplete = false;   // an agent was lost or a batch went missing
    std::string error;         // the run could not start ("agent a1 rejected: ...")
    std::vector<std::string> agents;
    std::vector<std::string> events;  // "agent a2 lost at 12:00:03 (silent for 3.0 s)"
    std::vector<CycleInfo> cycles;    // merged over agents
    Stats total;
};
struct RunFinished {
    RunSummary summary;
};

// ---------------------------------------------------------------- PUB

struct SnapshotAgent {        // one agent of a run, in a Snapshot
    std::string id;
    std::uint64_t hits_done = 0;      // this agent, whole run so far
    std::uint64_t errors = 0;         // this agent's RESULT stats, whole run so far
    std::uint64_t failures = 0;
    std::uint32_t users = 0;          // its latest gauges
    std::uint32_t users_busy = 0;
    std::string state;                // "running" | "finished" | "lost"
    bool operator==(const SnapshotAgent&) const = default;
};
struct Snapshot {             // topic "run.<id>.snapshot"
    std::string run;
    std::uint64_t seq = 0;            // 1, 2, 3... per run
    std::uint32_t cycle = 0;
    Duration elapsed{0};              // since the run started
    std::uint64_t hits_done = 0;      // all agents, whole run so far
    std::optional<std::uint64_t> hits_total;
    std::optional<Duration> duration_total;
    std::uint32_t agents_running = 0;
    Stats delta;                      // merged over agents since the previous snapshot
    std::uint32_t users = 0;          // sum of the agents' latest `users` gauges
    std::uint32_t users_busy = 0;     // sum of the agents' latest `users_busy` gauges
    std::vector<SnapshotAgent> agents;  // per agent, by id
};
struct RunEvent {             // topic "run.<id>.event"
    std::string run;
    std::string event;                // "started" | "agent-joined" | "agent-lost" | "gap" | "finished"
    std::string agent;
    std::string message;
    std::int64_t time_ms = 0;
    std::optional<RunSummary> summary;  // with "finished"
};
struct ClusterEvent {         // topic "cluster"
    std::string event;                // "agent-registered" | "agent-lost" | "agent-gone"
    AgentInfo agent;
    std::int64_t time_ms = 0;
};

using Message = std::variant<Register, Heartbeat, Ready, Rejected, Result, Finished, Welcome,
                             Prepare, Start, Stop, Error, StatusRequest, Status, Submit, Submitted,
                             Attach, RunFinished, Snapshot, RunEvent, ClusterEvent, Ack, Fetch, Chunk>;

// The command name of a message ("REGISTER", "RESULT", ...).
std::string_view command_of(const Message& m);

// ---------------------------------------------------------------- codec

enum class ErrorKind {
    empty,            // no frames, or an empty command
    truncated,        // the body ends in the middle of a value
    malformed,        // not a map, a field of the wrong type, a value out of range
    unknown_command,
    wrong_version,    // "v" missing or not kVersion
    oversized,        // a frame above kMaxBodySize
};
std::string_view to_string(ErrorKind k);

struct ProtoError : std::runtime_error {
    ErrorKind kind;
    ProtoError(ErrorKind k, const std::string& what) : std::runtime_error(what), kind(k) {}
};

struct Frames {
    std::string head;  // command name, or PUB topic
    std::string body;  // msgpack map
};

// Encodes a message as its two frames; head is the command name.
Frames encode(const Message& m);
// Decodes frames received on a DEALER/ROUTER link (after any routing id).
// Throws ProtoError.
Message decode(std::string_view command, std::string_view body);

// PUB: topic frames. Snapshot/RunEvent/ClusterEvent only.
std::string topic_of(const Message& m);
// Decodes a PUB message (topic, body). Throws ProtoError.
Message decode_published(std::string_view topic, std::string_view body);

// Stats on their own (used by tests and tools).
std::string encode_stats(const Stats& s);
Stats decode_stats(std::string_view body);

}  // namespace loads::proto
