#include "cluster_run.hpp"

#include "interrupts.hpp"
#include "progress.hpp"

#include "loads/log.hpp"
#include "loads/proto/limits.hpp"
#include "loads/proto/messages.hpp"
#include "loads/proto/wire.hpp"
#include "loads/redact.hpp"
#include "loads/sha256.hpp"

#include <zmq.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace loads::runner {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr Duration kDefaultBrokerTimeout = std::chrono::seconds(5);
constexpr milliseconds kPollStep{100};

Duration broker_timeout(const Options& o) { return o.broker_timeout.value_or(kDefaultBrokerTimeout); }

// "tcp://host:7780" -> "host" (brackets of an IPv6 address kept, as
// endpoint_for_peer pastes it back in front of ":port").
std::string host_of(const std::string& endpoint) {
    const std::string prefix = "tcp://";
    if (endpoint.rfind(prefix, 0) != 0) return "127.0.0.1";
    auto colon = endpoint.rfind(':');
    if (colon == std::string::npos || colon <= prefix.size()) return endpoint.substr(prefix.size());
    std::string host = endpoint.substr(prefix.size(), colon - prefix.size());
    if (host.empty() || host == "*" || host == "0.0.0.0") return "127.0.0.1";
    return host;
}

std::string seconds_text(Duration d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", std::chrono::duration<double>(d).count());
    return buf;
}

std::string uptime_text(std::int64_t ms) {
    if (ms < 0) ms = 0;
    char buf[64];
    if (ms < 60'000) {
        std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
        return buf;
    }
    const long long s = ms / 1000;
    const long long d = s / 86400, h = (s / 3600) % 24, m = (s / 60) % 60, sec = s % 60;
    if (d) std::snprintf(buf, sizeof buf, "%lldd%02lldh%02lldm", d, h, m);
    else if (h) std::snprintf(buf, sizeof buf, "%lldh%02lldm%02llds", h, m, sec);
    else std::snprintf(buf, sizeof buf, "%lldm%02llds", m, sec);
    return buf;
}

std::string too_large_for_a_message(std::size_t bytes, std::size_t body) {
    auto mib = [](std::size_t n) { return std::to_string((n + (1u << 20) - 1) >> 20) + " MiB"; };
    std::string why = "this run is " + mib(bytes) + " on the wire, more than the " + mib(proto::kMaxBodySize) +
                      " a message to the broker may carry";
    if (body > (1u << 20)) why += " (--body alone is " + mib(body) + ")";
    return why;
}

std::string read_file(const std::string& path, const std::string& what) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw UsageError("cannot read " + what + " " + path);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    if (f.bad()) throw UsageError("cannot read " + what + " " + path);
    return bytes;
}

proto::Library read_library(const std::string& path) {
    std::string bytes = read_file(path, "the test library");
    if (bytes.size() > proto::kMaxBodySize - (1u << 20))
        throw UsageError("the test library " + path + " is too large to send to agents");
    proto::Library lib;
    lib.name = std::filesystem::path(path).filename().string();
    lib.sha256 = sha256_hex(bytes);
    lib.bytes = std::move(bytes);
    return lib;
}

// The --data files, to ship with the run. They ride in one message with the
// library: together they must fit in a body (the runner checked each file).
std::vector<proto::DataFile> read_data_files(const std::vector<DataSource>& sources, std::size_t library_bytes) {
    std::vector<proto::DataFile> out;
    std::size_t total = library_bytes;
    for (const auto& s : sources) {
        proto::DataFile f;
        f.name = s.name;
        f.file = std::filesystem::path(s.path).filename().string();
        f.bytes = read_file(s.path, "the data file");
        f.sha256 = sha256_hex(f.bytes);
        total += f.bytes.size();
        if (total > proto::kMaxBodySize - (1u << 20))
            throw UsageError("--data: the library and data files come to more than " +
                             std::to_string((proto::kMaxBodySize >> 20) - 1) + " MiB, too much to send to agents");
        out.push_back(std::move(f));
    }
    return out;
}

// One decoded message from the DEALER, or nothing (no message, or one we
// could not decode: logged and skipped).
std::optional<proto::Message> receive(zmq::socket_t& dealer) {
    auto frames = proto::recv_frames(dealer);
    if (frames.empty()) return std::nullopt;
    try {
        auto env = proto::split(frames, false);
        return proto::decode(env.command, env.body);
    } catch (const proto::ProtoError& e) {
        get_logger("runner")->warn("bad message from the broker: {}", e.what());
        return std::nullopt;
    }
}

