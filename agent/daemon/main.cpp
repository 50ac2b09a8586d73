// loads-agent: runs virtual users for a loads-broker (docs/protocol.md).
// Prints `registered ID BROKER` each time the broker welcomes it; exits 0
// on SIGINT or SIGTERM after stopping any run.
#include "agent.hpp"
#include "limit_options.hpp"

#include "loads/log.hpp"
#include "loads/units.hpp"

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_signal(int) { g_stop.store(true); }
}  // namespace

int main(int argc, char** argv) {
    loads::agent::Options o;
    std::string level = "info";
    loads::agent::LimitOptions limits;
    CLI::App app{"loads-agent: runs virtual users for a loads-broker"};
    app.set_version_flag("--version", "loads-agent " LOADS_VERSION);
    app.add_option("--broker", o.broker, "The broker's backend endpoint")->capture_default_str();
    app.add_option("--threads", o.threads, "Engine worker threads (default: one per core)")
        ->check(CLI::Range(1u, 1024u));
    app.add_option("--id", o.id, "Agent id, unique in the cluster (default: HOST-PID)");
    app.add_option("--cache-dir", o.cache_dir,
                   "Where shipped test libraries are kept, a directory of the agent's own: created 0700, refused "
                   "if group/others can write it, if another user owns it or if it is a symbolic link (default: "
                   "$XDG_CACHE_HOME/loads, $HOME/.cache/loads or /tmp/loads-agent-cache-UID)");
    std::string max_library;
    app.add_option("--max-library-size", max_library,
                   "Refuse shipped test libraries bigger than this many bytes: 5000000, 10M (= 10,000,000); "
                   "default 128 MiB, the protocol's frame cap");
    limits.add_to(app, o);
    app.add_option("--log-level", level, "trace, debug, info, warn, error")->capture_default_str();
    std::string curve_key, broker_pub;
    app.add_option("--curve-key", curve_key, "This agent's CURVE keypair file (loads-broker keygen NAME)");
    app.add_option("--broker-pub", broker_pub, "The broker's public key file (BROKER.pub), with --curve-key");
    app.set_config("--config", "", "Read options from this TOML or INI file");
    try {
        app.parse(argc, argv);
        try {
            o.curve = loads::proto::load_client_keys(curve_key, broker_pub);
        } catch (const std::exception& e) {
            throw CLI::ValidationError(e.what());
        }
        limits.apply(o);
        if (!loads::setup_logging(level)) throw CLI::ValidationError("--log-level", "unknown level '" + level + "'");
        if (o.broker.find("://") == std::string::npos)
            throw CLI::ValidationError("--broker", "expected an endpoint like tcp://HOST:PORT, got '" + o.broker + "'");
        if (!max_library.empty()) {
            auto max = loads::parse_count(max_library);
            if (!max) throw CLI::ValidationError("--max-library-size", max.error);
            if (max.value == 0) throw CLI::ValidationError("--max-library-size", "must be above 0");
            o.max_library_size = max.value;
        }
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    // A cache directory that is not the agent's own is a usage error, found
    // before the agent registers.
    if (auto why = loads::agent::LibraryCache(o.cache_dir.empty() ? loads::agent::default_cache_dir() : o.cache_dir)
                       .prepare_dir();
        !why.empty()) {
        std::fprintf(stderr, "loads-agent: %s\n", why.c_str());
        return 2;
    }
    try {
        loads::agent::Agent agent(o);
        agent.serve(g_stop);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "loads-agent: %s\n", e.what());
        return 1;
    }
    return 0;
}
