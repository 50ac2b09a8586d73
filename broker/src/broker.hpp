// loads-broker: binds the three endpoints of docs/protocol.md, keeps the
// agent registry, runs runs, and republishes the merged stream. One thread,
// one poll loop; no message from any peer can stop it.
#pragma once

#include "authenticator.hpp"
#include "conn_monitor.hpp"
#include "gate.hpp"
#include "library_store.hpp"
#include "peer_log.hpp"
#include "run.hpp"

#include "loads/proto/limits.hpp"
#include "loads/proto/wire.hpp"

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>

namespace loads::broker {

// A backend connection that closed must be replaced by the agent's new one
// (ZeroMQ reconnects a DEALER by itself) within this, or the agent is lost.
inline constexpr std::chrono::milliseconds kReconnectGrace{300};

struct Options {
    std::string frontend = "tcp://127.0.0.1:7780";
    std::string backend = "tcp://127.0.0.1:7781";
    std::string publisher = "tcp://127.0.0.1:7782";
    std::chrono::milliseconds heartbeat = proto::kDefaultHeartbeat;
    std::chrono::milliseconds liveness = proto::kDefaultLiveness;
    std::chrono::milliseconds prepare_timeout{30000};
    // A merged batch reaches PUB at most this long after the previous snapshot.
    std::chrono::milliseconds publish_interval{50};

    // CURVE (docs/security.md): the broker's keypair file; empty: no CURVE.
    std::string curve_key;
    AllowDirs allow;                     // allowed public keys per kind of peer
    std::vector<std::string> operators;  // runner key names that may stop or attach any run
    bool insecure = false;               // bind non-loopback addresses without CURVE
    // Open connections (all three sockets) at which new ones are refused; 0: no cap.
    std::uint32_t max_connections = 0;
};

// The connections a broker may hold with `fd_limit` descriptors: the limit
// minus a reserve (an eighth, at least 256 or half a smaller limit) for
// files, ZeroMQ's own descriptors (about 25, more with CURVE) and the
// connections ZeroMQ accepts in a burst before the broker sees the cap
// reached (47 seen for a burst of 2000 on loopback).
std::uint32_t default_max_connections(std::uint64_t fd_limit);

// "" when the endpoints may be bound with these options, else why not (a
// non-loopback address without CURVE and without --insecure, allow
// directories without a key).
std::string check_exposure(const Options& o);

struct BoundEndpoints {
    std::string frontend, backend, publisher;
};

class Broker {
public:
    // Binds every endpoint; throws std::runtime_error naming the one that failed.
    explicit Broker(const Options& options);
    const BoundEndpoints& endpoints() const { return bound_; }

    // Serves until `stop` becomes true.
    void serve(const std::atomic<bool>& stop);
    // Re-reads the allowed keys at the next turn of the loop (SIGHUP; safe
    // from a signal handler).
    void request_reload() { reload_requested_.store(true); }

private:
    struct Agent {
        proto::AgentInfo info;
        std::string state = "idle";  // idle | preparing | busy
        std::string run;
        Clock::time_point last_seen;
        std::string key;  // CURVE: the name of its key
        ConnMonitor::Conn conn;  // the connection its messages last came from
        // When that connection closed; lost unless it is back within kReconnectGrace.
        std::optional<Clock::time_point> disconnected;
        std::uint64_t fetched = 0;  // library bytes sent it for its current run
    };

    bool on_backend();  // false when there was nothing to read
    bool on_frontend();
    void on_agent_message(const std::string& id, const std::string& key, proto::Message&& m);
    void on_runner_message(const std::string& id, const std::string& key, proto::Message&& m);
    // CURVE: may the runner with key `key` stop or attach `run`?
    bool may_control(const std::string& run, const std::string& key) const;
    void tick(Clock::time_point now);
    std::chrono::milliseconds until_next_timer(Clock::time_point now) const;