// Waits up to `timeout` for a message on the DEALER.
std::optional<proto::Message> receive_within(zmq::socket_t& dealer, Duration timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        if (auto m = receive(dealer)) return m;
        auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) return std::nullopt;
        zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
        zmq::poll(&item, 1, std::min(left, kPollStep));
    }
}

// Sends STATUS and waits for the reply; nullopt when nobody answers.
std::optional<proto::Status> ask_status(zmq::socket_t& dealer, Duration timeout) {
    if (!proto::send(dealer, proto::StatusRequest{})) return std::nullopt;
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<Duration>(deadline - Clock::now());
        if (left.count() <= 0) return std::nullopt;
        auto m = receive_within(dealer, left);
        if (!m) return std::nullopt;
        if (auto* s = std::get_if<proto::Status>(&*m)) return std::move(*s);
        if (auto* e = std::get_if<proto::Error>(&*m))
            throw std::runtime_error("the broker refused STATUS: " + e->message);
        // Anything else is stale; keep waiting.
    }
}

CycleResult to_cycle(const proto::CycleInfo& c) {
    CycleResult r;
    r.index = c.index;
    r.users = c.users;
    r.stats = c.stats;
    r.elapsed = c.elapsed;
    return r;
}

void warn_line(const ProgressBar& bar, const std::string& text) {
    if (bar.active()) {
        std::fputc('\n', stdout);
        std::fflush(stdout);
    }
    std::cerr << "loads-runner: warning: " << text << "\n";
}

// Why no STATUS came: the handshake's failure when there was one.
std::string no_broker(const Options& options, proto::HandshakeWatch& handshake) {
    const std::string why = handshake.failure();
    if (!why.empty()) return "the broker at " + options.broker + " did not let this runner in: " + why;
    return "no broker answering at " + options.broker + " (is loads-broker running?" +
           (options.curve.enabled() ? " Does it use CURVE?)" : ")");
}

}  // namespace

namespace {

// The run as it goes to the broker, made before anything else: one too large
// for a message would be refused by the broker's size limit and look like a
// lost broker.
proto::Frames submit_frames(const Options& options) {
    proto::Submit submit;
    submit.spec = options.spec;
    submit.test = options.test_argument;
    submit.agents = options.agents;
    submit.wait = options.wait_for_agents;
    submit.show_url = options.show_url;
    // A library test ships its library.
    if (options.spec.test.kind == TestSpec::Kind::library) submit.library = read_library(options.spec.test.library_path);
    submit.data = read_data_files(options.spec.data, submit.library ? submit.library->bytes.size() : 0);
    auto frames = proto::encode(submit);
    if (frames.body.size() > proto::kMaxBodySize)
        throw UsageError(too_large_for_a_message(frames.body.size(), options.spec.test.body.size()));
    return frames;
}

// One run on the cluster, from SUBMIT to the merged summary: the dialog with
// the broker on a DEALER, live progress from its PUB, and re-attaching when
// the broker goes silent.
class ClusterRun {
public:
    ClusterRun(const Options& options, Interrupts& interrupts)
        : options_(options), interrupts_(interrupts), sub_(ctx_, zmq::socket_type::sub),
          bar_(stdout, !options.quiet && options.output == OutputFormat::text), series_(options.spec.interval),
          watch_(options.thresholds, options.abort_on_fail, options.spec.plan.open()) {
        progress_.cycles = static_cast<std::uint32_t>(options.spec.plan.cycles.size());
    }
    ~ClusterRun() { interrupts_.on_interrupt(nullptr); }
    ClusterRun(const ClusterRun&) = delete;
    ClusterRun& operator=(const ClusterRun&) = delete;

