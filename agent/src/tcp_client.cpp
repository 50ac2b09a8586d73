// Raw TCP streams for tests: send, recv_until, recv_exactly, recv_some.
#include "connect.hpp"
#include "io_error.hpp"
#include "socket_clients.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include <optional>

namespace loads {
namespace {

using tcp = asio::ip::tcp;
namespace ssl = asio::ssl;
using boost::system::error_code;

constexpr std::size_t kMaxPending = 16u << 20;  // recv_until gives up past this (protocol error)

class TcpClient final : public TcpStream, public Cancellable {
public:
    TcpClient(UserIo& io, std::string host, std::uint16_t port, TcpOptions options)
        : io_(io), host_(std::move(host)), port_(port), options_(options), registration_(io.worker(), this) {
        timeout_ = options_.timeout ? std::chrono::duration_cast<Clock::duration>(*options_.timeout)
                                    : std::chrono::duration_cast<Clock::duration>(io_.options().timeout);
    }
    ~TcpClient() override { close(); }

    void cancel() override {
        error_code ec;
        socket().close(ec);
    }

    void connect() {
        const auto& eps = io_.worker().resolve(host_, port_);
        if (options_.tls) tls_.emplace(io_.worker().io(), io_.worker().tls());
        else plain_.emplace(io_.worker().io());
        arm(std::chrono::duration_cast<Clock::duration>(io_.options().connect_timeout));
        auto failed = tcp_connect(socket(), eps, io_.yield());
        if (!failed && tls_) failed = tls_handshake(*tls_, host_, io_.options().insecure, io_.yield());
        disarm();
        if (failed) fail(failed->ec, failed->phase);
        open_ = true;
        ++io_.stats().tcp_opened;
    }

    void send(std::string_view bytes) override {
        ensure_open();
        error_code ec;
        arm(timeout_);
        if (tls_) asio::async_write(*tls_, asio::buffer(bytes), io_.yield()[ec]);
        else asio::async_write(*plain_, asio::buffer(bytes), io_.yield()[ec]);
        disarm();
        if (ec) fail(ec, IoPhase::write);
        io_.stats().tcp_bytes_sent += bytes.size();
    }

    std::string recv_until(std::string_view delimiter) override {
        if (delimiter.empty()) throw std::invalid_argument("recv_until: empty delimiter");
        std::size_t scanned = 0;
        for (;;) {
            auto pos = pending_.find(delimiter, scanned);
            if (pos != std::string::npos) return take(pos + delimiter.size());
            scanned = pending_.size() >= delimiter.size() ? pending_.size() - delimiter.size() + 1 : 0;
            if (pending_.size() > kMaxPending)
                throw RequestError(ErrorKind::protocol, "recv_until: no delimiter in 16 MiB");
            if (!read_more()) throw RequestError(ErrorKind::closed, "connection closed by peer before the delimiter");
        }
    }

    std::string recv_exactly(std::size_t n) override {
        while (pending_.size() < n)
            if (!read_more()) throw RequestError(ErrorKind::closed, "connection closed by peer before " +
                                                                        std::to_string(n) + " bytes");
        return take(n);
    }

    std::string recv_some() override {
        if (pending_.empty() && !read_more()) return {};
        return take(pending_.size());
    }

    void close() override {
        if (!open_) return;
        open_ = false;
        ++io_.stats().tcp_closed;
        error_code ec;
        socket().shutdown(tcp::socket::shutdown_both, ec);
        socket().close(ec);
    }

private:
    tcp::socket& socket() { return tls_ ? tls_->next_layer() : *plain_; }

    void ensure_open() {
        if (!open_) throw RequestError(ErrorKind::closed, "TCP stream is closed");
    }

    [[noreturn]] void fail(const error_code& ec, IoPhase phase) {
        bool to = timed_out();
        if (open_) {
            open_ = false;
            ++io_.stats().tcp_closed;
        }
        cancel();
        RequestError error = request_error(ec, phase, to, "tcp://" + host_ + ":" + std::to_string(port_));
        if (error.kind == ErrorKind::reset && phase == IoPhase::read) error.kind = ErrorKind::closed;
        throw error;
    }

    // Reads what is available into pending_. False when the peer closed.
    bool read_more() {
        ensure_open();
        char buf[16384];
        error_code ec;
        arm(timeout_);
        std::size_t n = tls_ ? tls_->async_read_some(asio::buffer(buf), io_.yield()[ec])
                             : plain_->async_read_some(asio::buffer(buf), io_.yield()[ec]);
        disarm();
        if (ec == asio::error::eof || (tls_ && ec == ssl::error::stream_truncated)) {
            close();
            return false;
        }
        if (ec) fail(ec, IoPhase::read);
        pending_.append(buf, n);
        io_.stats().tcp_bytes_received += n;
        return true;
    }

    std::string take(std::size_t n) {
        std::string out = pending_.substr(0, n);
        pending_.erase(0, n);
        return out;
    }

    UserIo& io_;
    std::string host_;
    std::uint16_t port_;
    TcpOptions options_;
    Clock::duration timeout_;
    std::optional<tcp::socket> plain_;
    std::optional<ssl::stream<tcp::socket>> tls_;
    std::string pending_;  // received, not yet returned
    bool open_ = false;
    Registration registration_;
};

}  // namespace

std::unique_ptr<TcpStream> open_tcp_stream(UserIo& io, const std::string& host, std::uint16_t port,
                                           TcpOptions options) {
    auto c = std::make_unique<TcpClient>(io, host, port, options);
    c->connect();
    return c;
}

}  // namespace loads
