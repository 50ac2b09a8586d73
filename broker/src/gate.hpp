// A TCP endpoint the broker can stop and start accepting on without dropping
// the connections it has (ZeroMQ's unbind would close them all).
//
// The broker makes the listening socket itself (SO_REUSEPORT) and hands it to
// ZeroMQ (ZMQ_USE_FD); a second socket, the sink, listens on the same
// address. A one-instruction classic BPF program on the group chooses which
// of the two gets each new connection: ZeroMQ's while open, the sink while
// closed. The broker resets whatever reaches the sink (accept, then close
// with SO_LINGER 0), so a client sees its connection reset at once and
// nothing spins. The gate holds one spare descriptor (/dev/null) to give up
// for that accept when the process has none left, so even then a refused
// connection is reset, not left waiting. Linux only; elsewhere, or for ipc:// endpoints, the socket
// is bound as usual and cannot be closed (can_close() is false).
#pragma once

#include <zmq.hpp>

#include <chrono>
#include <string>

namespace loads::broker {

class Gate {
public:
    // Binds `socket` to `endpoint` ("tcp://127.0.0.1:*" style, as bind_spec
    // makes it); throws std::runtime_error naming `what` on failure.
    Gate(zmq::socket_t& socket, const std::string& endpoint, const char* what);
    ~Gate();
    Gate(const Gate&) = delete;
    Gate& operator=(const Gate&) = delete;

    const std::string& bound() const { return bound_; }
    bool can_close() const { return sink_ >= 0; }
    bool open() const { return open_; }
    // Steers new connections to ZeroMQ (open) or to the sink (closed).
    void set_open(bool open);
    // The sink's descriptor, to poll (-1 without one, or for 100 ms after
    // accept ran out of descriptors even with the spare given up: no
    // spinning on a queue it cannot take).
    int sink_fd(std::chrono::steady_clock::time_point now) const { return now < starved_until_ ? -1 : sink_; }
    // Accepts and resets every connection waiting on the sink; returns how many.
    int reset_waiting();

private:
    std::string bound_;
    int listener_ = -1;  // ZeroMQ's, owned by ZeroMQ once bound
    int sink_ = -1;
    int spare_ = -1;  // given up to accept one connection at EMFILE, then taken back
    bool open_ = true;
    std::chrono::steady_clock::time_point starved_until_{};
};

}  // namespace loads::broker