    Report run() {
        auto frames = submit_frames(options_);
        connect_dealer();
        // 1. Who is there, and where does it publish?
        status_ = ask_status(dealer_, broker_timeout(options_));
        if (!status_) throw UsageError(no_broker(options_, *handshake_));
        // 2. Connect the SUB now so it is up by the time the run starts;
        // subscribe once the run has an id.
        sub_.set(zmq::sockopt::linger, 0);
        sub_.set(zmq::sockopt::rcvhwm, proto::kQueuedMessages);
        sub_.set(zmq::sockopt::maxmsgsize, proto::kMaxMessageSize);
        proto::set_curve_client(sub_, options_.curve);
        sub_.connect(proto::endpoint_for_peer(status_->publisher, host_of(options_.broker)));
        // 3. The run: from here Ctrl-C stops it (STOP, then its summary).
        interrupts_.on_interrupt([this] { stop_requested_.store(true); });
        if (!proto::send(dealer_, frames)) throw std::runtime_error("cannot send the run to the broker at " + options_.broker);
        frames = {};  // the bytes are queued; free ours
        // The broker's own --liveness (from STATUS) when it is longer: a
        // broker on a slow link told to wait 20 s is not given up after 5.
        liveness_ = std::max({Duration(proto::kRunnerMinLiveness), broker_timeout(options_),
                              Duration(milliseconds(status_->liveness_ms))});
        // How long a run's runner keeps trying to re-attach to a broker that
        // went silent (it may restart and learn the run back from its agents).
        reattach_for_ = std::max<Duration>(proto::kMinReattach, proto::kReattachLivenesses * liveness_);
        last_heard_ = Clock::now();
        while (!summary_) {
            if (stop_requested_.load() && !stop_sent_ && !run_.empty()) stop_sent_ = proto::send(dealer_, proto::Stop{run_});
            zmq::pollitem_t items[] = {{dealer_.handle(), 0, ZMQ_POLLIN, 0}, {sub_.handle(), 0, ZMQ_POLLIN, 0}};
            zmq::poll(items, 2, kPollStep);
            if (items[1].revents & ZMQ_POLLIN) read_published();
            while (auto m = receive(dealer_))
                if (on_broker_message(*m)) break;
            if (!summary_) check_liveness();
        }
        if (!summary_->error.empty()) {
            if (bar_.active()) std::fputc('\n', stdout);
            throw std::runtime_error(summary_->error);
        }
        // 4. The merged summary as a report.
        return report();
    }

private:
    // A fresh connection to the broker (again after it went silent: a socket
    // of its own, nothing of the old one's queue goes to the new broker).
    void connect_dealer() {
        handshake_.reset();
        dealer_ = proto::make_dealer(ctx_, "");
        // Every send is followed by waiting for its answer: nothing to flush at exit.
        dealer_.set(zmq::sockopt::linger, 0);
        proto::set_curve_client(dealer_, options_.curve);
        handshake_ = std::make_unique<proto::HandshakeWatch>(ctx_, dealer_, options_.curve.enabled());
        dealer_.connect(options_.broker);
    }

    void check_liveness() {
        const auto now = Clock::now();
        if (now - last_heard_ <= liveness_) return;
        if (run_.empty())
            throw std::runtime_error("lost the broker at " + options_.broker + ": no message for " +
                                     seconds_text(liveness_) + " s");
        if (!reattaching_) {
            reattaching_ = now;
            warn_line(bar_, "lost the broker at " + options_.broker + " (no message for " + seconds_text(liveness_) +
                                " s): re-attaching to run " + run_ + "...");
        }
        if (now - *reattaching_ > reattach_for_)
            throw std::runtime_error("lost the broker at " + options_.broker + ": run " + run_ +
                                     " could not be re-attached within " + seconds_text(reattach_for_) + " s");
        if (now - last_attach_ >= proto::kRetryEvery) {
            last_attach_ = now;
            connect_dealer();
            proto::send(dealer_, proto::Attach{run_});
        }
    }

    // Live progress from the PUB (run events come on the DEALER too; the
    // PUB copy is for other watchers).
    void read_published() {
        for (int i = 0; i < 256; ++i) {
            auto frames = proto::recv_frames(sub_);
            if (frames.empty()) break;
            if (frames.size() != 2) continue;
            try {
                auto m = proto::decode_published(frames[0].to_string_view(), frames[1].to_string_view());
                if (auto* s = std::get_if<proto::Snapshot>(&m); s && s->run == run_) on_snapshot(*s);
            } catch (const proto::ProtoError& e) {
                get_logger("runner")->debug("bad published message: {}", e.what());
            }
        }
    }

