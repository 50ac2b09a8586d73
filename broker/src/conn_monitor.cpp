#include "conn_monitor.hpp"

#include <fcntl.h>

#include <cstring>
#include <vector>

namespace loads::broker {

ConnMonitor::ConnMonitor(zmq::context_t& ctx, zmq::socket_t& watched, const std::string& name)
    : pair_(ctx, zmq::socket_type::pair) {
    const std::string endpoint = "inproc://loads-monitor-" + name;
    if (zmq_socket_monitor(watched.handle(), endpoint.c_str(), ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0)
        throw zmq::error_t();
    pair_.set(zmq::sockopt::linger, 0);
    pair_.connect(endpoint);
}

void ConnMonitor::drain(const OnClosed& on_closed) {
    for (;;) {
        zmq::message_t head;
        if (!pair_.recv(head, zmq::recv_flags::dontwait)) return;
        std::uint16_t event = 0;
        std::int32_t fd = -1;
        if (head.size() >= 6) {
            std::memcpy(&event, head.data(), 2);
            std::memcpy(&fd, static_cast<const char*>(head.data()) + 2, 4);
        }
        while (head.more()) {  // the endpoint frame
            zmq::message_t rest;
            (void)pair_.recv(rest, zmq::recv_flags::none);
            head.move(rest);
        }
        if (event == ZMQ_EVENT_ACCEPTED) {
            open_[fd] = ++gens_[fd];
        } else if (event == ZMQ_EVENT_DISCONNECTED) {
            auto it = open_.find(fd);
            if (it == open_.end()) continue;
            const Conn closed{fd, it->second};
            open_.erase(it);
            on_closed(closed);
        }
    }
}

ConnMonitor::Conn ConnMonitor::current(int fd) const {
    auto it = open_.find(fd);
    return it == open_.end() ? Conn{fd, 0} : Conn{fd, it->second};
}

void ConnMonitor::prune(const OnClosed& on_closed) {
    std::vector<Conn> gone;
    for (const auto& [fd, gen] : open_)
        if (::fcntl(fd, F_GETFD) == -1) gone.push_back(Conn{fd, gen});
    for (const auto& c : gone) {
        open_.erase(c.fd);
        on_closed(c);
    }
}

int source_fd(const zmq::message_t& frame) {
    return zmq_msg_get(const_cast<zmq_msg_t*>(frame.handle()), ZMQ_SRCFD);
}

}  // namespace loads::broker
