// loads-broker: the daemon between runners and agents (docs/protocol.md).
// Prints its bound endpoints and "ready" on stdout, then serves until
// SIGINT or SIGTERM; SIGHUP re-reads the allowed keys.
//   loads-broker keygen NAME [--dir DIR]   writes NAME.key (0600) and NAME.pub
#include "broker.hpp"

#include "loads/log.hpp"
#include "loads/proto/curve.hpp"
#include "loads/units.hpp"

#include <CLI/CLI.hpp>

#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <iostream>

namespace {
std::atomic<bool> g_stop{false};
std::atomic<loads::broker::Broker*> g_broker{nullptr};
extern "C" void on_signal(int) { g_stop.store(true); }
extern "C" void on_hup(int) {
    if (auto* b = g_broker.load()) b->request_reload();
}

std::chrono::milliseconds parse_ms(const std::string& text, const char* flag) {
    auto d = loads::parse_duration(text);
    if (!d || d.value < std::chrono::milliseconds(10))
        throw CLI::ValidationError(flag, d ? "must be at least 10ms" : d.error);
    return std::chrono::duration_cast<std::chrono::milliseconds>(d.value);
}

// A default as the flag takes it: "1s", "50ms".
std::string ms_text(std::chrono::milliseconds d) {
    return d.count() % 1000 == 0 ? std::to_string(d.count() / 1000) + "s" : std::to_string(d.count()) + "ms";
}
}  // namespace

int main(int argc, char** argv) {
    loads::broker::Options o;
    std::string heartbeat = ms_text(o.heartbeat), liveness = ms_text(o.liveness);
    std::string prepare_timeout = ms_text(o.prepare_timeout), publish = ms_text(o.publish_interval), level = "info";
    CLI::App app{"loads-broker: drives loads agents and republishes their merged results"};
    app.set_version_flag("--version", "loads-broker " LOADS_VERSION);
    app.add_option("--frontend", o.frontend, "Runners connect here (ROUTER)")->capture_default_str();
    app.add_option("--backend", o.backend, "Agents connect here (ROUTER)")->capture_default_str();
    app.add_option("--publisher", o.publisher, "Merged result stream (PUB)")->capture_default_str();
    app.add_option("--heartbeat", heartbeat, "Heartbeat interval to agents and runners")->capture_default_str();
    app.add_option("--liveness", liveness, "An agent silent this long is lost")->capture_default_str();
    app.add_option("--prepare-timeout", prepare_timeout, "Agents must be ready within this")->capture_default_str();
    app.add_option("--publish-interval", publish,
                   "Merged batches reach PUB within this of the previous snapshot; a snapshot goes out at least every "
                   "run interval")
        ->capture_default_str();
    app.add_option("--log-level", level, "trace, debug, info, warn, error")->capture_default_str();
    app.add_option("--curve-key", o.curve_key,
                   "The broker's keypair (loads-broker keygen): CURVE on all three sockets (docs/security.md)");
    app.add_option("--allow-agents", o.allow.agents, "Directory of the agents' .pub files (with --curve-key)");
    app.add_option("--allow-runners", o.allow.runners,
                   "Directory of the runners' .pub files (with --curve-key); runners may also subscribe");
    app.add_option("--allow-subscribers", o.allow.subscribers,
                   "Directory of the .pub files of stream subscribers (dashboards, scripts)");
    app.add_option("--operators", o.operators, "Runner key names that may stop or attach any run (with --curve-key)")
        ->delimiter(',');
    app.add_option("--max-connections", o.max_connections,
                   "Refuse new connections (all sockets together) at this many open ones, until some close; 0: "
                   "from the descriptor limit (an eighth of it, at least 256 or half a smaller limit, kept in reserve)")
        ->capture_default_str();
    app.add_flag("--insecure", o.insecure, "Bind a non-loopback address without CURVE (a trusted network only)");
    app.set_config("--config", "", "Read options from this TOML or INI file");

    std::string key_name, key_dir = ".";
    auto* keygen = app.add_subcommand("keygen", "Write a CURVE keypair: NAME.key (secret, mode 0600) and NAME.pub");
    keygen->add_option("name", key_name, "The key's name (its file names; how the broker shows it)")->required();
    keygen->add_option("--dir", key_dir, "Where to write the two files")->capture_default_str();
    try {
        app.parse(argc, argv);
        if (*keygen) {
            if (auto why = loads::proto::check_key_name(key_name); !why.empty())
                throw CLI::ValidationError("NAME", why);
            if (!loads::proto::curve_available()) {
                std::fprintf(stderr, "loads-broker: this libzmq has no CURVE support\n");
                return 1;
            }
            try {
                loads::proto::write_keypair(key_dir, key_name, loads::proto::generate_keypair());
            } catch (const std::exception& e) {
                std::fprintf(stderr, "loads-broker keygen: %s\n", e.what());
                return 1;
            }
            std::printf("wrote %s/%s.key (secret, mode 0600) and %s/%s.pub\n", key_dir.c_str(), key_name.c_str(),
                        key_dir.c_str(), key_name.c_str());
            return 0;
        }
        if (auto why = loads::broker::check_exposure(o); !why.empty()) throw CLI::ValidationError(why);
        o.heartbeat = parse_ms(heartbeat, "--heartbeat");
        o.liveness = parse_ms(liveness, "--liveness");
        o.prepare_timeout = parse_ms(prepare_timeout, "--prepare-timeout");
        o.publish_interval = parse_ms(publish, "--publish-interval");
        if (o.liveness <= o.heartbeat) throw CLI::ValidationError("--liveness", "must be longer than --heartbeat");
        if (!loads::setup_logging(level)) throw CLI::ValidationError("--log-level", "unknown level '" + level + "'");
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }

    // One descriptor per connected agent and runner: thousands of agents need
    // more than the usual soft limit of 1024.
    // Past the limit, ZeroMQ would retry accept() forever (100% CPU); the
    // broker refuses new connections at --max-connections, below it.
    if (rlimit r{}; getrlimit(RLIMIT_NOFILE, &r) == 0) {
        const rlim_t was = r.rlim_cur;
        if (r.rlim_cur < r.rlim_max) {
            r.rlim_cur = r.rlim_max;
            if (setrlimit(RLIMIT_NOFILE, &r) != 0) r.rlim_cur = was;
        }
        const std::uint64_t limit = r.rlim_cur == RLIM_INFINITY ? (1u << 30) : r.rlim_cur;
        const std::uint32_t fit = loads::broker::default_max_connections(limit);
        if (o.max_connections == 0) o.max_connections = fit;
        else if (o.max_connections > fit) {
            loads::get_logger("broker")->warn("--max-connections {} does not fit {} descriptors: {} it is", o.max_connections,
                                               limit, fit);
            o.max_connections = fit;
        }
        loads::get_logger("broker")->info("descriptor limit {}{}: at most {} connections (--max-connections)", limit,
                                          was == r.rlim_cur ? "" : " (raised from " + std::to_string(was) + ")",
                                          o.max_connections);
    }
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    std::signal(SIGHUP, on_hup);
    try {
        loads::broker::Broker broker(o);
        g_broker.store(&broker);
        const auto& ep = broker.endpoints();
        std::printf("listening frontend %s\nlistening backend %s\nlistening publisher %s\nready\n",
                    ep.frontend.c_str(), ep.backend.c_str(), ep.publisher.c_str());
        std::fflush(stdout);
        broker.serve(g_stop);
        g_broker.store(nullptr);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "loads-broker: %s\n", e.what());
        return 1;
    }
    return 0;
}
