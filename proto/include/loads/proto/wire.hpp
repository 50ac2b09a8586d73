// Sending and receiving proto messages on ZeroMQ sockets. Every socket
// option and frame layout of docs/protocol.md is applied here.
#pragma once

#include "loads/proto/messages.hpp"

#include <zmq.hpp>

#include <optional>
#include <string>
#include <vector>

namespace loads::proto {

// Sends on a DEALER: [command, body]. Never blocks; false if it could not
// be queued (high-water mark reached, or no connection yet).
bool send(zmq::socket_t& dealer, const Message& m);
// The same, for a message encoded beforehand (e.g. to check its size first).
bool send(zmq::socket_t& dealer, const Frames& f);
// Sends on a ROUTER to one peer: [routing id, command, body]. False when the
// peer is unknown (ZMQ_ROUTER_MANDATORY is set by make_router) or its queue is full.
bool send_to(zmq::socket_t& router, std::string_view routing_id, const Message& m);
// Publishes [topic, body] on a PUB socket.
void publish(zmq::socket_t& pub, const Message& m);

// Receives every frame of one message, without waiting; empty if there was none.
std::vector<zmq::message_t> recv_frames(zmq::socket_t& s);

// A message as read from a ROUTER or DEALER, before decoding.
struct Envelope {
    std::string peer;     // routing id (ROUTER only)
    std::string command;
    std::string_view body;
};
// Splits frames into an envelope: with_routing_id for ROUTER sockets. Throws
// ProtoError (empty, malformed: wrong frame count, oversized).
Envelope split(const std::vector<zmq::message_t>& frames, bool with_routing_id);

// Sockets configured as the protocol wants them (linger, limits, handover).
zmq::socket_t make_router(zmq::context_t& ctx);
zmq::socket_t make_dealer(zmq::context_t& ctx, const std::string& routing_id);

// "tcp://*:7782" as seen from a peer that reached us at `host`:
// "tcp://host:7782". Anything not a wildcard is returned as is.
std::string endpoint_for_peer(const std::string& bound, const std::string& host);

// "" when `endpoint` is one a peer can connect to (tcp://HOST:PORT with a
// port of 1-65535, or ipc://PATH), else why not, naming the endpoint.
std::string check_connect_endpoint(const std::string& endpoint);

}  // namespace loads::proto
