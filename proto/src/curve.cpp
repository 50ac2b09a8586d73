#include "loads/proto/curve.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace loads::proto {
namespace {

bool is_z85_key(const std::string& k) {
    if (k.size() != 40) return false;
    static const std::string alphabet =
        "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    return k.find_first_not_of(alphabet) == std::string::npos;
}

// The `key = "value"` lines of a key file.
struct KeyFile {
    std::string public_key, secret_key;
};

KeyFile parse_key_file(const std::string& path, const std::string& text) {
    KeyFile f;
    std::istringstream in(text);
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        auto first = line.find_first_not_of(" \t\r");
        if (first == std::string::npos || line[first] == '#') continue;
        auto eq = line.find('=');
        if (eq == std::string::npos) throw std::runtime_error(path + " line " + std::to_string(n) + ": expected name = \"value\"");
        auto trim = [](std::string s) {
            auto a = s.find_first_not_of(" \t\r\"");
            auto b = s.find_last_not_of(" \t\r\"");
            return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
        };
        std::string name = trim(line.substr(0, eq)), value = trim(line.substr(eq + 1));
        if (name == "public-key") f.public_key = value;
        else if (name == "secret-key") f.secret_key = value;
        else throw std::runtime_error(path + " line " + std::to_string(n) + ": unknown name \"" + name + "\"");
    }
    if (!is_z85_key(f.public_key)) throw std::runtime_error(path + ": no public-key of 40 Z85 characters");
    if (!f.secret_key.empty() && !is_z85_key(f.secret_key))
        throw std::runtime_error(path + ": the secret-key is not 40 Z85 characters");
    return f;
}

std::string read_file(const std::string& path, std::size_t limit) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
    std::string text(limit + 1, '\0');
    in.read(text.data(), static_cast<std::streamsize>(text.size()));
    text.resize(static_cast<std::size_t>(in.gcount()));
    if (text.size() > limit) throw std::runtime_error(path + ": too big for a key file");
    return text;
}

void write_new(const std::string& path, const std::string& text, mode_t mode) {
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) throw std::runtime_error(path + " exists already: not overwritten");
    std::FILE* f = nullptr;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, mode);
    if (fd < 0) throw std::runtime_error("cannot create " + path + ": " + std::strerror(errno));
    ::fchmod(fd, mode);  // whatever the umask
    f = ::fdopen(fd, "w");
    if (!f || std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fclose(f) != 0)
        throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
}

}  // namespace

bool curve_available() { return zmq_has("curve") != 0; }

Keypair generate_keypair() {
    char pub[41] = {}, sec[41] = {};
    if (zmq_curve_keypair(pub, sec) != 0)
        throw std::runtime_error(std::string("cannot make a CURVE keypair: ") + zmq_strerror(zmq_errno()));
    return {pub, sec};
}

std::string check_key_name(const std::string& name) {
    if (name.empty() || name.size() > 64) return "a key name is 1 to 64 characters";
    if (name[0] == '.') return "a key name does not start with a dot";
    for (char c : name)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
            return "a key name is made of A-Z a-z 0-9 . _ -";
    return "";
}

void write_keypair(const std::string& dir, const std::string& name, const Keypair& k) {
    if (auto why = check_key_name(name); !why.empty()) throw std::runtime_error("\"" + name + "\": " + why);
    const std::string base = (dir.empty() ? "." : dir) + "/" + name;
    write_new(base + ".key",
              "# loads CURVE keypair \"" + name + "\": keep this file secret (mode 0600)\n"
              "public-key = \"" + k.public_key + "\"\n"
              "secret-key = \"" + k.secret_key + "\"\n",
              0600);
    write_new(base + ".pub",
              "# loads CURVE public key \"" + name + "\": give it to the broker (or to its peers)\n"
              "public-key = \"" + k.public_key + "\"\n",
              0644);
}

Keypair read_secret_key(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
    if (st.st_mode & 077)
        throw std::runtime_error(path + " can be read by others (mode " + [&] {
            char b[8];
            std::snprintf(b, sizeof b, "%04o", unsigned(st.st_mode & 07777));
            return std::string(b);
        }() + "): a secret key must be mode 0600 (chmod 600 " + path + ")");
    KeyFile f = parse_key_file(path, read_file(path, 4096));
    if (f.secret_key.empty()) throw std::runtime_error(path + " has no secret-key (is it a .pub file?)");
    return {f.public_key, f.secret_key};
}

std::string read_public_key(const std::string& path) { return parse_key_file(path, read_file(path, 4096)).public_key; }

