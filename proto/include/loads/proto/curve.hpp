// CurveZMQ for the three broker sockets (docs/security.md): key files, the
// socket options of a CURVE server and client, and what a client saw of a
// failed handshake. The only place that knows these options.
//
// Key files are text, one `name = "value"` per line (ZeroMQ's zcert
// spirit), Z85 keys of 40 characters:
//   NAME.key  public-key and secret-key; mode 0600 (refused if group or
//             others can read it)
//   NAME.pub  public-key only; shareable. A key's file name is its display
//             name ("agent-7.pub" is the key "agent-7").
#pragma once

#include <zmq.hpp>

#include <cstdint>
#include <memory>
#include <string>

namespace loads::proto {

struct Keypair {
    std::string public_key;  // Z85, 40 characters
    std::string secret_key;  // Z85, 40 characters; empty for a public key alone
};

// True when this libzmq was built with CURVE.
bool curve_available();
Keypair generate_keypair();

// Writes DIR/NAME.key (0600) and DIR/NAME.pub. Throws std::runtime_error
// naming the file when it exists already or cannot be written; NAME is 1 to
// 64 characters of A-Z a-z 0-9 . _ - (not starting with a dot).
void write_keypair(const std::string& dir, const std::string& name, const Keypair& k);
// Reads a .key file. Throws std::runtime_error naming the file and what is
// wrong (missing, readable by others, no secret key, not Z85 of 40).
Keypair read_secret_key(const std::string& path);
// Reads the public key of a .pub (or .key) file; throws as above.
std::string read_public_key(const std::string& path);
// "" when `name` is a valid key name, else why not.
std::string check_key_name(const std::string& name);

// What a CURVE client needs: its own keypair and the broker's public key.
struct ClientKeys {
    Keypair own;
    std::string server_public;
    bool enabled() const { return !server_public.empty(); }
};
// Loads --curve-key and --broker-pub (both or neither). Throws
// std::runtime_error naming the flag and file; returns disabled keys when
// both are empty.
ClientKeys load_client_keys(const std::string& curve_key, const std::string& broker_pub);

// Socket options, set before bind/connect.
void set_curve_server(zmq::socket_t& s, const Keypair& own, const std::string& zap_domain);
void set_curve_client(zmq::socket_t& s, const ClientKeys& keys);  // nothing when disabled

// Watches a client socket's handshakes (a ZeroMQ socket monitor) so that a
// connection the broker refuses is reported as such instead of as silence.
class HandshakeWatch {
public:
    // Call before s.connect(). `curve`: whether the client uses keys (to
    // tell "the broker wants keys" from "the broker has no CURVE").
    HandshakeWatch(zmq::context_t& ctx, zmq::socket_t& s, bool curve);
    ~HandshakeWatch();
    HandshakeWatch(const HandshakeWatch&) = delete;
    HandshakeWatch& operator=(const HandshakeWatch&) = delete;

    // Reads the events so far; "" while nothing failed (or after a
    // handshake succeeded), else why the broker did not let us in.
    std::string failure();
    bool succeeded();

private:
    void drain();
    zmq::socket_t* watched_;
    zmq::socket_t pair_;
    std::string endpoint_;
    bool curve_;
    bool succeeded_ = false;
    std::string failure_;
    int rank_ = 0;  // how telling failure_ is
};

}  // namespace loads::proto
