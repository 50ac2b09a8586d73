// The WebSocket and raw TCP clients a test gets from create_ws() and
// tcp_connect(). Both count into the worker's statistics and obey the
// run's timeouts and stops.
#pragma once

#include "url.hpp"
#include "user_io.hpp"

#include "loads/loads.hpp"

#include <memory>

namespace loads {

// Connects (TCP, TLS for wss, WebSocket handshake) and returns the socket.
// Throws RequestError(connect/tls/handshake/timeout) when it cannot.
std::unique_ptr<WebSocket> open_websocket(UserIo& io, const Url& url, WsOptions options,
                                          std::size_t reader_stack);

// Connects to host:port (TLS when asked). Throws RequestError when it cannot.
std::unique_ptr<TcpStream> open_tcp_stream(UserIo& io, const std::string& host, std::uint16_t port,
                                           TcpOptions options);

}  // namespace loads