    void submit(const std::string& runner, const std::string& key, proto::Submit&& s);
    // A REGISTER holding a run: the agent rejoins it, or it re-creates a run
    // this broker does not know (it restarted); fills WELCOME's run/acked.
    void take_back(const std::string& id, Agent& agent, const proto::RunState& held, proto::Welcome& welcome);
    // After a RESULT or FINISHED: what the broker holds of the agent's batches.
    void ack(const std::string& id, const std::string& run_id, const Run* run);
    void on_fetch(const std::string& id, Agent& agent, const proto::Fetch& f);
    // One handler per message an agent sends (on_agent_message dispatches).
    void on_register(const std::string& id, const std::string& key, const proto::Register& reg, Clock::time_point now);
    void on_heartbeat(const std::string& id, Agent& agent, const proto::Heartbeat& msg);
    void on_ready(const std::string& id, const proto::Ready& msg);
    void on_rejected(const std::string& id, Agent& agent, const proto::Rejected& msg);
    void on_result(const std::string& id, const proto::Result& msg);
    void on_finished(const std::string& id, Agent& agent, const proto::Finished& msg);
    Run* run_of(const std::string& id, const std::string& run_id, const char* command);
    bool try_start(Run& run);  // assigns idle agents; false if too few
    void start_waiting_runs();
    void agent_lost(const std::string& id, std::chrono::milliseconds silent, const std::string& why = "");
    // Connections: a closed backend connection marks its agent; one not back
    // within kReconnectGrace is lost (docs/protocol.md section 6).
    void drain_monitors();
    void on_backend_closed(ConnMonitor::Conn conn, Clock::time_point now);
    void note_connection(const std::string& id, int fd);
    void check_disconnected(Clock::time_point now);
    // Closes the gates at max_connections, opens them again below 90% of it.
    void check_connection_cap();
    std::uint32_t connections() const;
    void maybe_finish(Run& run);
    void finish(Run& run);
    void stop_run(Run& run);
    void publish_snapshot(Run& run);

    void to_runners(const Run& run, const proto::Message& m);
    void run_event(const Run& run, std::string event, std::string agent, std::string message);
    proto::Status status() const;
    // A warning about a peer's input, rate-limited per peer (PeerLog).
    void peer_warn(const std::string& peer, const std::string& line);
    static PeerLog::Report suppressed_report();
    std::size_t idle_agents() const;

    Options options_;
    BoundEndpoints bound_;
    zmq::context_t ctx_;
    std::unique_ptr<Authenticator> auth_;  // with CURVE only
    zmq::socket_t frontend_, backend_, publisher_;
    ConnMonitor backend_monitor_, frontend_monitor_, publisher_monitor_;
    std::vector<std::unique_ptr<Gate>> gates_;  // frontend, backend, publisher
    bool refusing_ = false;
    std::atomic<bool> reload_requested_{false};
    Clock::time_point next_key_check_{};
    std::map<std::string, std::string> run_keys_;    // CURVE: run id -> the key of the runner that submitted it
    LibraryStore libraries_;
    std::map<std::string, LibraryStore::Bytes> run_libraries_;  // run id -> its library's bytes
    std::map<std::string, Agent> agents_;
    std::map<std::string, std::unique_ptr<Run>> runs_;
    // The last runs that ended, for a runner that re-attaches after they did
    // and for agents that come back to them (docs/protocol.md 5.4).
    struct Ended {
        proto::RunSummary summary;
        std::string owner;  // CURVE: the key that submitted it
        Clock::time_point at;
    };
    std::map<std::string, Ended> ended_;
    static constexpr std::size_t kMaxEnded = 64;
    static constexpr std::chrono::minutes kKeepEnded{10};
    static constexpr std::size_t kMaxRecreatedRuns = 64;
    std::deque<std::string> waiting_;  // run ids in submit order
    std::map<std::string, Clock::time_point> runner_seen_;  // runner routing id -> last message
    std::uint64_t next_run_ = 1;
    Clock::time_point started_ = Clock::now();
    Clock::time_point next_heartbeat_{};
    Clock::time_point next_liveness_check_{};
    PeerLog peer_log_;
    Clock::time_point next_log_flush_{};
};

}  // namespace loads::broker
