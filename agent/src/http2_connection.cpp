// HTTP/2 behind the HttpConnection seam, with libnghttp2 (the library h2load
// is built on) for framing, HPACK, flow control and the connection's rules.
// This file owns the socket and drives the nghttp2 session in memory mode
// from the user's coroutine: submit every request of the exchange (one
// stream each), then write what the session wants sent and feed it what the
// socket reads until every stream is closed.
//
// Over http the connection starts with the client preface (prior knowledge,
// h2c); over https it offers ALPN "h2,http/1.1" and, when the server picks
// http/1.1 (or nothing), hands the open TLS connection to HTTP/1.1.
//
// SETTINGS_ENABLE_PUSH is 0, so a PUSH_PROMISE is a connection error
// (nghttp2 answers it with GOAWAY PROTOCOL_ERROR); windows are large (1 GiB
// for the connection, 16 MiB per stream) and nghttp2 sends WINDOW_UPDATE as
// the data is consumed. A stream closed by RST_STREAM REFUSED_STREAM, or
// above a GOAWAY's last stream id, is an `h2-refused` error; another
// RST_STREAM is `h2-reset`; a frame nghttp2 rejects is `h2-protocol`.
#include "http_connection.hpp"

#include "connect.hpp"
#include "io_error.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>

#include <nghttp2/nghttp2.h>

#include <array>
#include <cstring>
#include <optional>

namespace loads {

namespace {

using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr std::size_t kReadBuffer = 64 * 1024;
constexpr std::int32_t kStreamWindow = 16 << 20;
constexpr std::int32_t kConnectionWindow = (1 << 30) - 1;

bool is_connection_specific(std::string_view lower) {
    return lower == "connection" || lower == "keep-alive" || lower == "proxy-connection" ||
           lower == "transfer-encoding" || lower == "upgrade" || lower == "host" || lower == "te";
}

nghttp2_nv make_nv(std::string_view name, std::string_view value, std::uint8_t flags) {
    return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
            reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(), flags};
}

// A request's header block: pseudo-headers, then the fields with lower-case
// names (HTTP/2 requires them) and without HTTP/1.1's connection fields.
// `no_copy`: nghttp2 reads the block where it is instead of copying it, which
// holds only while the block and the request stay as they are until the
// HEADERS frame is sent (a reusable request, the only one of its exchange).
class HeaderBlock {
public:
    void build(const HttpRequest& r, bool no_copy) {
        const std::uint8_t f = no_copy ? NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE
                                       : NGHTTP2_NV_FLAG_NONE;
        names_.clear();
        const Url& u = *r.url;
        authority_ = u.host_header();
        std::size_t total = 0;
        for (const auto& [k, v] : *r.headers) total += k.size();
        names_.reserve(total);
        std::vector<std::pair<std::size_t, std::size_t>> spans;  // offset, size of each kept name
        std::vector<const std::string*> values;
        for (const auto& [k, v] : *r.headers) {
            std::size_t at = names_.size();
            for (char c : k) names_.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
            if (is_connection_specific(std::string_view(names_).substr(at))) {
                names_.resize(at);
                continue;
            }
            spans.emplace_back(at, k.size());
            values.push_back(&v);
        }
        nva_.clear();
        nva_.push_back(make_nv(":method", r.method, f));
        nva_.push_back(make_nv(":scheme", u.secure() ? "https" : "http", f));
        nva_.push_back(make_nv(":authority", authority_, f));
        nva_.push_back(make_nv(":path", u.target, f));
        for (std::size_t i = 0; i < spans.size(); ++i)
            nva_.push_back(
                make_nv(std::string_view(names_).substr(spans[i].first, spans[i].second), *values[i], f));
        no_copy_ = no_copy;
    }
    bool no_copy() const { return no_copy_; }
    const nghttp2_nv* data() const { return nva_.data(); }
    std::size_t size() const { return nva_.size(); }

private:
    std::string names_;
    std::string authority_;
    std::vector<nghttp2_nv> nva_;
    bool no_copy_ = false;
};

// One stream of the exchange in progress.
struct Stream {
    Call* call = nullptr;
    std::size_t body_sent = 0;  // bytes of the request body handed to nghttp2
    std::uint64_t body_read = 0;
    bool closed = false;
    std::optional<RequestError> error;
    Clock::time_point end;
};

class Http2Connection final : public HttpConnection {
public:
    Http2Connection(UserIo& io, const Url& url)
        : io_(io), url_(url), origin_(url.origin()), registration_(io.worker(), this) {}

