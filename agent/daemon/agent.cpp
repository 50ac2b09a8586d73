#include "agent.hpp"

#include "loads/library_check.hpp"
#include "loads/log.hpp"
#include "loads/units.hpp"
#include "loads/proto/wire.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <exception>

namespace loads::agent {

namespace {

constexpr const char* kPipe = "inproc://loads-agent-results";

auto log() { return get_logger("agent"); }

std::string hostname() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
    return buf;
}

std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

void send_frames(zmq::socket_t& s, const proto::Message& m) {
    proto::Frames f = proto::encode(m);
    s.send(zmq::buffer(f.head), zmq::send_flags::sndmore);
    s.send(zmq::buffer(f.body), zmq::send_flags::none);
}

// Runs on the run thread: each interval's delta becomes a RESULT.
class Reporter final : public RunObserver {
public:
    Reporter(zmq::socket_t& pipe, std::string run) : pipe_(pipe), run_(std::move(run)) {}

    void on_interval(std::uint32_t cycle, const Stats& delta, const Progress& p) override {
        proto::Result r;
        r.run = run_;
        r.seq = ++seq_;
        r.cycle = cycle;
        r.hits_done = p.hits_done;
        r.users = p.users_alive;
        r.users_busy = p.users_busy;
        r.elapsed = p.elapsed;
        r.stats = delta;
        send_frames(pipe_, r);
    }
    std::uint64_t last_seq() const { return seq_; }

private:
    zmq::socket_t& pipe_;
    std::string run_;
    std::uint64_t seq_ = 0;
};

}  // namespace

std::string check_limits(const Options& o, const RunSpec& spec) {
    if (auto why = Engine::check_allowed(spec, o.allow); !why.empty()) return why;
    const Plan& plan = spec.plan;
    if (o.max_users) {
        if (plan.open()) {
            const std::uint32_t agents = std::max<std::uint32_t>(1, spec.agent_count);
            const std::uint32_t share =
                plan.max_users / agents + (spec.agent_index < plan.max_users % agents ? 1 : 0);
            if (share > o.max_users)
                return "the run's pool of up to " + std::to_string(share) + " users on this agent (--max-users " +
                       std::to_string(plan.max_users) + " over " + std::to_string(agents) +
                       " agent(s)) is more than this agent's --max-users " + std::to_string(o.max_users);
        } else {
            for (std::size_t i = 0; i < plan.cycles.size(); ++i)
                if (plan.cycles[i].users > o.max_users)
                    return "cycle " + std::to_string(i + 1) + " asks for " + std::to_string(plan.cycles[i].users) +
                           " users, more than this agent's --max-users " + std::to_string(o.max_users);
        }
    }
    if (o.max_duration) {
        Duration timed{0};
        for (const auto& c : plan.cycles)
            if (c.duration) timed += *c.duration;
        if (timed > *o.max_duration)
            return "the plan lasts " + format_duration(timed) + ", longer than this agent's --max-duration " +
                   format_duration(*o.max_duration);
    }
    return {};
}

Agent::Agent(Options o)
    : options_(std::move(o)), cache_(options_.cache_dir.empty() ? default_cache_dir() : options_.cache_dir),
      pipe_(ctx_, zmq::socket_type::pull) {
    if (auto why = cache_.prepare_dir(); !why.empty()) throw std::runtime_error(why);
    info_.host = hostname();
    info_.pid = static_cast<std::uint32_t>(::getpid());
    info_.id = options_.id.empty() ? info_.host + "-" + std::to_string(info_.pid) : options_.id;
    info_.threads = options_.threads ? options_.threads : std::max(1u, std::thread::hardware_concurrency());
    info_.version = LOADS_VERSION;
    pipe_.set(zmq::sockopt::linger, 0);
    pipe_.set(zmq::sockopt::rcvhwm, 0);
    pipe_.bind(kPipe);
    log()->info("virtual users may connect to: {}",
                options_.allow.allows_everything() ? std::string("anywhere (--allow '*')") : options_.allow.describe());
}

