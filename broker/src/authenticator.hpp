// The broker's ZAP handler (ZeroMQ RFC 27): decides, for each CURVE
// handshake on the frontend, backend and publisher, whether the client's
// public key is one of the allowed keys of that socket. Runs on the broker's
// own thread (its socket is polled with the others), so a handshake waits at
// most one poll. The allowed keys are the .pub files of a directory per
// socket; a file's name is the key's display name, which the broker then
// sees as the messages' ZMQ "User-Id" (and agents' key names in STATUS).
#pragma once

#include "loads/proto/messages.hpp"

#include <zmq.hpp>

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace loads::broker {

// Directories of allowed public keys, one per kind of peer.
struct AllowDirs {
    std::string agents;       // backend
    std::string runners;      // frontend (and the publisher: runners follow their runs there)
    std::string subscribers;  // publisher
};

class Authenticator {
public:
    // Binds the ZAP endpoint in `ctx` and loads the keys; throws
    // std::runtime_error when a directory cannot be read.
    Authenticator(zmq::context_t& ctx, AllowDirs dirs);

    zmq::socket_t& socket() { return zap_; }
    // Answers the ZAP requests waiting; false when there was none.
    bool handle();
    // Re-reads the directories: always when `force` (SIGHUP), otherwise
    // only those whose modification time changed. Logs what changed.
    void reload(bool force);

    std::vector<proto::AuthCount> counts() const;

private:
    struct Domain {
        std::vector<std::string> dirs;
        std::map<std::string, std::string> keys;  // Z85 public key -> name
        proto::AuthCount count;
    };
    void load(Domain& d, bool force);

    zmq::socket_t zap_;
    std::map<std::string, Domain> domains_;         // by ZAP domain = socket name
    std::map<std::string, std::int64_t> dir_mtime_;  // ns; to notice changes
    std::set<std::string> logged_;                   // refusals already logged (address + key)
};

}  // namespace loads::broker
