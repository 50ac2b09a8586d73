#include "loads/proto/wire.hpp"

#include "loads/proto/limits.hpp"

namespace loads::proto {

bool send(zmq::socket_t& dealer, const Message& m) { return send(dealer, encode(m)); }

bool send(zmq::socket_t& dealer, const Frames& f) {
    try {
        if (!dealer.send(zmq::buffer(f.head), zmq::send_flags::sndmore | zmq::send_flags::dontwait))
            return false;
        return dealer.send(zmq::buffer(f.body), zmq::send_flags::dontwait).has_value();
    } catch (const zmq::error_t&) {
        return false;
    }
}

bool send_to(zmq::socket_t& router, std::string_view routing_id, const Message& m) {
    Frames f = encode(m);
    try {
        if (!router.send(zmq::buffer(routing_id), zmq::send_flags::sndmore | zmq::send_flags::dontwait))
            return false;
        router.send(zmq::buffer(f.head), zmq::send_flags::sndmore);
        router.send(zmq::buffer(f.body), zmq::send_flags::none);
        return true;
    } catch (const zmq::error_t&) {
        return false;  // EHOSTUNREACH: the peer is gone
    }
}

void publish(zmq::socket_t& pub, const Message& m) {
    Frames f = encode(m);
    const std::string topic = topic_of(m);
    try {
        pub.send(zmq::buffer(topic), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
        pub.send(zmq::buffer(f.body), zmq::send_flags::dontwait);
    } catch (const zmq::error_t&) {
        // PUB drops for slow subscribers; nothing to do.
    }
}

std::vector<zmq::message_t> recv_frames(zmq::socket_t& s) {
    std::vector<zmq::message_t> frames;
    zmq::message_t msg;
    if (!s.recv(msg, zmq::recv_flags::dontwait)) return frames;
    bool more = msg.more();
    frames.push_back(std::move(msg));
    while (more) {
        zmq::message_t part;
        (void)s.recv(part, zmq::recv_flags::none);  // the rest of a message is already here
        more = part.more();
        frames.push_back(std::move(part));
    }
    return frames;
}

Envelope split(const std::vector<zmq::message_t>& frames, bool with_routing_id) {
    Envelope e;
    std::size_t i = 0;
    if (with_routing_id) {
        if (frames.empty()) throw ProtoError(ErrorKind::empty, "no frames");
        e.peer = frames[0].to_string();
        i = 1;
    }
    const std::size_t rest = frames.size() - i;
    if (rest == 0) throw ProtoError(ErrorKind::empty, "no frames after the routing id");
    if (rest != 2)
        throw ProtoError(ErrorKind::malformed, "expected 2 frames (command, body), got " + std::to_string(rest));
    if (frames[i].size() == 0) throw ProtoError(ErrorKind::empty, "empty command frame");
    if (frames[i].size() > 64) throw ProtoError(ErrorKind::malformed, "command frame longer than 64 bytes");
    if (frames[i + 1].size() > kMaxBodySize) throw ProtoError(ErrorKind::oversized, "body frame too large");
    e.command = frames[i].to_string();
    e.body = frames[i + 1].to_string_view();
    return e;
}

zmq::socket_t make_router(zmq::context_t& ctx) {
    zmq::socket_t s(ctx, zmq::socket_type::router);
    s.set(zmq::sockopt::linger, 0);
    s.set(zmq::sockopt::router_mandatory, 1);  // sending to a gone peer fails instead of vanishing
    s.set(zmq::sockopt::router_handover, 1);   // a reconnecting agent takes its id back
    s.set(zmq::sockopt::maxmsgsize, kMaxMessageSize);
    s.set(zmq::sockopt::sndhwm, kQueuedMessages);
    s.set(zmq::sockopt::rcvhwm, kQueuedMessages);
    return s;
}

zmq::socket_t make_dealer(zmq::context_t& ctx, const std::string& routing_id) {
    zmq::socket_t s(ctx, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 1000);  // give a last FINISHED a second to leave
    if (!routing_id.empty()) s.set(zmq::sockopt::routing_id, routing_id);
    s.set(zmq::sockopt::maxmsgsize, kMaxMessageSize);
    s.set(zmq::sockopt::sndhwm, kQueuedMessages);
    s.set(zmq::sockopt::rcvhwm, kQueuedMessages);
    s.set(zmq::sockopt::reconnect_ivl, 100);
    s.set(zmq::sockopt::reconnect_ivl_max, 1000);
    return s;
}

std::string endpoint_for_peer(const std::string& bound, const std::string& host) {
    const std::string prefix = "tcp://";
    if (bound.rfind(prefix, 0) != 0) return bound;
    auto colon = bound.rfind(':');
    if (colon == std::string::npos || colon < prefix.size()) return bound;
    std::string h = bound.substr(prefix.size(), colon - prefix.size());
    if (h != "*" && h != "0.0.0.0" && h != "[::]" && h != "::") return bound;
    return prefix + host + bound.substr(colon);
}

std::string check_connect_endpoint(const std::string& endpoint) {
    const std::string expected = "\"" + endpoint + "\" is not an endpoint: expected tcp://HOST:PORT or ipc://PATH";
    if (endpoint.rfind("ipc://", 0) == 0) return endpoint.size() > 6 ? "" : expected;
    if (endpoint.rfind("tcp://", 0) != 0) return expected;
    const auto colon = endpoint.rfind(':');
    if (colon == std::string::npos || colon <= 6) return expected;
    const std::string host = endpoint.substr(6, colon - 6), port = endpoint.substr(colon + 1);
    if (host.empty() || host == "*" || host.find_first_of(" /") != std::string::npos) return expected;
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
        std::stoul(port) == 0 || std::stoul(port) > 65535)
        return "\"" + endpoint + "\": the port must be a number from 1 to 65535";
    return "";
}

}  // namespace loads::proto