    void on_snapshot(const proto::Snapshot& s) {
        progress_.hits_done = s.hits_done;
        progress_.hits_total = s.hits_total;
        progress_.elapsed = s.elapsed;
        progress_.duration_total = s.duration_total;
        progress_.cycle = s.cycle;
        progress_.users_alive = s.users;
        progress_.users_busy = s.users_busy;
        errors_ += s.delta.errors + s.delta.failures;
        series_.add(s.elapsed, s.cycle, s.delta, s.users, s.users_busy);
        bar_.update(progress_, errors_);
        // --abort-on-fail: on the running merged totals; stop the run as Ctrl-C does.
        if (watch_.add(s.delta, s.elapsed)) {
            warn_line(bar_, "stopping: " + watch_.describe() + " (--abort-on-fail)");
            stop_requested_.store(true);
        }
    }

    // The dialog with the broker; true once the summary is in.
    bool on_broker_message(proto::Message& m) {
        if (auto* e = std::get_if<proto::Error>(&m); e && reattaching_ && e->code == "unknown-run")
            return false;  // a restarted broker that has not learned the run back yet: keep asking
        last_heard_ = Clock::now();
        if (auto* s = std::get_if<proto::Submitted>(&m); s && reattaching_ && s->run == run_) {
            warn_line(bar_, "re-attached to run " + run_ + " after " +
                                seconds_text(Clock::now() - *reattaching_ + liveness_) + " s without the broker");
            reattaching_.reset();
            live_events_.push_back("the runner lost the broker and re-attached to the run");
            return false;
        }
        if (auto* s = std::get_if<proto::Submitted>(&m)) {
            on_submitted(*s);
        } else if (auto* e = std::get_if<proto::Error>(&m)) {
            if (run_.empty()) throw UsageError(e->message.empty() ? e->code : e->message);
            throw std::runtime_error("the broker: " + (e->message.empty() ? e->code : e->message));
        } else if (auto* ev = std::get_if<proto::RunEvent>(&m)) {
            if (ev->event == "agent-lost" || ev->event == "gap" || ev->event == "agent-rejoined") {
                live_events_.push_back(ev->message);
                warn_line(bar_, ev->message);
            }
        } else if (auto* f = std::get_if<proto::RunFinished>(&m)) {
            if (run_.empty() || f->summary.run == run_ || f->summary.run.empty()) {
                summary_ = std::move(f->summary);
                return true;
            }
        } else if (std::holds_alternative<proto::Heartbeat>(m)) {
            // Answered, so the broker knows we are still here: a run waiting
            // for agents is dropped once its runner goes away.
            proto::send(dealer_, proto::Heartbeat{"", run_});
        }
        // Anything else: liveness only.
        return false;
    }

    void on_submitted(const proto::Submitted& s) {
        if (run_.empty()) {
            run_ = s.run;
            sub_.set(zmq::sockopt::subscribe, "run." + run_ + ".");
        }
        if (s.agents.empty()) {
            if (!started_) std::cerr << "waiting for " << options_.agents << " agents...\n";
        } else if (!started_) {
            started_ = true;
            std::string names;
            for (const auto& a : s.agents) names += (names.empty() ? "" : ", ") + a;
            get_logger("runner")->info("run {} on agents {}", run_, names);
        }
    }

    Report report() {
        proto::RunSummary& summary = *summary_;
        Report report;
        report.result.started = std::chrono::system_clock::time_point(milliseconds(summary.started_ms));
        report.result.elapsed = summary.elapsed;
        for (const auto& c : summary.cycles) report.result.cycles.push_back(to_cycle(c));
        report.result.total = std::move(summary.total);
        report.result.stopped = summary.stopped;
        report.events = std::move(summary.events);
        for (auto& e : live_events_)
            if (std::find(report.events.begin(), report.events.end(), e) == report.events.end())
                report.events.push_back(std::move(e));
        report.incomplete = summary.incomplete;
        report.agent_ids = summary.agents;
        report.agent_hosts = agent_hosts(report.agent_ids);
        report.agents = options_.agents;
        report.series = series_.finish(summary.elapsed);
        report.aborted = watch_.fired();

        progress_.elapsed = std::max(progress_.elapsed, summary.elapsed);
        if (!summary.stopped) {
            progress_.hits_done = report.result.total.hits;
            if (progress_.hits_total) progress_.hits_total = std::max(*progress_.hits_total, progress_.hits_done);
            if (progress_.duration_total) progress_.elapsed = std::max(progress_.elapsed, *progress_.duration_total);
        }
        bar_.finish(progress_, report.result.total.errors + report.result.total.failures);
        return report;
    }

