// The connections of one broker socket, as its ZeroMQ socket monitor reports
// them (an inproc PAIR): which descriptors are open, and a generation per
// descriptor so a connection that reuses a closed one's fd is told apart.
#pragma once

#include <zmq.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <string>

namespace loads::broker {

class ConnMonitor {
public:
    // One connection: its descriptor and the how-manieth connection on it.
    struct Conn {
        int fd = -1;
        std::uint64_t gen = 0;  // 0: none
        bool operator==(const Conn& o) const { return fd == o.fd && gen == o.gen; }
    };
    using OnClosed = std::function<void(Conn)>;

    // Starts monitoring `watched` (call before it binds, so no connection is missed).
    ConnMonitor(zmq::context_t& ctx, zmq::socket_t& watched, const std::string& name);
    zmq::socket_t& socket() { return pair_; }

    // Reads every pending event; calls on_closed for each connection closed.
    void drain(const OnClosed& on_closed);
    // The open connection on `fd` (gen 0 if the monitor knows none: a
    // message read after its connection closed).
    Conn current(int fd) const;
    std::size_t open() const { return open_.size(); }
    // Forgets descriptors closed without an event (ZeroMQ drops the old
    // connection of a ROUTER_HANDOVER silently); calls on_closed for each.
    void prune(const OnClosed& on_closed);

private:
    zmq::socket_t pair_;
    std::map<int, std::uint64_t> open_;  // fd -> generation of its open connection
    std::map<int, std::uint64_t> gens_;  // fd -> connections seen on it
};

// The descriptor a message came from (ZMQ_SRCFD of its last frame), -1 if unknown.
int source_fd(const zmq::message_t& frame);

}  // namespace loads::broker
