// The dashboard's server (dashboard/src/server.cpp) stopping with connections
// open: every connection's coroutine must finish, not be left suspended with
// its stack (under .ci/sanitize, LeakSanitizer reports any such stack at exit).
// Plain POSIX sockets on loopback as the peers.
#include "loads/dashboard/server.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>

using namespace std::chrono_literals;
using namespace loads;

namespace {

class Peer {
public:
    explicit Peer(const std::string& address) {
        const auto colon = address.rfind(':');
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1))));
        REQUIRE(::inet_pton(AF_INET, address.substr(0, colon).c_str(), &sa.sin_addr) == 1);
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd_ >= 0);
        REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0);
    }
    ~Peer() { ::close(fd_); }
    Peer(const Peer&) = delete;
    Peer& operator=(const Peer&) = delete;

    void send(const std::string& s) const { REQUIRE(::send(fd_, s.data(), s.size(), MSG_NOSIGNAL) == ssize_t(s.size())); }

    // Reads until `what` has arrived (true), or the peer closed or 10 s passed (false).
    bool read_until(const std::string& what) {
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (got_.find(what) == std::string::npos) {
            if (std::chrono::steady_clock::now() > deadline || read_some(100) <= 0) return false;
        }
        got_.erase(0, got_.find(what) + what.size());
        return true;
    }

    // True once the server has closed the connection (EOF or reset) within `timeout`.
    bool closed_within(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            const auto n = read_some(50);
            if (n == 0 || (n < 0 && errno != EAGAIN)) return true;
        }
        return false;
    }

private:
    // >0 bytes read, 0 EOF, -1 with errno (EAGAIN: nothing within `ms`).
    ssize_t read_some(int ms) {
        pollfd p{fd_, POLLIN, 0};
        const int r = ::poll(&p, 1, ms);
        if (r <= 0) {
            errno = r == 0 ? EAGAIN : errno;
            return -1;
        }
        char buf[4096];
        const auto n = ::recv(fd_, buf, sizeof buf, 0);
        if (n > 0) got_.append(buf, static_cast<std::size_t>(n));
        return n;
    }

    int fd_ = -1;
    std::string got_;
};

}  // namespace

TEST_CASE("stop() closes every connection and lets its coroutine finish") {
    dashboard::Board board;
    dashboard::Server server(board, "127.0.0.1:0");

    // One that never sends: its coroutine waits to read a request.
    Peer silent(server.address());
    // A WebSocket (a page): its coroutine waits to read a message.
    Peer page(server.address());
    page.send("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
    REQUIRE(page.read_until("HTTP/1.1 101"));
    REQUIRE(page.read_until("\"full\""));  // its first message: the whole state
    // A kept-alive HTTP connection between requests; its answer shows the
    // page counted (and, connections being accepted in order, the silent one
    // accepted).
    Peer http(server.address());
    http.send("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    REQUIRE(http.read_until("loads_dashboard_websocket_clients 1\n"));

    const auto t0 = std::chrono::steady_clock::now();
    server.stop();
    // The server gives its coroutines 5 s after closing their sockets before
    // it stops waiting (and leaks them): they must have ended long before.
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
    CHECK(silent.closed_within(2s));
    CHECK(page.closed_within(2s));
    CHECK(http.closed_within(2s));
    server.stop();  // a second stop does nothing
}