Agent::~Agent() { end_run(false); }

const char* Agent::name(State s) {
    switch (s) {
        case State::idle: return "idle";
        case State::preparing: return "preparing";
        case State::busy: return "busy";
    }
    return "?";
}

void Agent::connect() {
    warned_silence_ = false;
    handshake_.reset();
    dealer_.reset();  // a fresh socket: nothing queued for the old broker survives
    dealer_.emplace(proto::make_dealer(ctx_, info_.id));
    proto::set_curve_client(*dealer_, options_.curve);
    handshake_ = std::make_unique<proto::HandshakeWatch>(ctx_, *dealer_, options_.curve.enabled());
    dealer_->connect(options_.broker);
    welcomed_ = false;
    connected_at_ = Clock::now();
    last_heard_ = connected_at_;
    send(registration());
    log()->info("registering as {} with {}{}", info_.id, options_.broker,
                outbox_ ? " holding run " + outbox_->state.run : std::string());
}

proto::Register Agent::registration() const {
    proto::Register r{info_, std::nullopt};
    if (outbox_) r.run = outbox_->state;
    return r;
}

void Agent::reconnect(const char* why) {
    // A run prepared but not started is the broker's to restart; a started
    // one goes on (its plan bounds it) and its results wait for the broker.
    if (state_ == State::preparing) {
        state_ = State::idle;
        run_.clear();
        spec_.reset();
    }
    if (outbox_)
        log()->warn("{}: registering again; run {} goes on, {} batch(es) kept for the broker", why,
                    outbox_->state.run, outbox_->unacked.size());
    else
        log()->warn("{}: registering again", why);
    connect();
}

void Agent::send(const proto::Message& m) {
    if (!proto::send(*dealer_, m))
        log()->debug("{} not queued (no connection to the broker yet)", proto::command_of(m));
    last_sent_ = Clock::now();
}

void Agent::serve(const std::atomic<bool>& stop) {
    connect();
    while (!stop.load()) {
        zmq::pollitem_t items[] = {{dealer_->handle(), 0, ZMQ_POLLIN, 0}, {pipe_.handle(), 0, ZMQ_POLLIN, 0}};
        try {
            zmq::poll(items, 2, std::chrono::milliseconds(100));
        } catch (const zmq::error_t& e) {
            if (e.num() == EINTR) continue;
            throw;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            for (int budget = 0; budget < 1000; ++budget) {
                auto frames = proto::recv_frames(*dealer_);
                if (frames.empty()) break;
                last_heard_ = Clock::now();
                try {
                    auto env = proto::split(frames, false);
                    on_message(proto::decode(env.command, env.body));
                } catch (const proto::ProtoError& e) {
                    log()->warn("dropped a malformed message from the broker ({}): {}", to_string(e.kind), e.what());
                }
                if (!dealer_) break;
            }
        }
        if (items[1].revents & ZMQ_POLLIN) forward_results();
        timers();
    }
    log()->info("stopping");
    end_run(true);
}

