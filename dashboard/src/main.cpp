// loads-dashboard: a live web page (and Prometheus metrics) for a loads
// cluster, fed by the broker's PUB stream.
//
//   loads-dashboard --publisher tcp://127.0.0.1:7782 --listen 127.0.0.1:8089
//                   [--broker tcp://127.0.0.1:7780] [--curve-key own.key --broker-pub broker.pub]
//
// Prints `listening http HOST:PORT` once the page is served and
// `subscribed ENDPOINT` once the subscription reached the broker; stops on
// SIGINT/SIGTERM.
#include "loads/dashboard/board.hpp"
#include "loads/dashboard/feed.hpp"
#include "loads/dashboard/server.hpp"
#include "loads/log.hpp"

#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <iostream>

int main(int argc, char** argv) {
    std::string publisher = "tcp://127.0.0.1:7782";
    std::string frontend;
    std::string listen = "127.0.0.1:8089";
    std::string log_level = "warn";
    CLI::App app{"loads-dashboard: a live web page and Prometheus metrics for a loads cluster"};
    app.add_option("--publisher", publisher, "The broker's publisher (PUB) endpoint")->capture_default_str();
    std::string curve_key, broker_pub;
    app.add_option("--curve-key", curve_key, "This dashboard's CURVE keypair file (loads-broker keygen NAME)");
    app.add_option("--broker-pub", broker_pub,
                   "The broker's public key file (BROKER.pub), with --curve-key. (An endpoint here, the "
                   "spelling of loads 0.1, is taken as --publisher.)");
    app.add_option("--broker", frontend,
                   "The broker's frontend endpoint: asked for STATUS every second (agents' state and last contact)");
    app.add_option("--listen", listen, "Serve the page and /metrics on HOST:PORT (port 0 picks one)")
        ->capture_default_str();
    app.add_option("--log-level", log_level, "Diagnostics on stderr: trace, debug, info, warn, error, off")
        ->capture_default_str();
    app.set_version_flag("--version", LOADS_VERSION);
    app.set_config("--config", "", "Read options from this TOML or INI file");
    loads::proto::ClientKeys curve;
    try {
        app.parse(argc, argv);
        if (broker_pub.find("://") != std::string::npos) {
            std::cerr << "loads-dashboard: --broker-pub ENDPOINT is now --publisher ENDPOINT (taken as such)\n";
            publisher = broker_pub;
            broker_pub.clear();
        }
        try {
            curve = loads::proto::load_client_keys(curve_key, broker_pub);
        } catch (const std::exception& e) {
            throw CLI::ValidationError(e.what());
        }
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }
    loads::setup_logging(log_level);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);  // threads started below inherit it

    loads::dashboard::Board board;
    board.set_source("broker " + publisher, true);
    std::unique_ptr<loads::dashboard::Server> server;
    try {
        server = std::make_unique<loads::dashboard::Server>(board, listen);
    } catch (const std::exception& e) {
        std::cerr << "loads-dashboard: " << e.what() << "\n";
        return 2;
    }
    std::printf("listening http %s\n", server->address().c_str());
    std::fflush(stdout);
    loads::dashboard::Feed feed(
        board, publisher, frontend,
        [&publisher] {
            std::printf("subscribed %s\n", publisher.c_str());
            std::fflush(stdout);
        },
        curve);

    int sig = 0;
    sigwait(&set, &sig);
    feed.stop();
    server->stop();
    return 0;
}
