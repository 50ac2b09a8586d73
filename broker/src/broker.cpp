#include "broker.hpp"

#include "loads/log.hpp"
#include "loads/proto/curve.hpp"
#include "loads/redact.hpp"

#include <unistd.h>

#include <algorithm>
#include <random>

namespace loads::broker {

namespace {

auto log() {
    static auto l = get_logger("broker");
    return l;
}

std::int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The longest a batch of one socket's messages holds the loop (one message
// may take longer: a big SUBMIT).
constexpr auto kBatchTime = std::chrono::milliseconds(10);

// "tcp://127.0.0.1:0" binds an ephemeral port (ZeroMQ spells it "*").
std::string bind_spec(const std::string& endpoint) {
    if (endpoint.size() > 2 && endpoint.compare(endpoint.size() - 2, 2, ":0") == 0)
        return endpoint.substr(0, endpoint.size() - 1) + "*";
    return endpoint;
}

// Routing ids may be binary; logs show them printable.
std::string printable(std::string_view id) {
    std::string out;
    for (unsigned char c : id) {
        if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
        else {
            static const char* hex = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string run_id(std::uint64_t n) {
    static std::mt19937 rng(std::random_device{}());
    static const char* alphabet = "abcdefghijkmnpqrstuvwxyz23456789";
    std::string s = "r" + std::to_string(n) + "-";
    for (int i = 0; i < 4; ++i) s += alphabet[rng() % 32];
    return s;
}

// True for endpoints only this host can reach: loopback TCP, ipc, inproc.
bool local_endpoint(const std::string& endpoint) {
    if (endpoint.rfind("ipc://", 0) == 0 || endpoint.rfind("inproc://", 0) == 0) return true;
    if (endpoint.rfind("tcp://", 0) != 0) return false;
    std::string host = endpoint.substr(6);
    host = host.substr(0, host.rfind(':'));
    if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// The User-Id ZAP gave the peer of this message ("" without CURVE).
std::string key_of(const zmq::message_t& frame) {
    const char* v = zmq_msg_gets(frame.handle(), "User-Id");
    return v ? std::string(v) : std::string();
}

}  // namespace

std::uint32_t default_max_connections(std::uint64_t fd_limit) {
    const std::uint64_t reserve = std::max<std::uint64_t>(fd_limit / 8, std::min<std::uint64_t>(256, fd_limit / 2));
    const std::uint64_t n = fd_limit > reserve ? fd_limit - reserve : 1;
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(n, 1u << 30));
}

std::string check_exposure(const Options& o) {
    const bool dirs = !o.allow.agents.empty() || !o.allow.runners.empty() || !o.allow.subscribers.empty();
    if (o.curve_key.empty()) {
        if (dirs) return "--allow-agents, --allow-runners and --allow-subscribers need --curve-key (the broker's keypair)";
        if (!o.operators.empty()) return "--operators needs --curve-key";
        if (o.insecure) return "";
        for (const auto* ep : {&o.frontend, &o.backend, &o.publisher})
            if (!local_endpoint(*ep))
                return "refusing to bind " + *ep + " without CURVE: anyone who reaches it could run code on every "
                       "agent. Give --curve-key and --allow-agents/--allow-runners/--allow-subscribers "
                       "(docs/security.md), or --insecure on a network you trust";
        return "";
    }
    if (o.insecure) return "--insecure and --curve-key contradict each other";
    if (o.allow.agents.empty()) return "--curve-key needs --allow-agents DIR (the agents' .pub files)";
    if (o.allow.runners.empty()) return "--curve-key needs --allow-runners DIR (the runners' .pub files)";
    return "";
}

Broker::Broker(const Options& options)
    : options_(options),
      frontend_(proto::make_router(ctx_)),
      backend_(proto::make_router(ctx_)),
      publisher_(ctx_, zmq::socket_type::pub),
      backend_monitor_(ctx_, backend_, "backend"),
      frontend_monitor_(ctx_, frontend_, "frontend"),
      publisher_monitor_(ctx_, publisher_, "publisher") {
    if (auto why = check_exposure(options); !why.empty()) throw std::runtime_error(why);
    publisher_.set(zmq::sockopt::linger, 0);
    publisher_.set(zmq::sockopt::sndhwm, proto::kQueuedMessages);
    if (!options.curve_key.empty()) {
        const proto::Keypair own = proto::read_secret_key(options.curve_key);
        auth_ = std::make_unique<Authenticator>(ctx_, options.allow);
        proto::set_curve_server(frontend_, own, "frontend");
        proto::set_curve_server(backend_, own, "backend");
        proto::set_curve_server(publisher_, own, "publisher");
        // An id is bound to its key: a second connection claiming a live
        // agent's id is refused by ZeroMQ (no handover), and dead
        // connections are found by ZMTP heartbeats so the agent can return.
        backend_.set(zmq::sockopt::router_handover, 0);
        backend_.set(zmq::sockopt::heartbeat_ivl, static_cast<int>(options.heartbeat.count()));
        backend_.set(zmq::sockopt::heartbeat_timeout, static_cast<int>(options.liveness.count()));
        log()->info("CURVE on: public key {}", own.public_key);
    }
    gates_.push_back(std::make_unique<Gate>(frontend_, bind_spec(options.frontend), "frontend"));
    gates_.push_back(std::make_unique<Gate>(backend_, bind_spec(options.backend), "backend"));
    gates_.push_back(std::make_unique<Gate>(publisher_, bind_spec(options.publisher), "publisher"));
    bound_.frontend = gates_[0]->bound();
    bound_.backend = gates_[1]->bound();
    bound_.publisher = gates_[2]->bound();
}

void Broker::serve(const std::atomic<bool>& stop) {
    // Sockets, the connection monitors, CURVE's ZAP handler, then the gates'
    // sinks (raw descriptors; one starved of descriptors is left out a while).
    std::vector<zmq::pollitem_t> items = {
        {static_cast<void*>(frontend_), 0, ZMQ_POLLIN, 0},
        {static_cast<void*>(backend_), 0, ZMQ_POLLIN, 0},
        {static_cast<void*>(backend_monitor_.socket()), 0, ZMQ_POLLIN, 0},
        {static_cast<void*>(frontend_monitor_.socket()), 0, ZMQ_POLLIN, 0},
        {static_cast<void*>(publisher_monitor_.socket()), 0, ZMQ_POLLIN, 0},
    };
    if (auth_) items.push_back({static_cast<void*>(auth_->socket()), 0, ZMQ_POLLIN, 0});
    const std::size_t sinks = items.size();
    while (!stop.load()) {
        items.resize(sinks);
        for (const auto& g : gates_)
            if (const int fd = g->sink_fd(Clock::now()); fd >= 0) items.push_back({nullptr, fd, ZMQ_POLLIN, 0});
        try {
            zmq::poll(items.data(), items.size(), until_next_timer(Clock::now()));
        } catch (const zmq::error_t& e) {
            if (e.num() == EINTR) continue;
            throw;
        }
        // Keys first (SIGHUP forces a reload, a directory change shows in
        // its time), then handshakes: a peer waits for its verdict.
        if (auth_) {
            const bool forced = reload_requested_.exchange(false);
            if (forced || Clock::now() >= next_key_check_) {
                auth_->reload(forced);
                next_key_check_ = Clock::now() + std::chrono::seconds(1);
            }
        }
        if (auth_ && (items[5].revents & ZMQ_POLLIN))
            for (int i = 0; i < 1000 && auth_->handle(); ++i) {
            }
        if ((items[2].revents | items[3].revents | items[4].revents) & ZMQ_POLLIN) drain_monitors();
        for (std::size_t i = sinks; i < items.size(); ++i)
            if (items[i].revents & ZMQ_POLLIN)
                for (const auto& g : gates_)
                    if (g->sink_fd(Clock::now()) == items[i].fd) g->reset_waiting();
        // Bounded batches (in count and time: CHUNKs of a big library cost
        // a copy each) keep one busy socket from starving the other and the timers.
        auto batch_end = Clock::now() + kBatchTime;
        if (items[1].revents & ZMQ_POLLIN)
            for (int i = 0; i < 1000 && Clock::now() < batch_end && on_backend(); ++i) {
            }
        batch_end = Clock::now() + kBatchTime;
        if (items[0].revents & ZMQ_POLLIN)
            for (int i = 0; i < 1000 && Clock::now() < batch_end && on_frontend(); ++i) {
            }
        tick(Clock::now());
    }
    // Runs in flight are stopped on the way out so agents go back to idle.
    for (auto& [id, run] : runs_)
        if (run->state() == RunState::preparing || run->state() == RunState::running) stop_run(*run);
}

// ------------------------------------------------------------------ input

bool Broker::on_backend() {
    auto frames = proto::recv_frames(backend_);
    if (frames.empty()) return false;
    // Connections closed before this message was queued are known first: a
    // new connection that reuses a closed one's fd is not taken for it.
    drain_monitors();
    std::string peer = frames[0].to_string();
    try {
        auto env = proto::split(frames, true);
        auto msg = proto::decode(env.command, env.body);
        on_agent_message(env.peer, key_of(frames.back()), std::move(msg));
        note_connection(env.peer, source_fd(frames.back()));
    } catch (const proto::ProtoError& e) {
        peer_warn("agent " + printable(peer),
                  fmt::format("bad message from agent {}: {}: {}", printable(peer), to_string(e.kind), e.what()));
        proto::send_to(backend_, peer, proto::Error{"bad-message", std::string(to_string(e.kind)) + ": " + e.what()});
    } catch (const std::exception& e) {
        peer_warn("agent " + printable(peer), fmt::format("message from agent {} failed: {}", printable(peer), e.what()));
    }
    return true;
}

bool Broker::on_frontend() {
    auto frames = proto::recv_frames(frontend_);
    if (frames.empty()) return false;
    std::string peer = frames[0].to_string();
    try {
        auto env = proto::split(frames, true);
        auto msg = proto::decode(env.command, env.body);
        on_runner_message(env.peer, key_of(frames.back()), std::move(msg));
    } catch (const proto::ProtoError& e) {
        peer_warn("runner " + printable(peer),
                  fmt::format("bad message from runner {}: {}: {}", printable(peer), to_string(e.kind), e.what()));
        proto::send_to(frontend_, peer, proto::Error{"bad-message", std::string(to_string(e.kind)) + ": " + e.what()});
    } catch (const std::exception& e) {
        peer_warn("runner " + printable(peer), fmt::format("message from runner {} failed: {}", printable(peer), e.what()));
    }
    return true;
}

void Broker::on_agent_message(const std::string& id, const std::string& key, proto::Message&& m) {
    const auto now = Clock::now();
    if (auth_) {
        // CURVE: a registered agent's id belongs to its key until it is lost.
        auto bound = agents_.find(id);
        if (bound != agents_.end() && bound->second.key != key) {
            peer_warn("agent " + printable(id), fmt::format("agent id {} belongs to key {}; a peer with key {} used it: refused",
                                                            printable(id), bound->second.key, key));
            proto::send_to(backend_, id,
                           proto::Error{"id-taken", "agent id " + id + " belongs to another key; choose another --id"});
            return;
        }
    }
    if (auto* reg = std::get_if<proto::Register>(&m)) {
        on_register(id, key, *reg, now);
        return;
    }
    auto it = agents_.find(id);
    if (it == agents_.end()) {
        peer_warn("agent " + printable(id),
                  fmt::format("message {} from unknown agent {}: asking it to register", command_of(m), printable(id)));
        proto::send_to(backend_, id, proto::Error{"unknown-agent", "register first"});
        return;
    }
    Agent& agent = it->second;
    agent.last_seen = now;
    std::visit(
        [&](auto& msg) {
            using T = std::decay_t<decltype(msg)>;
            if constexpr (std::is_same_v<T, proto::Fetch>) {
                on_fetch(id, agent, msg);
            } else if constexpr (std::is_same_v<T, proto::Heartbeat>) {
                on_heartbeat(id, agent, msg);
            } else if constexpr (std::is_same_v<T, proto::Ready>) {
                on_ready(id, msg);
            } else if constexpr (std::is_same_v<T, proto::Rejected>) {
                on_rejected(id, agent, msg);
            } else if constexpr (std::is_same_v<T, proto::Result>) {
                on_result(id, msg);
            } else if constexpr (std::is_same_v<T, proto::Finished>) {
                on_finished(id, agent, msg);
            } else if constexpr (std::is_same_v<T, proto::Error>) {
                peer_warn("agent " + printable(id),
                          fmt::format("agent {} reports an error: {}: {}", printable(id), msg.code, msg.message));
            } else {
                peer_warn("agent " + printable(id),
                          fmt::format("agent {} sent {}, which agents do not send; dropped", printable(id), command_of(m)));
                proto::send_to(backend_, id, proto::Error{"bad-message", "unexpected " + std::string(command_of(m))});
            }
        },
        m);
}

// The run `run_id` if this agent is in it; else null (and a debug line).
Run* Broker::run_of(const std::string& id, const std::string& run_id, const char* command) {
    auto r = runs_.find(run_id);
    if (r == runs_.end() || !r->second->involves(id)) {
        log()->debug("agent {}: message {} for run {} it is not in", printable(id), command, run_id);
        return nullptr;
    }
    return r->second.get();
}

void Broker::on_register(const std::string& id, const std::string& key, const proto::Register& reg,
                         Clock::time_point now) {
    auto it = agents_.find(id);
    if (it != agents_.end() && !it->second.run.empty() && !(reg.run && reg.run->run == it->second.run)) {
        // It came back without its run: whatever it ran is lost.
        agent_lost(id, std::chrono::milliseconds(0));
        it = agents_.end();
    }
    Agent& a = agents_[id];
    a.info = reg.agent;
    a.info.id = id;
    a.key = key;
    a.state = "idle";
    a.run.clear();
    a.last_seen = now;
    log()->info("agent {} registered (host {}, pid {}, {} threads){}", printable(id), a.info.host, a.info.pid,
                a.info.threads, reg.run ? " holding run " + reg.run->run : std::string());
    proto::Welcome welcome{static_cast<std::uint32_t>(options_.heartbeat.count()),
                           static_cast<std::uint32_t>(options_.liveness.count())};
    if (reg.run) take_back(id, a, *reg.run, welcome);
    proto::send_to(backend_, id, welcome);
    proto::publish(publisher_, proto::ClusterEvent{"agent-registered", a.info, unix_ms()});
    start_waiting_runs();
}

// Being alive is the point; its state also corrects ours: an agent that
// says it is idle while we hold it in a run that is over for it (or in
// none) is idle.
void Broker::on_heartbeat(const std::string& id, Agent& agent, const proto::Heartbeat& msg) {
    if (msg.state == "idle" && agent.state != "idle") {
        bool over = agent.run.empty();
        if (!over) {
            auto r = runs_.find(agent.run);
            over = r == runs_.end() || r->second->part_over(id);
        }
        if (over) {
            log()->info("agent {} says it is idle; it was {} in run '{}': now idle", printable(id),
                        agent.state, agent.run);
            agent.state = "idle";
            agent.run.clear();
            start_waiting_runs();
        }
    }
}

void Broker::on_ready(const std::string& id, const proto::Ready& msg) {
    if (Run* run = run_of(id, msg.run, "READY"); run && run->ready(id)) {
        run->mark_running(unix_ms());
        for (const auto& a : run->agents()) {
            if (run->part_over(a)) continue;
            proto::send_to(backend_, a, proto::Start{run->id()});
            if (auto ag = agents_.find(a); ag != agents_.end()) ag->second.state = "busy";
        }
        std::string list;
        for (const auto& a : run->agents()) list += (list.empty() ? "" : ", ") + a;
        log()->info("run {} started on {}", run->id(), list);
        run_event(*run, "started", "", "started on " + list);
    }
}

void Broker::on_rejected(const std::string& id, Agent& agent, const proto::Rejected& msg) {
    Run* run = run_of(id, msg.run, "REJECTED");
    if (run && (run->state() != RunState::preparing || run->part_over(id))) {
        peer_warn("agent " + printable(id), fmt::format("run {}: agent {} sent REJECTED after START or after its "
                                                        "part ended; refused", run->id(), printable(id)));
        proto::send_to(backend_, id,
                       proto::Error{"bad-message", "REJECTED for run " + run->id() + " after START"});
        run = nullptr;
    }
    if (run) {
        log()->warn("run {}: agent {} rejected it: {}", run->id(), printable(id), msg.error);
        agent.state = "idle";
        agent.run.clear();
        run->rejected(id, msg.error);
        stop_run(*run);
        maybe_finish(*run);
    }
}

void Broker::on_result(const std::string& id, const proto::Result& msg) {
    Run* run = run_of(id, msg.run, "RESULT");
    if (run) {
        auto out = run->result(id, msg);
        switch (out.kind) {
            case ResultOutcome::merged:
                if (!out.message.empty()) {
                    peer_warn("agent " + printable(id), fmt::format("run {}: {}", run->id(), out.message));
                    run_event(*run, "gap", id, out.message);
                }
                break;
            case ResultOutcome::late:
                peer_warn("agent " + printable(id), fmt::format("run {}: {}", run->id(), out.message));
                run_event(*run, "late", id, out.message);
                break;
            case ResultOutcome::duplicate:
                peer_warn("agent " + printable(id), fmt::format("run {}: {}", run->id(), out.message));
                break;
            case ResultOutcome::refused:
                peer_warn("agent " + printable(id),
                          fmt::format("run {}: RESULT seq {} from agent {} refused: {}", run->id(), msg.seq,
                                      printable(id), out.message));
                proto::send_to(backend_, id,
                               proto::Error{"bad-result", "RESULT seq " + std::to_string(msg.seq) +
                                                              " for run " + run->id() +
                                                              " refused, not merged: " + out.message});
                break;
        }
    } else {
        peer_warn("agent " + printable(id),
                  fmt::format("agent {}: RESULT for run {} it is not in; dropped", printable(id), msg.run));
    }
    ack(id, msg.run, run);
}

void Broker::on_finished(const std::string& id, Agent& agent, const proto::Finished& msg) {
    Run* run = run_of(id, msg.run, "FINISHED");
    if (run && run->part_finished(id)) {  // a resend: it was taken
        ack(id, msg.run, run);
        return;
    }
    if (run) {
        if (auto why = run->finished(id, msg); !why.empty()) {
            peer_warn("agent " + printable(id),
                      fmt::format("run {}: agent {}: {}; refused", run->id(), printable(id), why));
            proto::send_to(backend_, id, proto::Error{"bad-message", why});
            return;
        }
    }
    if (agent.run == msg.run) {
        agent.state = "idle";
        agent.run.clear();
    }
    ack(id, msg.run, run);
    if (run) maybe_finish(*run);
    start_waiting_runs();
}

void Broker::ack(const std::string& id, const std::string& run_id, const Run* run) {
    // No run (it ended, or the agent is not in it): nothing more of it is
    // taken from this agent, which may forget it.
    if (!run) {
        proto::send_to(backend_, id, proto::Ack{run_id, 0, true});
        return;
    }
    proto::send_to(backend_, id, proto::Ack{run_id, run->acked(id), run->part_finished(id) || run->part_over(id)});
}

void Broker::take_back(const std::string& id, Agent& agent, const proto::RunState& held, proto::Welcome& welcome) {
    auto r = runs_.find(held.run);
    Run* run = r == runs_.end() ? nullptr : r->second.get();
    if (!run && ended_.count(held.run)) {
        log()->warn("agent {} came back with run {}, which ended while it was away: its figures since are not counted",
                    printable(id), held.run);
        return;
    }
    if (!run) {
        // This broker does not know the run: it restarted. The agents that
        // hold it tell it what it was.
        const auto recreated = std::count_if(runs_.begin(), runs_.end(), [](const auto& kv) { return kv.second->recreated(); });
        if (static_cast<std::size_t>(recreated) >= kMaxRecreatedRuns) {
            log()->warn("agent {} holds run {}, which this broker does not know; already {} re-created runs, so it "
                        "is not taken back", printable(id), held.run, recreated);
            return;
        }
        auto made = Run::recreate(held, Clock::now());
        run = made.get();
        runs_.emplace(held.run, std::move(made));
        if (auth_) run_keys_[held.run] = held.owner;
        log()->info("run {} re-created from agent {} (the broker does not know it: it restarted); waiting up to {} ms "
                    "for its {} agent(s)", held.run, printable(id), options_.liveness.count(), held.spec.agent_count);
    }
    if (run->state() != RunState::running || (!run->involves(id) && !run->add_returning(id))) {
        log()->warn("agent {} came back with run {}, which does not take it back", printable(id), held.run);
        return;
    }
    if (auto msg = run->rejoin(id, Clock::now()); !msg.empty()) {
        log()->info("run {}: {}", run->id(), msg);
        run_event(*run, "agent-rejoined", id, msg);
    }
    welcome.run = run->id();
    welcome.acked = run->acked(id);
    if (!run->part_over(id)) {
        agent.state = "busy";
        agent.run = run->id();
    }
}

bool Broker::may_control(const std::string& run, const std::string& key) const {
    if (!auth_) return true;
    auto owner = run_keys_.find(run);
    if (owner != run_keys_.end() && owner->second == key) return true;
    if (auto e = ended_.find(run); e != ended_.end() && e->second.owner == key) return true;
    return std::find(options_.operators.begin(), options_.operators.end(), key) != options_.operators.end();
}

void Broker::on_runner_message(const std::string& id, const std::string& key, proto::Message&& m) {
    runner_seen_[id] = Clock::now();
    std::visit(
        [&](auto& msg) {
            using T = std::decay_t<decltype(msg)>;
            if constexpr (std::is_same_v<T, proto::StatusRequest>) {
                proto::send_to(frontend_, id, status());
            } else if constexpr (std::is_same_v<T, proto::Submit>) {
                submit(id, key, std::move(msg));
            } else if constexpr (std::is_same_v<T, proto::Stop>) {
                auto r = runs_.find(msg.run);
                if (r == runs_.end()) {
                    proto::send_to(frontend_, id, proto::Error{"unknown-run", "no run " + msg.run});
                    return;
                }
                if (!may_control(msg.run, key)) {
                    peer_warn("runner " + printable(id),
                              fmt::format("runner key {} asked to stop run {}, which is not its own: refused", key, msg.run));
                    proto::send_to(frontend_, id,
                                   proto::Error{"not-yours", "run " + msg.run +
                                                                 " was submitted with another key (only it, or an "
                                                                 "--operators key, may stop it)"});
                    return;
                }
                Run& run = *r->second;
                log()->info("run {}: stop requested", run.id());
                run.stopping();
                if (run.state() == RunState::waiting) {
                    waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), run.id()), waiting_.end());
                    finish(run);
                } else {
                    stop_run(run);
                }
            } else if constexpr (std::is_same_v<T, proto::Attach>) {
                auto r = runs_.find(msg.run);
                auto ended = ended_.find(msg.run);
                if (r == runs_.end() && ended == ended_.end()) {
                    proto::send_to(frontend_, id, proto::Error{"unknown-run", "no run " + msg.run});
                    return;
                }
                if (!may_control(msg.run, key)) {
                    proto::send_to(frontend_, id,
                                   proto::Error{"not-yours", "run " + msg.run +
                                                                 " was submitted with another key (only it, or an "
                                                                 "--operators key, may attach)"});
                    return;
                }
                if (r == runs_.end()) {
                    // It ended before this runner came back: its summary was kept.
                    proto::send_to(frontend_, id, proto::Submitted{msg.run, ended->second.summary.agents});
                    proto::send_to(frontend_, id, proto::RunFinished{ended->second.summary});
                    return;
                }
                r->second->attach(id);
                proto::send_to(frontend_, id, proto::Submitted{msg.run, r->second->agents()});
            } else if constexpr (std::is_same_v<T, proto::Heartbeat>) {
                // A runner saying it is there; nothing to do.
            } else {
                peer_warn("runner " + printable(id),
                          fmt::format("runner {} sent {}, which runners do not send; dropped", printable(id), command_of(m)));
                proto::send_to(frontend_, id, proto::Error{"bad-message", "unexpected " + std::string(command_of(m))});
            }
        },
        m);
}

// ------------------------------------------------------------ connections

void Broker::drain_monitors() {
    const auto now = Clock::now();
    backend_monitor_.drain([this, now](ConnMonitor::Conn c) { on_backend_closed(c, now); });
    frontend_monitor_.drain([](ConnMonitor::Conn) {});
    publisher_monitor_.drain([](ConnMonitor::Conn) {});
    check_connection_cap();
}

std::uint32_t Broker::connections() const {
    return static_cast<std::uint32_t>(backend_monitor_.open() + frontend_monitor_.open() + publisher_monitor_.open());
}

void Broker::check_connection_cap() {
    const std::uint32_t max = options_.max_connections;
    if (max == 0) return;
    const std::uint32_t n = connections();
    const std::uint32_t reopen_at = max - std::max<std::uint32_t>(1, max / 10);
    if (!refusing_ && n >= max) {
        refusing_ = true;
        for (auto& g : gates_) g->set_open(false);
        log()->warn("at {} connections (--max-connections {}): refusing new connections until some close", n, max);
    } else if (refusing_ && n <= reopen_at) {
        refusing_ = false;
        for (auto& g : gates_) g->set_open(true);
        log()->info("{} connections (at most {}): accepting new connections again", n, max);
    }
}

void Broker::on_backend_closed(ConnMonitor::Conn conn, Clock::time_point now) {
    for (auto& [id, a] : agents_)
        if (a.conn == conn && !a.disconnected) a.disconnected = now;
}

// A message from an open connection other than the one the agent used: it
// came back (or moved); one from a connection already closed changes nothing.
void Broker::note_connection(const std::string& id, int fd) {
    auto it = agents_.find(id);
    if (it == agents_.end() || fd < 0) return;
    const auto conn = backend_monitor_.current(fd);
    if (conn.gen == 0) return;
    if (!(it->second.conn == conn)) {
        it->second.conn = conn;
        it->second.disconnected.reset();
    }
}

// An agent whose connection closed kReconnectGrace ago and that has not
// spoken on a new one: if ZeroMQ still routes its id (it reconnected quietly)
// it stays, else it is lost.
void Broker::check_disconnected(Clock::time_point now) {
    std::vector<std::pair<std::string, std::chrono::milliseconds>> gone;
    for (auto& [id, a] : agents_) {
        if (!a.disconnected || now - *a.disconnected < kReconnectGrace) continue;
        if (proto::send_to(backend_, id, proto::Heartbeat{"", ""})) {
            a.disconnected.reset();
            continue;
        }
        gone.emplace_back(id, std::chrono::duration_cast<std::chrono::milliseconds>(now - *a.disconnected));
    }
    for (const auto& [id, since] : gone)
        agent_lost(id, since, "its connection closed " + std::to_string(since.count()) + " ms ago");
}

// A slice of the library of the agent's run, from the one copy held; the
// run's prepare timeout counts from its agents' latest FETCH.
// An agent gets at most twice its run's library while it prepares the run,
// so a peer that asks and never reads cannot pile up the broker's queues.
void Broker::on_fetch(const std::string& id, Agent& agent, const proto::Fetch& f) {
    auto r = runs_.find(agent.run);
    const auto* lib = r == runs_.end() ? nullptr : &r->second->submit().library;
    std::string error;
    std::string_view bytes;
    if (!lib || !*lib || (*lib)->sha256 != f.sha256)
        error = "no library with sha256 " + f.sha256.substr(0, 64) + " in a run of yours";
    else if (agent.state != "preparing")
        error = "FETCH while not preparing run " + agent.run;
    else if (agent.fetched + f.length > 2 * (*lib)->size)
        error = "already sent you " + std::to_string(agent.fetched) + " bytes of a library of " +
                std::to_string((*lib)->size);
    else
        bytes = libraries_.slice(f.sha256, f.offset, f.length, error);
    if (!error.empty()) {
        peer_warn("agent " + printable(id), fmt::format("agent {}: FETCH refused: {}", printable(id), error));
        proto::send_to(backend_, id, proto::Error{"bad-fetch", error});
        return;
    }
    r->second->progress();
    agent.fetched += bytes.size();
    proto::send_to(backend_, id, proto::Chunk{f.sha256, f.offset, std::string(bytes)});
}

// ------------------------------------------------------------------ runs

void Broker::submit(const std::string& runner, const std::string& key, proto::Submit&& s) {
    if (s.spec.test.kind == TestSpec::Kind::library && !s.library) {
        proto::send_to(frontend_, runner, proto::Error{"bad-run", "a library test needs its library"});
        return;
    }
    if (s.spec.interval < std::chrono::milliseconds(100)) s.spec.interval = std::chrono::milliseconds(100);
    // The run's name as STATUS, events and summaries show it to anyone
    // connected: its URL without user:password@ or query values (the spec
    // the agents get keeps the real one), unless the run asks otherwise.
    if (!s.show_url) s.test = redact_urls(s.test);
    auto id = run_id(next_run_++);
    // A restarted broker counts from 1 again: no id of a run it learned back.
    while (runs_.count(id) || ended_.count(id)) id = run_id(next_run_++);
    // One copy of the library, whoever needs it; its PREPAREs carry its size.
    if (s.library) run_libraries_[id] = libraries_.add(*s.library);
    auto run = std::make_unique<Run>(id, std::move(s), runner);
    Run& r = *run;
    const std::uint32_t need = r.submit().agents;
    if (idle_agents() < need && !r.submit().wait) {
        std::string msg = "need " + std::to_string(need) + " idle agent" + (need == 1 ? "" : "s") + ", have " +
                          std::to_string(idle_agents()) + " (" + std::to_string(agents_.size()) +
                          " registered); start more agents or pass --wait";
        log()->info("run refused: {}", msg);
        proto::send_to(frontend_, runner, proto::Error{"no-agents", msg});
        run_libraries_.erase(id);
        return;
    }
    if (auth_) {
        run_keys_[id] = key;  // whose it is: only that key (or an operator) may stop or attach it
        r.set_owner(key);
    }
    runs_.emplace(id, std::move(run));
    log()->info("run {} submitted: {} on {} agents", id, r.submit().test, need);
    if (!try_start(r)) {
        waiting_.push_back(id);
        proto::send_to(frontend_, runner, proto::Submitted{id, {}});
    }
}

bool Broker::try_start(Run& run) {
    const std::uint32_t need = run.submit().agents;
    if (idle_agents() < need) return false;
    std::vector<std::string> chosen;
    for (auto& [id, a] : agents_) {
        if (a.state != "idle") continue;
        chosen.push_back(id);
        if (chosen.size() == need) break;
    }
    for (auto& [agent, prepare] : run.assign(chosen)) {
        Agent& a = agents_[agent];
        a.state = "preparing";
        a.run = run.id();
        a.fetched = 0;
        if (!proto::send_to(backend_, agent, prepare)) log()->warn("run {}: cannot reach agent {}", run.id(), agent);
    }
    to_runners(run, proto::Submitted{run.id(), run.agents()});
    return true;
}

// In submit order, each waiting run that has enough idle agents starts: a
// big run at the front does not hold back a smaller one behind it.
void Broker::start_waiting_runs() {
    for (auto w = waiting_.begin(); w != waiting_.end();) {
        if (idle_agents() == 0) return;
        auto it = runs_.find(*w);
        if (it == runs_.end() || try_start(*it->second)) w = waiting_.erase(w);
        else ++w;
    }
}

void Broker::stop_run(Run& run) {
    for (const auto& a : run.agents()) {
        auto it = agents_.find(a);
        if (it != agents_.end() && it->second.run == run.id()) proto::send_to(backend_, a, proto::Stop{run.id()});
    }
}

void Broker::agent_lost(const std::string& id, std::chrono::milliseconds silent, const std::string& why) {
    auto it = agents_.find(id);
    if (it == agents_.end()) return;
    proto::AgentInfo info = it->second.info;
    std::string run_id = it->second.run;
    agents_.erase(it);
    if (why.empty()) log()->warn("agent {} lost (silent for {} ms)", printable(id), silent.count());
    else log()->warn("agent {} lost ({})", printable(id), why);
    proto::publish(publisher_, proto::ClusterEvent{"agent-lost", info, unix_ms()});
    if (run_id.empty()) return;
    auto r = runs_.find(run_id);
    if (r == runs_.end()) return;
    Run& run = *r->second;
    auto msg = run.lost(id, silent, why);
    if (!msg.empty()) run_event(run, "agent-lost", id, msg);
    if (run.has_error()) stop_run(run);
    maybe_finish(run);
}

void Broker::maybe_finish(Run& run) {
    if (run.state() != RunState::done && run.all_done() && !run.awaits_rejoin(Clock::now(), options_.liveness))
        finish(run);
}

void Broker::finish(Run& run) {
    // The last interval's figures go out before the end.
    if (run.state() == RunState::running)
        publish_snapshot(run);
    run.mark_done();
    auto summary = run.summary();
    // Agents' reasons may quote the URL ("invalid URL \"http://...\"").
    summary.error = redact_urls(summary.error);
    for (auto& e : summary.events) e = redact_urls(e);
    if (summary.elapsed.count() == 0 && summary.started_ms)
        summary.elapsed = std::chrono::milliseconds(unix_ms() - summary.started_ms);
    log()->info("run {} finished: {} hits, {} errors, {} failures{}", run.id(), summary.total.hits,
                summary.total.errors, summary.total.failures, summary.error.empty() ? "" : " (" + summary.error + ")");
    to_runners(run, proto::RunFinished{summary});
    proto::RunEvent ev{run.id(), "finished", "", summary.error, unix_ms(), summary};
    proto::publish(publisher_, ev);
    for (const auto& a : run.agents()) {
        auto it = agents_.find(a);
        if (it != agents_.end() && it->second.run == run.id()) {
            it->second.state = "idle";
            it->second.run.clear();
        }
    }
    // Kept a while for a runner that re-attaches, and agents that come back.
    auto owner = run_keys_.find(run.id());
    ended_[run.id()] = Ended{summary, owner == run_keys_.end() ? std::string() : owner->second, Clock::now()};
    while (ended_.size() > kMaxEnded)
        ended_.erase(std::min_element(ended_.begin(), ended_.end(), [](const auto& a, const auto& b) {
            return a.second.at < b.second.at;
        }));
    run_keys_.erase(run.id());
    run_libraries_.erase(run.id());
    runs_.erase(run.id());  // `run` dangles from here on
    start_waiting_runs();
}

void Broker::publish_snapshot(Run& run) {
    auto since = std::chrono::milliseconds(unix_ms() - run.started_ms());
    proto::publish(publisher_, run.take_snapshot(since));
}

// ------------------------------------------------------------------ timers

void Broker::tick(Clock::time_point now) {
    if (now >= next_log_flush_) {
        next_log_flush_ = now + std::chrono::seconds(1);
        peer_log_.flush(now, suppressed_report());
        backend_monitor_.prune([this, now](ConnMonitor::Conn c) { on_backend_closed(c, now); });
        frontend_monitor_.prune([](ConnMonitor::Conn) {});
        publisher_monitor_.prune([](ConnMonitor::Conn) {});
        check_connection_cap();
    }
    if (now >= next_heartbeat_) {
        next_heartbeat_ = now + options_.heartbeat;
        for (const auto& [id, a] : agents_) proto::send_to(backend_, id, proto::Heartbeat{"", ""});
        for (const auto& [id, run] : runs_)
            for (const auto& r : run->runners()) proto::send_to(frontend_, r, proto::Heartbeat{"", run->id()});
    }
    // Liveness, every 100 ms (the walk over thousands of agents is not free,
    // and the poll wakes far more often while snapshots are due). Collect
    // first: the registry changes while we handle losses.
    if (now >= next_liveness_check_) {
        next_liveness_check_ = now + std::chrono::milliseconds(100);
        // Messages still waiting on the backend may be from the agents that
        // look silent (the broker is behind, not they): no loss is declared
        // then before twice the liveness window.
        const bool behind = (backend_.get(zmq::sockopt::events) & ZMQ_POLLIN) != 0;
        std::vector<std::pair<std::string, std::chrono::milliseconds>> silent;
        for (const auto& [id, a] : agents_) {
            auto quiet = std::chrono::duration_cast<std::chrono::milliseconds>(now - a.last_seen);
            if (quiet > options_.liveness && (!behind || quiet > 2 * options_.liveness)) silent.emplace_back(id, quiet);
        }
        for (const auto& [id, quiet] : silent) agent_lost(id, quiet);
        check_disconnected(now);
        // A waiting run none of whose runners has been heard from within the
        // liveness window (runners answer the broker's HEARTBEAT) is dropped:
        // its client went away, and its library need not be kept.
        std::vector<std::string> orphans;
        for (const auto& id : waiting_) {
            auto r = runs_.find(id);
            if (r == runs_.end()) continue;
            bool heard = false;
            for (const auto& runner : r->second->runners()) {
                auto seen = runner_seen_.find(runner);
                heard = heard || (seen != runner_seen_.end() && now - seen->second <= options_.liveness);
            }
            if (!heard) orphans.push_back(id);
        }
        for (const auto& id : orphans) {
            waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), id), waiting_.end());
            auto r = runs_.find(id);
            if (r == runs_.end() || r->second->state() != RunState::waiting) continue;
            log()->warn("run {}: its runner went away while it waited for agents; dropped", id);
            r->second->fail("the runner went away while the run waited for agents");
            finish(*r->second);
        }
        for (auto it = runner_seen_.begin(); it != runner_seen_.end();)
            it = now - it->second > 2 * options_.liveness ? runner_seen_.erase(it) : std::next(it);
        for (auto it = ended_.begin(); it != ended_.end();)
            it = now - it->second.at > kKeepEnded ? ended_.erase(it) : std::next(it);
        // A re-created run waits one liveness window for its other agents,
        // and any run as long for a lost agent to rejoin before it ends.
        std::vector<std::string> check;
        for (auto& [id, run] : runs_) {
            if (run->give_up_missing(now, options_.liveness)) {
                log()->warn("run {}: not every agent came back after the restart; going on without the others", id);
                check.push_back(id);
            } else if (run->state() == RunState::running && run->all_done()) {
                check.push_back(id);
            }
        }
        for (const auto& id : check)
            if (auto r = runs_.find(id); r != runs_.end()) maybe_finish(*r->second);
    }

    std::vector<std::string> ids;
    for (const auto& [id, run] : runs_) ids.push_back(id);
    for (const auto& id : ids) {
        auto it = runs_.find(id);
        if (it == runs_.end()) continue;
        Run& run = *it->second;
        if (run.snapshot_due(now, options_.publish_interval)) publish_snapshot(run);
        if (run.state() == RunState::preparing && now - run.prepared_at() > options_.prepare_timeout) {
            run.fail("agents did not get ready within " + std::to_string(options_.prepare_timeout.count() / 1000) + " s");
            stop_run(run);
            finish(run);
            continue;
        }
        if (run.state() == RunState::waiting && run.submit().wait_timeout.count() > 0 &&
            now - run.submitted_at() > run.submit().wait_timeout) {
            waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), id), waiting_.end());
            run.fail("not enough idle agents within the wait timeout");
            finish(run);
        }
    }
}

