// The loads-agent daemon: one DEALER to the broker, the engine on a thread
// of its own (docs/protocol.md, "Agent dialogs").
//
// The socket thread (serve) owns the DEALER and every protocol decision.
// The run thread owns the engine's run and talks to the socket thread over
// an inproc PUSH/PULL pipe: encoded RESULT and FINISHED frames, forwarded as they come.
#pragma once

#include "library_cache.hpp"
#include "library_fetch.hpp"

#include "loads/engine.hpp"
#include "loads/proto/curve.hpp"
#include "loads/proto/messages.hpp"
#include "loads/proto/limits.hpp"

#include <zmq.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace loads::agent {

struct Options {
    std::string broker = "tcp://127.0.0.1:7781";
    std::string id;         // default host-pid
    unsigned threads = 0;   // engine workers; 0: one per core
    std::string cache_dir;  // default default_cache_dir()
    proto::ClientKeys curve;  // --curve-key and --broker-pub (docs/security.md)
    // A shipped library bigger than this is refused (--max-library-size).
    std::uint64_t max_library_size = kDefaultMaxLibrarySize;
    static constexpr std::uint64_t kDefaultMaxLibrarySize = 128ull << 20;
    // What a run may ask of this agent (issue 16).
    AllowList allow = AllowList::loopback_only();   // --allow: where users may connect
    std::uint32_t max_users = 0;                     // --max-users: users at once; 0: no limit
    std::optional<Duration> max_duration;            // --max-duration: the longest run
};

// Why this agent refuses `spec` under `o`'s limits ("" when it does not):
// hosts outside --allow, more users than --max-users, a plan longer than
// --max-duration.
std::string check_limits(const Options& o, const RunSpec& spec);

class Agent {
public:
    // Throws std::runtime_error when the cache directory is not the agent's
    // own (LibraryCache::prepare_dir).
    explicit Agent(Options o);
    ~Agent();
    // Serves until stop is set; stops any run first. Never returns because
    // the broker is gone: it reconnects.
    void serve(const std::atomic<bool>& stop);

private:
    using Clock = std::chrono::steady_clock;
    enum class State { idle, preparing, busy };

    void connect();
    void send(const proto::Message& m);
    void on_message(const proto::Message& m);
    void on_prepare(const proto::Prepare& p);
    // The rest of PREPARE once the library is in the cache at `library_path`.
    void finish_prepare(const proto::Prepare& p, const std::string& library_path);
    void on_chunk(const proto::Chunk& c);
    void fail_fetch(const std::string& error);  // REJECTED, back to idle
    void on_start(const proto::Start& s);
    void on_stop(const proto::Stop& s);
    void forward_results();
    // Results kept until the broker acknowledges them (docs/protocol.md 5.4).
    void on_ack(const proto::Ack& a);
    void acknowledged(std::uint64_t seq);  // forgets batches up to seq, merging them per cycle
    void resend(std::uint64_t acked);      // after WELCOME: everything the broker does not hold
    void drop_outbox(const std::string& why);
    proto::Register registration() const;  // REGISTER, with the run it holds
    void reconnect(const char* why);       // a fresh DEALER and REGISTER; the run goes on
    void end_run(bool forward);  // stops the run (if any) and waits for its thread
    void timers();
    static const char* name(State s);

    Options options_;
    LibraryCache cache_;
    proto::AgentInfo info_;
    zmq::context_t ctx_;
    std::optional<zmq::socket_t> dealer_;
    std::unique_ptr<proto::HandshakeWatch> handshake_;  // why the broker does not let us in, if it does not
    std::string told_;                                  // the last such reason logged
    bool warned_silence_ = false;                       // said that no WELCOME came
    zmq::socket_t pipe_;  // PULL, bound; each run thread connects a PUSH

    bool welcomed_ = false;
    std::chrono::milliseconds heartbeat_ = proto::kDefaultHeartbeat, liveness_ = proto::kDefaultLiveness;
    Clock::time_point last_heard_{}, last_sent_{}, connected_at_{};

    State state_ = State::idle;
    std::string run_;
    std::optional<RunSpec> spec_;
    proto::Prepare prepared_;  // PREPARE as it came (without library and data): RunState echoes it

    // The run whose results the broker has not all acknowledged: its RESULT
    // frames after `acked`, its FINISHED once the run thread sent it, and the
    // acknowledged batches merged per cycle (what a restarted broker gets).
    struct Outbox {
        proto::RunState state;
        std::deque<std::pair<std::uint64_t, proto::Frames>> unacked;
        std::size_t bytes = 0;
        std::optional<proto::Frames> finished;
        std::uint64_t acked = 0;
        std::map<std::uint32_t, proto::Result> merged;  // per cycle: first_seq..seq, acknowledged
        std::uint64_t dropped = 0;                       // batches dropped over the cap
    };
    std::optional<Outbox> outbox_;
    // A PREPARE whose library is on its way (FETCH/CHUNK); state_ is preparing.
    std::unique_ptr<LibraryFetch> fetch_;
    std::optional<proto::Prepare> pending_;
    std::unique_ptr<Engine> engine_;
    std::thread worker_;
    Clock::time_point run_started_{};
    bool over_time_ = false;  // --max-duration stopped the run
};

}  // namespace loads::agent
