#include "io_error.hpp"

#include "loads/loads.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/websocket/error.hpp>

namespace loads {

namespace asio = boost::asio;
namespace http = boost::beast::http;

ErrorKind classify(const boost::system::error_code& ec, IoPhase phase, bool timed_out) {
    if (timed_out) return ErrorKind::timeout;
    if (ec.category() == asio::error::get_ssl_category() || ec == asio::ssl::error::stream_truncated)
        return ec == asio::ssl::error::stream_truncated && phase == IoPhase::read ? ErrorKind::reset
                                                                                  : ErrorKind::tls;
    switch (phase) {
        case IoPhase::connect:
            return ErrorKind::connect;
        case IoPhase::tls_handshake:
            return ErrorKind::tls;
        case IoPhase::ws_handshake:
            if (ec == asio::error::eof || ec == asio::error::connection_reset)
                return ErrorKind::reset;
            return ErrorKind::handshake;
        case IoPhase::write:
        case IoPhase::read:
            break;
    }
    if (ec == asio::error::eof || ec == asio::error::connection_reset ||
        ec == asio::error::broken_pipe || ec == asio::error::connection_aborted ||
        ec == http::error::end_of_stream || ec == http::error::partial_message)
        return ErrorKind::reset;
    if (ec.category() == http::make_error_code(http::error::bad_version).category())
        return ErrorKind::protocol;
    if (ec == boost::beast::websocket::error::closed) return ErrorKind::closed;
    return ErrorKind::other;
}

std::string describe(const boost::system::error_code& ec, IoPhase phase, bool timed_out) {
    const char* what = "";
    switch (phase) {
        case IoPhase::connect: what = "connect"; break;
        case IoPhase::tls_handshake: what = "TLS handshake"; break;
        case IoPhase::ws_handshake: what = "WebSocket handshake"; break;
        case IoPhase::write: what = "write"; break;
        case IoPhase::read: what = "read"; break;
    }
    if (timed_out) return std::string(what) + ": timed out";
    return std::string(what) + ": " + ec.message();
}

RequestError request_error(const boost::system::error_code& ec, IoPhase phase, bool timed_out,
                           std::string_view where) {
    std::string what = describe(ec, phase, timed_out);
    if (!where.empty()) {
        what += " (";
        what += where;
        what += ')';
    }
    return RequestError(classify(ec, phase, timed_out), what);
}

}  // namespace loads
