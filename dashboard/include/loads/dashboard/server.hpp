// The dashboard's web server: one page, its script, a WebSocket that pushes
// the board's updates, GET /metrics for Prometheus and GET /api/state.
//
// It runs on its own thread. Every connected browser has a bounded queue of
// updates; one that does not keep up has its queue dropped and gets the whole
// state (the latest) when it is ready again, so a slow or gone browser costs
// a bounded amount of memory and never slows whoever feeds the board.
#pragma once

#include "loads/dashboard/board.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace loads::dashboard {

class Server {
public:
    // Binds `listen` ("127.0.0.1:8089"; port 0 picks one) at once: throws
    // std::runtime_error with a clear message when it cannot.
    Server(Board& board, const std::string& listen,
           std::chrono::milliseconds push_interval = std::chrono::milliseconds(250));
    ~Server();  // stops and joins
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    // "127.0.0.1:8089" as bound.
    std::string address() const;
    // Pushes pending updates now (the server also does it every push_interval).
    void flush();
    // Pushes pending updates and waits (up to `timeout`) until every
    // connected browser has been sent everything: the last words of a run
    // before the program exits. False on timeout.
    bool drain(std::chrono::milliseconds timeout);
    void stop();

private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace loads::dashboard