// The poll sleeps until the first snapshot falls due (so a batch is not held
// back by the poll), and at most 20 ms (liveness and heartbeats).
std::chrono::milliseconds Broker::until_next_timer(Clock::time_point now) const {
    auto next = std::min(next_heartbeat_, now + std::chrono::milliseconds(20));
    for (const auto& [id, run] : runs_)
        if (run->state() == RunState::running) next = std::min(next, run->snapshot_due_at(options_.publish_interval));
    if (next <= now) return std::chrono::milliseconds(0);
    // Round up: waking a little early would spin through an empty poll.
    return std::chrono::ceil<std::chrono::milliseconds>(next - now);
}

// ------------------------------------------------------------------ helpers

void Broker::to_runners(const Run& run, const proto::Message& m) {
    for (const auto& r : run.runners()) proto::send_to(frontend_, r, m);
}

void Broker::run_event(const Run& run, std::string event, std::string agent, std::string message) {
    proto::RunEvent ev{run.id(), std::move(event), std::move(agent), redact_urls(message), unix_ms(), std::nullopt};
    proto::publish(publisher_, ev);
    to_runners(run, ev);
}

PeerLog::Report Broker::suppressed_report() {
    return [](const std::string& peer, std::uint64_t n) {
        log()->warn("{}: {} more warning{} suppressed", peer, n, n == 1 ? "" : "s");
    };
}