void Agent::timers() {
    const auto now = Clock::now();
    if (!welcomed_ && handshake_) {
        // Say once why the broker does not let us in, instead of waiting in silence.
        const std::string why = handshake_->failure();
        if (!why.empty() && why != told_) {
            log()->error("cannot join the broker at {}: {}", options_.broker, why);
            std::fprintf(stderr, "loads-agent: cannot join the broker at %s: %s\n", options_.broker.c_str(), why.c_str());
            told_ = why;
        }
        // ZeroMQ does not retry a refused handshake: try again with a fresh
        // socket now and then, so a key allowed later lets us in.
        if (!why.empty() && now - connected_at_ > std::chrono::seconds(2)) {
            connect();
            return;
        }
        if (why.empty() && !warned_silence_ && now - connected_at_ > std::chrono::seconds(3)) {
            warned_silence_ = true;
            log()->warn("no welcome from the broker at {} after 3 s: is it running, and is the id {} free (a live "
                        "agent may hold it)?",
                        options_.broker, info_.id);
            std::fprintf(stderr,
                         "loads-agent: no welcome from the broker at %s after 3 s: is it running, and is the id %s "
                         "free (a live agent may hold it)?\n",
                         options_.broker.c_str(), info_.id.c_str());
        }
    }
    // --max-duration: a plan with counted hits has no length known up front;
    // it is stopped once it has run that long (timed plans were checked at
    // PREPARE).
    if (state_ == State::busy && engine_ && options_.max_duration && !over_time_ && spec_ &&
        !spec_->plan.total_duration() &&
        now - run_started_ >= std::chrono::duration_cast<Clock::duration>(*options_.max_duration)) {
        over_time_ = true;
        log()->warn("run {}: stopped after this agent's --max-duration {}", run_,
                    format_duration(*options_.max_duration));
        engine_->stop();
    }
    if (!welcomed_) {
        if (now - last_sent_ >= proto::kRetryEvery) send(registration());
        return;
    }
    if (now - last_heard_ >= liveness_) {
        const std::string why = "broker silent for " +
                                std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(now - last_heard_).count()) +
                                " ms";
        reconnect(why.c_str());
        return;
    }
    if (now - last_sent_ >= heartbeat_) send(proto::Heartbeat{name(state_), run_});
}

void Agent::on_message(const proto::Message& m) {
    if (auto* w = std::get_if<proto::Welcome>(&m)) {
        welcomed_ = true;
        told_.clear();
        heartbeat_ = std::max(std::chrono::milliseconds(w->heartbeat_ms), proto::kMinHeartbeat);
        liveness_ = std::max(std::chrono::milliseconds(w->liveness_ms), 2 * heartbeat_);
        std::printf("registered %s %s\n", info_.id.c_str(), options_.broker.c_str());
        std::fflush(stdout);
        log()->info("registered with {} (heartbeat {} ms, liveness {} ms)", options_.broker, heartbeat_.count(),
                    liveness_.count());
        if (outbox_) {
            if (w->run != outbox_->state.run)
                drop_outbox("the broker does not take run " + outbox_->state.run +
                            " back (it ended while this agent was away)");
            else
                resend(w->acked);
        }
        return;
    }
    if (std::holds_alternative<proto::Heartbeat>(m)) return;
    if (auto* a = std::get_if<proto::Ack>(&m)) return on_ack(*a);
    if (auto* p = std::get_if<proto::Prepare>(&m)) return on_prepare(*p);
    if (auto* c = std::get_if<proto::Chunk>(&m)) return on_chunk(*c);
    if (auto* s = std::get_if<proto::Start>(&m)) return on_start(*s);
    if (auto* s = std::get_if<proto::Stop>(&m)) return on_stop(*s);
    if (auto* e = std::get_if<proto::Error>(&m)) {
        log()->warn("broker says {}: {}", e->code, e->message);
        if (e->code == "bad-fetch" && fetch_) return fail_fetch("the broker refused a FETCH: " + e->message);
        if (e->code == "unknown-agent") {
            // The broker does not know us (it restarted, or declared us
            // lost): register again, with the run we hold.
            if (welcomed_) reconnect("the broker does not know this agent");
        }
        return;
    }
    log()->warn("dropped an unexpected {} from the broker", proto::command_of(m));
}

