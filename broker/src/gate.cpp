#include "gate.hpp"

#include "loads/log.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace loads::broker {

namespace {

auto log() {
    static auto l = get_logger("broker");
    return l;
}

// "tcp://HOST:PORT" -> a socket address; false for anything else (ipc://,
// an interface name), which is then bound by ZeroMQ itself.
bool tcp_address(const std::string& endpoint, sockaddr_storage& out, socklen_t& len) {
    if (endpoint.rfind("tcp://", 0) != 0) return false;
    const auto colon = endpoint.rfind(':');
    if (colon == std::string::npos || colon < 6) return false;
    std::string host = endpoint.substr(6, colon - 6);
    const std::string port = endpoint.substr(colon + 1);
    if (port.empty()) return false;
    std::uint16_t p = 0;
    if (port != "*") {
        if (port.find_first_not_of("0123456789") != std::string::npos || port.size() > 5) return false;
        const unsigned long n = std::stoul(port);
        if (n > 65535) return false;
        p = static_cast<std::uint16_t>(n);
    }
    std::memset(&out, 0, sizeof out);
    if (host == "*" || host == "0.0.0.0") host = "0.0.0.0";
    if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(p);
        len = sizeof(sockaddr_in);
        return true;
    }
    if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(p);
        len = sizeof(sockaddr_in6);
        return true;
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* res = nullptr;
    if (getaddrinfo(host.c_str(), "0", &hints, &res) != 0 || !res) return false;
    std::memcpy(&out, res->ai_addr, res->ai_addrlen);
    len = res->ai_addrlen;
    freeaddrinfo(res);
    if (out.ss_family == AF_INET) v4->sin_port = htons(p);
    else if (out.ss_family == AF_INET6) v6->sin6_port = htons(p);
    else return false;
    return true;
}

// The first socket binds before it sets SO_REUSEPORT, so a port someone
// else holds is refused as ever (EADDRINUSE), and no one else joins it by
// accident; the sink sets it first, to join.
int reuseport_socket(const sockaddr_storage& addr, socklen_t len, int backlog, bool first) {
    const int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    const int one = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        (!first && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) ||
        ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0 ||
        (first && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) || ::listen(fd, backlog) != 0) {
        const int e = errno;
        ::close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

// The group's program: every new connection goes to socket `index` of the
// group (0: the first to listen, ZeroMQ's; 1: the sink).
bool steer(int fd, std::uint32_t index) {
    sock_filter code[] = {{BPF_RET | BPF_K, 0, 0, index}};
    sock_fprog prog{1, code};
    return ::setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) == 0;
}

}  // namespace

Gate::Gate(zmq::socket_t& socket, const std::string& endpoint, const char* what) {
    auto fail = [&](const std::string& why) {
        throw std::runtime_error(std::string("cannot bind the ") + what + " to " + endpoint + ": " + why);
    };
    sockaddr_storage addr{};
    socklen_t len = 0;
    if (!tcp_address(endpoint, addr, len)) {
        try {
            socket.bind(endpoint);
        } catch (const zmq::error_t& e) {
            fail(e.what());
        }
        bound_ = socket.get(zmq::sockopt::last_endpoint);
        return;
    }
    listener_ = reuseport_socket(addr, len, 100, true);  // ZeroMQ's default ZMQ_BACKLOG
    if (listener_ < 0) fail(std::strerror(errno));
    // Bound: the sink must join the same port (an ephemeral one now has a number).
    len = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
    const bool steered = steer(listener_, 0);
    try {
        socket.set(zmq::sockopt::use_fd, listener_);
        socket.bind(endpoint);
        socket.set(zmq::sockopt::use_fd, -1);
    } catch (const zmq::error_t& e) {
        ::close(listener_);
        fail(e.what());
    }
    bound_ = socket.get(zmq::sockopt::last_endpoint);
    if (steered) sink_ = reuseport_socket(addr, len, 64, false);
    if (sink_ >= 0) {
        ::fcntl(sink_, F_SETFL, ::fcntl(sink_, F_GETFL) | O_NONBLOCK);
        spare_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    } else log()->warn("{} {}: no SO_REUSEPORT steering here ({}); --max-connections cannot refuse new connections on it",
                     what, bound_, std::strerror(errno));
}

Gate::~Gate() {
    if (sink_ >= 0) ::close(sink_);
    if (spare_ >= 0) ::close(spare_);
}

void Gate::set_open(bool open) {
    if (sink_ < 0 || open == open_) return;
    if (!steer(sink_, open ? 0 : 1)) {
        log()->warn("{}: cannot steer new connections: {}", bound_, std::strerror(errno));
        return;
    }
    open_ = open;
    if (open) reset_waiting();  // those that came in while it was closed
}

int Gate::reset_waiting() {
    auto reset = [](int fd) {
        const linger now{1, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &now, sizeof now);
        ::close(fd);
    };
    int n = 0;
    for (; n < 1000; ++n) {
        int fd = ::accept4(sink_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0 && (errno == EMFILE || errno == ENFILE) && spare_ >= 0) {
            // Out of descriptors (ZeroMQ took connections past the cap
            // before the broker saw them): the spare is given up for this
            // accept and taken back after the reset.
            ::close(spare_);
            fd = ::accept4(sink_, nullptr, nullptr, SOCK_CLOEXEC);
            const int e = errno;
            if (fd >= 0) reset(fd);
            spare_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (fd >= 0) continue;
            errno = e;
        }
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) starved_until_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
            break;
        }
        reset(fd);
    }
    return n;
}

}  // namespace loads::broker