ClientKeys load_client_keys(const std::string& curve_key, const std::string& broker_pub) {
    ClientKeys k;
    if (curve_key.empty() && broker_pub.empty()) return k;
    if (curve_key.empty()) throw std::runtime_error("--broker-pub needs --curve-key (this peer's own keypair)");
    if (broker_pub.empty()) throw std::runtime_error("--curve-key needs --broker-pub (the broker's public key)");
    if (!curve_available()) throw std::runtime_error("this libzmq has no CURVE support");
    try {
        k.own = read_secret_key(curve_key);
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string("--curve-key: ") + e.what());
    }
    try {
        k.server_public = read_public_key(broker_pub);
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string("--broker-pub: ") + e.what());
    }
    return k;
}

void set_curve_server(zmq::socket_t& s, const Keypair& own, const std::string& zap_domain) {
    s.set(zmq::sockopt::zap_domain, zap_domain);
    s.set(zmq::sockopt::curve_server, true);
    s.set(zmq::sockopt::curve_secretkey, own.secret_key);
}

void set_curve_client(zmq::socket_t& s, const ClientKeys& keys) {
    if (!keys.enabled()) return;
    s.set(zmq::sockopt::curve_serverkey, keys.server_public);
    s.set(zmq::sockopt::curve_publickey, keys.own.public_key);
    s.set(zmq::sockopt::curve_secretkey, keys.own.secret_key);
}

HandshakeWatch::HandshakeWatch(zmq::context_t& ctx, zmq::socket_t& s, bool curve)
    : watched_(&s), pair_(ctx, zmq::socket_type::pair), curve_(curve) {
    static std::atomic<unsigned> n{0};
    endpoint_ = "inproc://loads-handshake-" + std::to_string(n++);
    const int events = ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_DISCONNECTED;
    if (zmq_socket_monitor(s.handle(), endpoint_.c_str(), events) != 0)
        throw std::runtime_error(std::string("cannot watch the broker connection: ") + zmq_strerror(zmq_errno()));
    pair_.set(zmq::sockopt::linger, 0);
    pair_.connect(endpoint_);
}

HandshakeWatch::~HandshakeWatch() {
    zmq_socket_monitor(watched_->handle(), nullptr, 0);
}

void HandshakeWatch::drain() {
    for (;;) {
        zmq::message_t head, addr;
        try {
            if (!pair_.recv(head, zmq::recv_flags::dontwait)) return;
            if (head.more()) (void)pair_.recv(addr, zmq::recv_flags::none);
        } catch (const zmq::error_t&) {
            return;
        }
        if (head.size() < 6) continue;
        std::uint16_t event = 0;
        std::uint32_t value = 0;
        std::memcpy(&event, head.data(), 2);
        std::memcpy(&value, static_cast<const char*>(head.data()) + 2, 4);
        // The most telling reason wins: a refusal of the key, then a
        // mechanism mismatch, then a broken handshake (a reconnection's
        // broken pipe must not hide the refusal that came first).
        auto say = [&](int rank, std::string why) {
            if (rank >= rank_) {
                rank_ = rank;
                failure_ = std::move(why);
            }
        };
        switch (event) {
            case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
                succeeded_ = true;
                failure_.clear();
                rank_ = 0;
                break;
            case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
                say(3, "the broker refused this peer's key (status " + std::to_string(value) +
                           "): its .pub file is not in the broker's allowed keys for this socket");
                break;
            case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
                if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
                    say(2, curve_ ? "the broker does not use CURVE (started without --curve-key): "
                                    "drop --curve-key/--broker-pub, or give the broker its key"
                                  : "the broker requires CURVE: give --curve-key (this peer's keypair) "
                                    "and --broker-pub (the broker's public key)");
                else
                    say(2, "the CURVE handshake with the broker failed (protocol error " + std::to_string(value) +
                               "): is --broker-pub the broker's public key?");
                break;
            case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
                say(1, curve_ ? "the CURVE handshake with the broker failed (" + std::string(zmq_strerror(int(value))) +
                                    "): is --broker-pub the public key of this broker, and does the broker use "
                                    "CURVE (--curve-key)?"
                              : "the handshake with the broker failed (" + std::string(zmq_strerror(int(value))) +
                                    "): the broker likely requires CURVE: give --curve-key (this peer's keypair) "
                                    "and --broker-pub (the broker's public key)");
                break;
            case ZMQ_EVENT_DISCONNECTED:
                if (!succeeded_ && curve_)
                    say(1, "the broker closed the connection during the CURVE handshake: "
                           "is --broker-pub the public key of this broker, and does the broker use CURVE "
                           "(--curve-key)?");
                break;
            default: break;
        }
    }
}

std::string HandshakeWatch::failure() {
    drain();
    return failure_;
}

bool HandshakeWatch::succeeded() {
    drain();
    return succeeded_;
}

}  // namespace loads::proto