void Agent::on_prepare(const proto::Prepare& p) {
    if (state_ != State::idle) {
        send(proto::Rejected{p.run, std::string("busy with run ") + run_});
        return;
    }
    if (outbox_) drop_outbox("the broker gives this agent a new run (" + p.run + ")");
    std::string library_path;
    try {
        if (p.spec.test.kind == TestSpec::Kind::library) {
            if (!p.library) throw std::runtime_error("a library test came without its library");
            const auto& lib = *p.library;
            const std::uint64_t size = lib.bytes.empty() ? lib.size : lib.bytes.size();
            if (size > options_.max_library_size)
                throw std::runtime_error("library " + lib.name + " is " + std::to_string(size) + " bytes (" +
                                         format_bytes(size) + ")" + ", over this agent's --max-library-size of " +
                                         std::to_string(options_.max_library_size) + " bytes");
            if (!lib.bytes.empty()) library_path = cache_.store(lib);  // inline (a broker before FETCH)
            else library_path = cache_.find(lib);                      // had it already: no transfer
            if (library_path.empty()) {
                if (auto why = cache_.prepare_dir(); !why.empty()) throw std::runtime_error(why);
                fetch_ = std::make_unique<LibraryFetch>(cache_.dir(), lib);
                pending_ = p;
                state_ = State::preparing;
                run_ = p.run;
                log()->info("run {}: fetching library {} ({}) from the broker", p.run, lib.name, format_bytes(size));
                for (const auto& f : fetch_->requests()) send(f);
                return;
            }
        }
    } catch (const std::exception& e) {
        log()->warn("run {} rejected: {}", p.run, e.what());
        send(proto::Rejected{p.run, e.what()});
        return;
    }
    finish_prepare(p, library_path);
}

void Agent::on_chunk(const proto::Chunk& c) {
    if (!fetch_) {
        log()->debug("dropped a CHUNK: no library is being fetched");
        return;
    }
    if (auto why = fetch_->on_chunk(c); !why.empty()) return fail_fetch(why);
    for (const auto& f : fetch_->requests()) send(f);
    if (!fetch_->complete()) return;
    std::string path;
    try {
        path = fetch_->finish();
    } catch (const std::exception& e) {
        return fail_fetch(e.what());
    }
    fetch_.reset();
    proto::Prepare p = std::move(*pending_);
    pending_.reset();
    state_ = State::idle;
    run_.clear();
    finish_prepare(p, path);
}

void Agent::fail_fetch(const std::string& error) {
    log()->warn("run {} rejected: {}", run_, error);
    send(proto::Rejected{run_, error});
    fetch_.reset();
    pending_.reset();
    state_ = State::idle;
    run_.clear();
}

void Agent::finish_prepare(const proto::Prepare& p, const std::string& library_path) {
    RunSpec spec = p.spec;
    std::string error;
    try {
        if (spec.test.kind == TestSpec::Kind::library) {
            spec.test.library_path = library_path;
            // Its bytes are checked before anything dlopens it: a file that is
            // not a loads test library never runs a constructor here.
            if (auto why = check_library_file(spec.test.library_path, p.library->name); !why.empty()) {
                cache_.remove(spec.test.library_path);
                throw std::runtime_error(why);
            }
        }
        spec.data.clear();
        for (const auto& d : p.data) spec.data.push_back({d.name, cache_.store(d)});
        error = Engine::check(spec.test);
        if (error.empty()) error = Engine::check_data(spec.data);
        if (error.empty()) error = check_limits(options_, spec);
    } catch (const std::exception& e) {
        error = e.what();
    }
    if (!error.empty()) {
        log()->warn("run {} rejected: {}", p.run, error);
        send(proto::Rejected{p.run, error});
        return;
    }
    state_ = State::preparing;
    run_ = p.run;
    spec_ = std::move(spec);
    prepared_ = proto::Prepare{p.run, p.spec, std::nullopt, {}, p.test, p.owner};
    log()->info("run {} prepared: {}", p.run,
                spec_->test.kind == TestSpec::Kind::url ? spec_->test.url : spec_->test.test_name);
    send(proto::Ready{p.run});
}