void Broker::peer_warn(const std::string& peer, const std::string& line) {
    if (peer_log_.allow(peer, Clock::now(), suppressed_report())) log()->warn("{}", line);
}

std::size_t Broker::idle_agents() const {
    return static_cast<std::size_t>(
        std::count_if(agents_.begin(), agents_.end(), [](const auto& kv) { return kv.second.state == "idle"; }));
}

proto::Status Broker::status() const {
    proto::Status s;
    s.version = LOADS_VERSION;
    s.pid = static_cast<std::uint32_t>(::getpid());
    const auto now = Clock::now();
    s.uptime_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now - started_).count();
    s.heartbeat_ms = static_cast<std::uint32_t>(options_.heartbeat.count());
    s.liveness_ms = static_cast<std::uint32_t>(options_.liveness.count());
    s.frontend = bound_.frontend;
    s.backend = bound_.backend;
    s.publisher = bound_.publisher;
    for (const auto& [id, a] : agents_)
        s.agents.push_back(proto::AgentStatus{
            a.info, a.state, a.run, std::chrono::duration_cast<std::chrono::milliseconds>(now - a.last_seen).count(),
            a.key});
    for (const auto& [id, r] : runs_)
        s.runs.push_back(proto::RunStatus{id, std::string(to_string(r->state())), r->submit().test,
                                          static_cast<std::uint32_t>(r->submit().agents)});
    s.curve = auth_ != nullptr;
    if (auth_) s.auth = auth_->counts();
    s.connections = proto::Connections{static_cast<std::uint32_t>(frontend_monitor_.open()),
                                       static_cast<std::uint32_t>(backend_monitor_.open()),
                                       static_cast<std::uint32_t>(publisher_monitor_.open()),
                                       options_.max_connections, refusing_};
    return s;
}

}  // namespace loads::broker