    ~Http2Connection() override {
        close();
        if (session_) nghttp2_session_del(session_);
    }

    bool serves(const Url& url) const override {
        return url_.port == url.port && url_.secure() == url.secure() && url_.host == url.host;
    }

    std::string_view protocol() const override { return fallback_ ? fallback_->protocol() : "h2"; }

    void close() override {
        error_code ec;
        if (tls_) tls_->next_layer().close(ec);
        if (plain_) plain_->close(ec);
        if (fallback_) fallback_->close();
        connected_ = false;
    }

    void exchange(std::span<Call> calls, Clock::duration timeout) override {
        if (fallback_) return fallback_->exchange(calls, timeout);
        const auto t0 = Clock::now();
        for (int attempt = 0;; ++attempt) {
            // A connection the server closed (or said GOAWAY on) while idle
            // fails on first use: retry once on a fresh one, as HTTP/1.1 does.
            bool reused = connected_;
            if (!usable()) {
                if (auto err = connect(t0)) {
                    for (auto& c : calls) fail_call(c, *err, t0);
                    return;
                }
                if (fallback_) return fallback_->exchange(calls, timeout);
            }
            bool answered = run_streams(calls, t0, timeout);
            bool retry = reused && attempt == 0 && !answered && !io_.stopping();
            if (!retry) return;
            for (auto& c : calls) {
                if (!c.result.error || timed_out()) return;
                if (c.result.error->kind != ErrorKind::reset && c.result.error->kind != ErrorKind::h2_refused) return;
            }
            close();
        }
    }

private:
    static void fail_call(Call& c, const RequestError& e, Clock::time_point t0) {
        c.result = Exchange{};
        c.result.error = e;
        c.result.took = Clock::now() - t0;
    }

    bool usable() const {
        return connected_ && session_ && !goaway_ && nghttp2_session_want_read(session_) &&
               nghttp2_session_check_request_allowed(session_);
    }

    // Submits every call and runs the session until all their streams are
    // closed. Returns whether any stream got a response header.
    bool run_streams(std::span<Call> calls, Clock::time_point t0, Clock::duration timeout) {
        streams_.assign(calls.size(), Stream{});
        pending_ = 0;
        bytes_sent_ = bytes_read_ = 0;
        const HttpRequest* built = nullptr;
        // One reusable request for every call (URL mode): its block is built
        // once per connection and handed to nghttp2 without a copy.
        bool shared = calls.front().request->reusable;
        for (const auto& c : calls) shared &= c.request == calls.front().request;
        for (std::size_t i = 0; i < calls.size(); ++i) {
            Call& c = calls[i];
            c.result = Exchange{};
            c.out->clear();
            streams_[i].call = &c;
            const HttpRequest& r = *c.request;
            if (built != &r && !(shared && cached_ == &r && block_.no_copy())) block_.build(r, shared);
            built = &r;
            cached_ = shared ? &r : nullptr;
            nghttp2_data_provider body{};
            body.source.ptr = &streams_[i];
            body.read_callback = &Http2Connection::read_body;
            int32_t id = nghttp2_submit_request(session_, nullptr, block_.data(), block_.size(),
                                                r.body.empty() ? nullptr : &body, &streams_[i]);
            if (id < 0) {
                streams_[i].closed = true;
                streams_[i].error = RequestError(id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE ? ErrorKind::h2_refused
                                                                                           : ErrorKind::h2_protocol,
                                                 std::string("HTTP/2 request not submitted: ") + nghttp2_strerror(id));
                streams_[i].end = Clock::now();
                continue;
            }
            ++pending_;
        }
        arm(timeout - (Clock::now() - t0));
        auto failure = pump();
        disarm();
        bool answered = false;
        for (auto& s : streams_) {
            Exchange& x = s.call->result;
            answered |= s.call->out->status >= 200;
            if (!s.closed) {
                s.error = failure;
                s.end = Clock::now();
            }
            if (s.error) x.error = std::move(s.error);
            x.took = s.end - t0;
        }
        // The exchange's bytes, on its first request: the sum is true.
        calls.front().result.bytes_sent = bytes_sent_;
        calls.front().result.bytes_read = bytes_read_;
        if (failure) close();
        return answered;
    }