void Agent::on_start(const proto::Start& s) {
    if (state_ != State::preparing || s.run != run_ || fetch_) {
        send(proto::Error{"unknown-run", "START for run " + s.run + " which this agent has not prepared"});
        return;
    }
    state_ = State::busy;
    outbox_.emplace();
    outbox_->state = proto::RunState{run_, prepared_.spec, prepared_.test, prepared_.owner, false,
                                     unix_ms(std::chrono::system_clock::now()), 0};
    engine_ = std::make_unique<Engine>(EngineOptions{options_.threads, options_.allow});
    run_started_ = Clock::now();
    over_time_ = false;
    worker_ = std::thread([this, spec = *spec_, run = run_] {
        // PUSH to the agent's PULL, not PAIR: a PAIR takes one peer at a
        // time, and the last run's pipe is torn down by ZeroMQ's reaper
        // thread at its own pace; a new run's connection arriving first
        // would be refused, and its results (FINISHED too) lost.
        zmq::socket_t pipe(ctx_, zmq::socket_type::push);
        pipe.set(zmq::sockopt::linger, 0);
        pipe.set(zmq::sockopt::sndhwm, 0);
        pipe.connect(kPipe);
        Reporter reporter(pipe, run);
        proto::Finished fin;
        fin.run = run;
        try {
            RunResult r = engine_->run(spec, reporter);
            fin.stopped = r.stopped;
            fin.started_ms = unix_ms(r.started);
            fin.elapsed = r.elapsed;
            for (auto& c : r.cycles) fin.cycles.push_back({c.index, c.users, c.elapsed, {}});
        } catch (const std::exception& e) {
            log()->error("run {} failed: {}", run, e.what());
            fin.stopped = true;
        }
        fin.last_seq = reporter.last_seq();
        send_frames(pipe, fin);
    });
    log()->info("run {} started", run_);
}

void Agent::on_stop(const proto::Stop& s) {
    if (s.run != run_ || state_ == State::idle) return;  // already over: FINISHED went out
    if (state_ == State::preparing) {
        proto::Finished fin;
        fin.run = run_;
        fin.stopped = true;
        send(fin);
        state_ = State::idle;
        run_.clear();
        spec_.reset();
        fetch_.reset();
        pending_.reset();
        return;
    }
    log()->info("run {}: stop requested", run_);
    engine_->stop();  // FINISHED follows from the run thread within about a second
}

// Forwards what the run thread produced; FINISHED ends the run.
void Agent::forward_results() {
    for (;;) {
        auto frames = proto::recv_frames(pipe_);
        if (frames.empty()) return;
        const bool finished = frames[0].to_string_view() == "FINISHED";
        if (frames.size() == 2 && outbox_ && outbox_->state.run == run_) {
            proto::Frames f{frames[0].to_string(), frames[1].to_string()};
            Outbox& o = *outbox_;
            if (finished) {
                o.state.finished = true;
                o.finished = f;
            } else {
                try {
                    const auto r = std::get<proto::Result>(proto::decode(f.head, f.body));
                    o.state.last_seq = r.seq;
                    o.bytes += f.body.size();
                    o.unacked.emplace_back(r.seq, f);
                } catch (const std::exception& e) {
                    log()->error("run {}: a batch of ours does not decode: {}", run_, e.what());
                }
                // Bounded: past the cap the oldest go (the broker sees a gap).
                std::uint64_t dropped = 0;
                while (o.bytes > proto::kMaxUnackedBytes && o.unacked.size() > 1) {
                    o.bytes -= o.unacked.front().second.body.size();
                    o.unacked.pop_front();
                    ++dropped;
                }
                if (dropped) {
                    o.dropped += dropped;
                    log()->warn("run {}: {} unacknowledged batch(es) dropped ({} so far): more than {} MiB waited for "
                                "the broker", run_, dropped, o.dropped, proto::kMaxUnackedBytes >> 20);
                }
            }
            if (welcomed_) {
                if (proto::send(*dealer_, f)) last_sent_ = Clock::now();
                else log()->debug("{} not queued; kept until the broker acknowledges it", f.head);
            }
        }
        if (finished) {
            if (worker_.joinable()) worker_.join();
            engine_.reset();
            log()->info("run {} finished", run_);
            state_ = State::idle;
            run_.clear();
            spec_.reset();
            return;
        }
    }
}

