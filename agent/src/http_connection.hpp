// The protocol seam of the HTTP client: one connection to one origin, behind
// an interface that HTTP/1.1 (http1_connection.cpp) and HTTP/2
// (http2_connection.cpp) implement. HttpSession (cookies, redirects, the
// counting of every request) and URL mode both go through it; nothing above
// it knows the wire format.
//
// A request is protocol-neutral: a method, a URL, header fields and a body.
// Each implementation turns it into its own bytes (HTTP/1.1 keeps the
// serialised form of a request marked `reusable`, as URL mode's is).
#pragma once

#include "loads/loads.hpp"
#include "url.hpp"
#include "user_io.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace boost::asio::ssl {
template <typename Stream>
class stream;
}

namespace loads {

// What is kept of a response; reused from one request to the next.
struct ResponseData {
    int status = 0;
    bool keep_headers = true;  // copy every header into `headers`
    bool keep_body = true;     // copy the body into `body`
    bool keep_cookies = true;  // collect Set-Cookie values
    Headers headers;
    std::string body;
    std::string location;                 // Location header, for redirects
    std::vector<std::string> set_cookies;  // raw Set-Cookie values

    void clear() {
        status = 0;
        headers.clear();
        body.clear();
        location.clear();
        set_cookies.clear();
    }
};

// One request. Host (HTTP/1.1) or :authority and :scheme (HTTP/2) come from
// `url`; `headers` has every other field (User-Agent, Accept, Cookie,
// Content-Length included), names and values free of line breaks.
struct HttpRequest {
    std::string_view method;
    const Url* url = nullptr;
    const Headers* headers = nullptr;
    std::string_view body;
    // The same request on every send, at the same address (URL mode): a
    // connection may keep what it made of it.
    bool reusable = false;

    bool head() const { return method == "HEAD"; }
};

// What one request on a connection came to.
struct Exchange {
    std::optional<RequestError> error;  // set when no response could be had
    std::uint64_t bytes_sent = 0;
    std::uint64_t bytes_read = 0;
    Clock::duration took{};  // from the start of the exchange to the response's end (or the error)
};

// One request of an exchange: what to send, where its response goes, and
// how it went.
struct Call {
    const HttpRequest* request = nullptr;
    ResponseData* out = nullptr;
    Exchange result;
    LabelStats* label = nullptr;  // where HttpSession counts it (null: the exchange's label)
};

// A connection to one origin (scheme, host, port), opened on first use and
// again after the peer closed it. Lives on its user's coroutine; cancel()
// (timeouts, stops) closes it.
class HttpConnection : public Cancellable {
public:
    ~HttpConnection() override = default;

    // Whether this connection serves `url`'s origin (no string built: this
    // runs for every request).
    virtual bool serves(const Url& url) const = 0;

    // Sends every call's request (all to this origin) and reads its
    // response into its `out`; fills each call's `result`. HTTP/1.1 sends
    // them one after the other, HTTP/2 all at once, one stream each.
    // `timeout` bounds the whole exchange.
    virtual void exchange(std::span<Call> calls, Clock::duration timeout) = 0;

    // The protocol the connection speaks now: "http/1.1" or "h2".
    virtual std::string_view protocol() const = 0;

    virtual void close() = 0;

    void cancel() override { close(); }
};

using TlsSocket = boost::asio::ssl::stream<asio::ip::tcp::socket>;

// HTTP/1.1 with keep-alive: http1_connection.cpp.
std::unique_ptr<HttpConnection> make_http1_connection(UserIo& io, const Url& url);
// The same on `connected`, a TLS connection already open to the origin
// (HTTP/2 hands over one whose server chose http/1.1 in ALPN).
std::unique_ptr<HttpConnection> adopt_http1_connection(UserIo& io, const Url& url,
                                                       std::unique_ptr<TlsSocket> connected);

// HTTP/2: http2_connection.cpp. Over http, prior knowledge (h2c); over https,
// ALPN "h2,http/1.1", falling back to HTTP/1.1 if the server picks it.
std::unique_ptr<HttpConnection> make_http2_connection(UserIo& io, const Url& url);

}  // namespace loads