    // Writes and reads until no stream of the exchange is open. Returns the
    // error that ended it early, if any.
    std::optional<RequestError> pump() {
        auto& y = io_.yield();
        error_code ec;
        while (true) {
            if (auto err = flush(y)) return err;
            if (pending_ == 0) return std::nullopt;
            if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_))
                return ended_error();
            std::size_t n = tls_ ? tls_->async_read_some(asio::buffer(read_buf_), y[ec])
                                 : plain_->async_read_some(asio::buffer(read_buf_), y[ec]);
            if (ec) {
                bool to = timed_out();
                if (ec == asio::error::eof && !to) return ended_error();
                return request_error(ec, IoPhase::read, to);
            }
            bytes_read_ += n;
            auto rv = nghttp2_session_mem_recv(session_, read_buf_.data(), n);
            if (rv < 0)
                return RequestError(ErrorKind::h2_protocol,
                                    std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(rv)));
        }
    }

    // What ends streams left open when the connection is over: the GOAWAY
    // either side sent, or the server's close.
    RequestError ended_error() const {
        if (local_goaway_ && local_goaway_ != NGHTTP2_NO_ERROR)
            return RequestError(ErrorKind::h2_protocol, std::string("HTTP/2 connection error sent to the server: ") +
                                                            nghttp2_http2_strerror(local_goaway_));
        if (goaway_)
            return RequestError(goaway_code_ == NGHTTP2_NO_ERROR ? ErrorKind::reset : ErrorKind::h2_protocol,
                                std::string("HTTP/2 GOAWAY from the server (") + nghttp2_http2_strerror(goaway_code_) +
                                    ") before the response");
        return RequestError(ErrorKind::reset, "HTTP/2 connection closed by the server before the response");
    }

    std::optional<RequestError> flush(asio::yield_context& y) {
        out_.clear();
        for (;;) {
            const std::uint8_t* data = nullptr;
            auto n = nghttp2_session_mem_send(session_, &data);
            if (n < 0)
                return RequestError(ErrorKind::h2_protocol,
                                    std::string("HTTP/2: ") + nghttp2_strerror(static_cast<int>(n)));
            if (n == 0) break;
            out_.append(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
        }
        std::string_view bytes = out_;
        error_code ec;
        // A plain socket takes the frames in a non-blocking write first: no
        // completion to post and no suspension when they fit its buffer.
        if (!tls_ && !bytes.empty()) {
            if (!plain_->non_blocking()) plain_->non_blocking(true, ec);
            std::size_t n = ec ? 0 : plain_->write_some(asio::buffer(bytes.data(), bytes.size()), ec);
            if (ec && ec != asio::error::would_block && ec != asio::error::try_again)
                return request_error(ec, IoPhase::write, timed_out());
            ec = {};
            bytes_sent_ += n;
            bytes.remove_prefix(n);
        }
        while (!bytes.empty()) {
            std::size_t n = tls_ ? tls_->async_write_some(asio::buffer(bytes.data(), bytes.size()), y[ec])
                                 : plain_->async_write_some(asio::buffer(bytes.data(), bytes.size()), y[ec]);
            if (ec) {
                bool to = timed_out();
                return request_error(ec, IoPhase::write, to);
            }
            bytes_sent_ += n;
            bytes.remove_prefix(n);
        }
        return std::nullopt;
    }

    // --- connecting ----------------------------------------------------------

    std::optional<RequestError> connect(Clock::time_point) {
        const auto& opts = io_.options();
        auto& worker = io_.worker();
        const auto& endpoints = worker.resolve(url_.host, url_.port);
        close();
        tcp::socket* sock;
        if (url_.secure()) {
            plain_.reset();
            tls_ = std::make_unique<TlsSocket>(worker.io(), worker.tls());
            static constexpr unsigned char alpn[] = "\x02h2\x08http/1.1";
            SSL_set_alpn_protos(tls_->native_handle(), alpn, sizeof alpn - 1);
            sock = &tls_->next_layer();
        } else {
            tls_.reset();
            plain_.emplace(worker.io());
            sock = &*plain_;
        }
        arm(opts.connect_timeout);  // bounds the connect and the TLS handshake together
        auto failed = tcp_connect(*sock, endpoints, io_.yield());
        if (!failed && tls_) failed = tls_handshake(*tls_, url_.host, opts.insecure, io_.yield());
        disarm();
        if (failed) {
            bool to = timed_out();
            close();
            return connect_error(*failed, to, origin_);
        }
        if (tls_ && !alpn_h2()) {
            fallback_ = adopt_http1_connection(io_, url_, std::move(tls_));
            return std::nullopt;
        }
        connected_ = true;
        return start_session();
    }

    bool alpn_h2() const {
        const unsigned char* p = nullptr;
        unsigned len = 0;
        SSL_get0_alpn_selected(tls_->native_handle(), &p, &len);
        return len == 2 && std::memcmp(p, "h2", 2) == 0;
    }

    std::optional<RequestError> start_session() {
        if (session_) nghttp2_session_del(session_);
        session_ = nullptr;
        goaway_ = false;
        goaway_code_ = 0;
        local_goaway_ = 0;
        cached_ = nullptr;
        nghttp2_session_callbacks* cbs = nullptr;
        nghttp2_session_callbacks_new(&cbs);
        nghttp2_session_callbacks_set_on_header_callback(cbs, &Http2Connection::on_header);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, &Http2Connection::on_data);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, &Http2Connection::on_close);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &Http2Connection::on_frame_recv);
        nghttp2_session_callbacks_set_on_frame_send_callback(cbs, &Http2Connection::on_frame_send);
        int rv = nghttp2_session_client_new(&session_, cbs, this);
        nghttp2_session_callbacks_del(cbs);
        if (rv != 0) return RequestError(ErrorKind::other, std::string("nghttp2: ") + nghttp2_strerror(rv));
        const nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
                                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow}};
        nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
        nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
        return std::nullopt;
    }

    // --- nghttp2's callbacks -------------------------------------------------

    static Http2Connection& self(void* p) { return *static_cast<Http2Connection*>(p); }

    Stream* stream(int32_t id) { return static_cast<Stream*>(nghttp2_session_get_stream_user_data(session_, id)); }

    static ssize_t read_body(nghttp2_session*, int32_t, std::uint8_t* buf, std::size_t length,
                             std::uint32_t* flags, nghttp2_data_source* source, void*) {
        auto* s = static_cast<Stream*>(source->ptr);
        std::string_view body = s->call->request->body.substr(s->body_sent);
        std::size_t n = std::min(length, body.size());
        std::memcpy(buf, body.data(), n);
        s->body_sent += n;
        if (s->body_sent == s->call->request->body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
        return static_cast<ssize_t>(n);
    }

    static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                         const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* user) {
        if (frame->hd.type != NGHTTP2_HEADERS) return 0;
        Stream* s = self(user).stream(frame->hd.stream_id);
        if (!s) return 0;
        std::string_view n(reinterpret_cast<const char*>(name), namelen);
        std::string_view v(reinterpret_cast<const char*>(value), valuelen);
        ResponseData& out = *s->call->out;
        if (n == ":status") {
            int status = 0;
            for (char c : v) status = status * 10 + (c - '0');  // nghttp2 checked: 3 digits
            out.status = status;  // a 1xx is replaced by the final status
            return 0;
        }
        if (out.status < 200) return 0;  // a 1xx's fields are not the response's
        if (out.keep_headers) out.headers.emplace_back(std::string(n), std::string(v));
        if (n == "location") out.location.assign(v);
        else if (n == "set-cookie" && out.keep_cookies) out.set_cookies.emplace_back(v);
        return 0;
    }

    static int on_data(nghttp2_session* session, std::uint8_t, int32_t id, const std::uint8_t* data, std::size_t len,
                       void* user) {
        Http2Connection& c = self(user);
        Stream* s = c.stream(id);
        if (!s || s->error) return 0;
        s->body_read += len;
        if (s->body_read > c.io_.options().max_body) {
            s->error = RequestError(ErrorKind::protocol, "response body larger than " +
                                                             std::to_string(c.io_.options().max_body) + " bytes");
            nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
            return 0;
        }
        ResponseData& out = *s->call->out;
        if (out.keep_body) out.body.append(reinterpret_cast<const char*>(data), len);
        return 0;
    }

    static int on_close(nghttp2_session*, int32_t id, std::uint32_t code, void* user) {
        Http2Connection& c = self(user);
        Stream* s = c.stream(id);
        if (!s || s->closed) return 0;
        s->closed = true;
        s->end = Clock::now();
        --c.pending_;
        if (s->error) return 0;
        if (code == NGHTTP2_REFUSED_STREAM)
            s->error = RequestError(ErrorKind::h2_refused, "HTTP/2 stream refused by the server");
        else if (code == NGHTTP2_PROTOCOL_ERROR)
            s->error = RequestError(ErrorKind::h2_protocol, "HTTP/2 stream closed: PROTOCOL_ERROR");
        else if (code != NGHTTP2_NO_ERROR)
            s->error = RequestError(ErrorKind::h2_reset,
                                    std::string("HTTP/2 stream reset: ") + nghttp2_http2_strerror(code));
        else if (s->call->out->status < 200)
            s->error = RequestError(ErrorKind::h2_protocol, "HTTP/2 stream closed without a response");
        return 0;
    }

    static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
        if (frame->hd.type == NGHTTP2_GOAWAY) {
            Http2Connection& c = self(user);
            c.goaway_ = true;
            c.goaway_code_ = frame->goaway.error_code;
        }
        return 0;
    }

    static int on_frame_send(nghttp2_session*, const nghttp2_frame* frame, void* user) {
        if (frame->hd.type == NGHTTP2_GOAWAY) self(user).local_goaway_ = frame->goaway.error_code;
        return 0;
    }

    UserIo& io_;
    Url url_;
    std::string origin_;
    bool connected_ = false;
    std::optional<tcp::socket> plain_;
    std::unique_ptr<TlsSocket> tls_;
    std::unique_ptr<HttpConnection> fallback_;  // HTTP/1.1, when ALPN chose it
    nghttp2_session* session_ = nullptr;
    bool goaway_ = false;
    std::uint32_t goaway_code_ = 0;
    std::uint32_t local_goaway_ = 0;
    std::vector<Stream> streams_;
    std::size_t pending_ = 0;
    std::uint64_t bytes_sent_ = 0, bytes_read_ = 0;
    HeaderBlock block_;
    const HttpRequest* cached_ = nullptr;  // the reusable request block_ holds
    std::string out_;
    std::array<std::uint8_t, kReadBuffer> read_buf_{};
    Registration registration_;
};

}  // namespace

std::unique_ptr<HttpConnection> make_http2_connection(UserIo& io, const Url& url) {
    return std::make_unique<Http2Connection>(io, url);
}

}  // namespace loads