void Agent::on_ack(const proto::Ack& a) {
    if (!outbox_ || a.run != outbox_->state.run) return;
    acknowledged(a.seq);
    if (a.finished) {
        if (outbox_->unacked.empty() && outbox_->finished) outbox_.reset();  // all is with the broker
        else drop_outbox("the broker takes nothing more of run " + a.run + " from this agent");
    }
}

void Agent::acknowledged(std::uint64_t seq) {
    Outbox& o = *outbox_;
    o.acked = std::max(o.acked, seq);
    while (!o.unacked.empty() && o.unacked.front().first <= seq) {
        auto& [n, f] = o.unacked.front();
        try {
            auto r = std::get<proto::Result>(proto::decode(f.head, f.body));
            auto [it, fresh] = o.merged.try_emplace(r.cycle, r);
            proto::Result& m = it->second;
            if (fresh) {
                m.first_seq = r.seq;
            } else {
                m.stats.merge(r.stats);
                m.seq = r.seq;
                m.hits_done = r.hits_done;
                m.elapsed = r.elapsed;
                m.users = r.users;
                m.users_busy = r.users_busy;
            }
        } catch (const std::exception& e) {
            log()->error("run {}: batch {} does not decode: {}", o.state.run, n, e.what());
        }
        o.bytes -= f.body.size();
        o.unacked.pop_front();
    }
}

void Agent::resend(std::uint64_t acked) {
    Outbox& o = *outbox_;
    acknowledged(acked);
    o.acked = acked;  // a restarted broker holds nothing: it says 0
    std::size_t n = 0;
    for (auto& [cycle, m] : o.merged) {
        if (m.seq <= acked) continue;
        if (m.first_seq <= acked) {
            log()->warn("run {}: the broker holds batches up to {}, inside cycle {}'s acknowledged batches {}..{}: "
                        "those are not sent again", o.state.run, acked, cycle, m.first_seq, m.seq);
            continue;
        }
        n += proto::send(*dealer_, m);
    }
    for (const auto& [seq, f] : o.unacked)
        if (seq > acked) n += proto::send(*dealer_, f);
    if (o.finished) n += proto::send(*dealer_, *o.finished);
    last_sent_ = Clock::now();
    log()->info("run {}: the broker holds batches up to {}; {} message(s) sent again", o.state.run, acked, n);
}

void Agent::drop_outbox(const std::string& why) {
    if (!outbox_) return;
    log()->warn("{}: {} unacknowledged batch(es) of run {} dropped", why, outbox_->unacked.size(), outbox_->state.run);
    // The broker no longer counts this run's figures from us: a run still
    // going here is stopped (its FINISHED goes nowhere).
    if (state_ == State::busy && engine_ && run_ == outbox_->state.run) engine_->stop();
    outbox_.reset();
}

void Agent::end_run(bool forward) {
    if (state_ == State::busy && engine_) {
        engine_->stop();
        // Wait for the run thread's FINISHED (it ends within about a second).
        while (state_ == State::busy) {
            zmq::pollitem_t item{pipe_.handle(), 0, ZMQ_POLLIN, 0};
            zmq::poll(&item, 1, std::chrono::milliseconds(100));
            if (!(item.revents & ZMQ_POLLIN)) continue;
            if (forward && dealer_) {
                forward_results();
            } else {
                for (;;) {
                    auto frames = proto::recv_frames(pipe_);
                    if (frames.empty()) break;
                    if (frames[0].to_string_view() == "FINISHED") {
                        if (worker_.joinable()) worker_.join();
                        engine_.reset();
                        state_ = State::idle;
                        break;
                    }
                }
            }
        }
    }
    state_ = State::idle;
    run_.clear();
    spec_.reset();
    fetch_.reset();
    pending_.reset();
}

}  // namespace loads::agent