    // Where each agent ran, from the broker's registry: asked again now for
    // agents that joined after the start (--wait); an agent lost since is
    // still in the first answer.
    std::vector<Report::AgentHost> agent_hosts(const std::vector<std::string>& ids) {
        std::optional<proto::Status> now_status;
        try {
            now_status = ask_status(dealer_, std::min<Duration>(broker_timeout(options_), std::chrono::seconds(2)));
        } catch (const std::exception&) {
            // The first answer will do: the run's figures are what matter here.
        }
        std::vector<Report::AgentHost> hosts;
        for (const auto& id : ids) {
            Report::AgentHost h{id, "", "", 0, 0};
            for (const proto::Status* st : {now_status ? &*now_status : nullptr, &*status_}) {
                if (!st || !h.host.empty()) continue;
                for (const auto& a : st->agents)
                    if (a.agent.id == id) h = {id, a.agent.host, a.agent.version, a.agent.pid, a.agent.threads};
            }
            hosts.push_back(std::move(h));
        }
        return hosts;
    }

    const Options& options_;
    Interrupts& interrupts_;
    zmq::context_t ctx_{1};
    zmq::socket_t dealer_;
    std::unique_ptr<proto::HandshakeWatch> handshake_;
    zmq::socket_t sub_;
    std::optional<proto::Status> status_;
    std::atomic<bool> stop_requested_{false};
    bool stop_sent_ = false;
    bool started_ = false;  // SUBMITTED with agents came
    std::string run_;       // id, once SUBMITTED came
    Duration liveness_{};
    Duration reattach_for_{};
    Clock::time_point last_heard_{};
    std::optional<Clock::time_point> reattaching_;  // since when
    Clock::time_point last_attach_{};
    ProgressBar bar_;
    Progress progress_;
    std::uint64_t errors_ = 0;
    SeriesBuilder series_;
    AbortWatch watch_;
    std::vector<std::string> live_events_;
    std::optional<proto::RunSummary> summary_;
};

}  // namespace

Report run_cluster(const Options& options, Interrupts& interrupts) { return ClusterRun(options, interrupts).run(); }

int cluster_status(const Options& options) {
    zmq::context_t ctx(1);
    zmq::socket_t dealer = proto::make_dealer(ctx, "");
    dealer.set(zmq::sockopt::linger, 0);
    proto::set_curve_client(dealer, options.curve);
    proto::HandshakeWatch handshake(ctx, dealer, options.curve.enabled());
    std::optional<proto::Status> status;
    try {
        dealer.connect(options.broker);
        status = ask_status(dealer, broker_timeout(options));
    } catch (const std::exception& e) {
        std::cerr << "loads-runner: " << options.broker << ": " << e.what() << "\n";
        return 1;
    }
    if (!status) {
        std::cerr << "loads-runner: " << no_broker(options, handshake) << "\n";
        return 1;
    }
    const proto::Status& s = *status;
    std::size_t idle = 0;
    for (const auto& a : s.agents) idle += a.state == "idle";

    std::ostringstream out;
    out << "Broker " << options.broker << ": loads-broker " << s.version << ", pid " << s.pid << ", up "
        << uptime_text(s.uptime_ms) << "\n";
    out << "  frontend " << s.frontend << ", backend " << s.backend << ", publisher " << s.publisher << "\n";
    if (!s.curve) {
        out << "  CURVE off: anyone who reaches these sockets is trusted\n";
    } else {
        out << "  CURVE on; handshakes allowed/refused:";
        for (const auto& a : s.auth)
            out << " " << a.socket << " " << a.allowed << "/" << a.refused << " (" << a.keys << " key"
                << (a.keys == 1 ? "" : "s") << ")";
        out << "\n";
    }
    out << "Agents: " << s.agents.size() << " (" << idle << " idle, " << s.agents.size() - idle << " busy)\n";
    if (options.check_cluster) {
        for (const auto& a : s.agents) {
            out << "  " << a.agent.id << "  " << a.agent.host << "  pid " << a.agent.pid << "  threads "
                << a.agent.threads << "  " << a.state;
            if (!a.key.empty()) out << "  key " << a.key;
            if (!a.run.empty()) out << "  run " << a.run;
            out << "  seen " << a.last_seen_ms << " ms ago\n";
        }
        out << "Runs: " << s.runs.size() << "\n";
        for (const auto& r : s.runs)
            out << "  " << r.id << " " << r.state << " " << r.agents << " agents " << r.test << "\n";
    }
    std::cout << out.str() << std::flush;
    return 0;
}

}  // namespace loads::runner
