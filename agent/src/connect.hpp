// Opening a user's connection, in one place for HTTP, WebSocket and raw TCP:
// the TCP connect to the endpoints the worker resolved, TCP_NODELAY, and for
// TLS the SNI host name and the handshake with host-name verification (unless
// the run is --insecure). The caller arms its own watchdog around these and
// turns a failure into a RequestError with connect_error().
#pragma once

#include "io_error.hpp"

#include "loads/loads.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/ssl.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <optional>
#include <string>
#include <string_view>

namespace loads {

struct ConnectFailure {
    boost::system::error_code ec;
    IoPhase phase;
};

// What a user sees of a failed connect or TLS handshake: the error kind
// (a timeout if the caller's watchdog fired) and "connect: Connection
// refused (where)", where is the origin or URL the user asked for.
inline RequestError connect_error(const ConnectFailure& failure, bool timed_out, std::string_view where) {
    return request_error(failure.ec, failure.phase, timed_out, where);
}

// Connects `socket` to the first endpoint that answers.
template <class Endpoints>
std::optional<ConnectFailure> tcp_connect(boost::asio::ip::tcp::socket& socket, const Endpoints& endpoints,
                                          const boost::asio::yield_context& yield) {
    boost::system::error_code ec;
    boost::asio::async_connect(socket, endpoints, yield[ec]);
    if (ec) return ConnectFailure{ec, IoPhase::connect};
    socket.set_option(boost::asio::ip::tcp::no_delay(true), ec);  // a failure here costs speed, not correctness
    return std::nullopt;
}

// The client side of a TLS handshake with `host`: SNI for a host name (an
// address literal is not sent, RFC 6066 section 3), the certificate checked
// against `host` unless `insecure`. `Stream` is an asio::ssl::stream of any
// next layer.
template <class Stream>
std::optional<ConnectFailure> tls_handshake(Stream& tls, const std::string& host, bool insecure,
                                            const boost::asio::yield_context& yield) {
    boost::system::error_code ec;
    boost::asio::ip::make_address(host, ec);
    const bool literal = !ec;
    if (!literal && !SSL_set_tlsext_host_name(tls.native_handle(), host.c_str())) {
        const auto err = ::ERR_get_error();
        ec = err ? boost::system::error_code(static_cast<int>(err), boost::asio::error::get_ssl_category())
                 : make_error_code(boost::asio::error::invalid_argument);
        return ConnectFailure{ec, IoPhase::tls_handshake};
    }
    if (!insecure) tls.set_verify_callback(boost::asio::ssl::host_name_verification(host));
    ec.clear();
    tls.async_handshake(boost::asio::ssl::stream_base::client, yield[ec]);
    if (ec) return ConnectFailure{ec, IoPhase::tls_handshake};
    return std::nullopt;
}

}  // namespace loads
