// HTTP/1.1 behind the HttpConnection seam: one keep-alive connection, a
// request serialised by hand into a reusable string (kept as is for a
// request marked reusable, as URL mode's is), responses parsed in one pass
// by parse_simple_response (http_simple.hpp) when they are the common kind,
// by Beast's basic_parser otherwise. The one translation unit with Beast's
// HTTP parser (Beast is heavy to compile: keep it in few files).
#include "http_connection.hpp"

#include "connect.hpp"
#include "http_simple.hpp"
#include "io_error.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/read_size.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>

#include <charconv>
#include <optional>

namespace loads {

namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

// Beast's parser, feeding a ResponseData instead of a message object.
class ResponseParser final : public http::basic_parser<false> {
public:
    explicit ResponseParser(ResponseData& out) : out_(out) {}

private:
    using sv = boost::beast::string_view;
    void on_request_impl(http::verb, sv, sv, int, error_code&) override {}
    void on_response_impl(int code, sv, int, error_code&) override { out_.status = code; }
    void on_field_impl(http::field name, sv name_string, sv value, error_code&) override {
        if (out_.keep_headers) out_.headers.emplace_back(std::string(name_string), std::string(value));
        if (name == http::field::location) out_.location.assign(value.data(), value.size());
        else if (name == http::field::set_cookie && out_.keep_cookies)
            out_.set_cookies.emplace_back(value.data(), value.size());
    }
    void on_header_impl(error_code&) override {}
    void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
        if (out_.keep_body && length && *length <= (16u << 20)) out_.body.reserve(*length);
    }
    std::size_t on_body_impl(sv body, error_code&) override {
        if (out_.keep_body) out_.body.append(body.data(), body.size());
        return body.size();
    }
    void on_chunk_header_impl(std::uint64_t, sv, error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, sv body, error_code&) override {
        if (out_.keep_body) out_.body.append(body.data(), body.size());
        return body.size();
    }
    void on_finish_impl(error_code&) override {}

    ResponseData& out_;
};

constexpr std::size_t kMaxReadBuffer = 64 * 1024;

// Beast's parser for one response, made only if the simple parser declines
// it (or it answers a HEAD): most responses never need it.
class LazyParser {
public:
    LazyParser(ResponseData& out, std::uint64_t max_body, bool head)
        : out_(out), max_body_(max_body), head_(head) {}

    ResponseParser& get() {
        if (!parser_) {
            parser_.emplace(out_);
            parser_->body_limit(max_body_);
            parser_->header_limit(64 * 1024);
            parser_->eager(true);
            if (head_) parser_->skip(true);
        }
        return *parser_;
    }
    bool got_some() const { return parser_ && parser_->got_some(); }

private:
    ResponseData& out_;
    std::uint64_t max_body_;
    bool head_;
    std::optional<ResponseParser> parser_;
};

// One keep-alive HTTP/1.1 connection to one origin (scheme, host, port).
class Http1Connection final : public HttpConnection {
public:
    Http1Connection(UserIo& io, const Url& url, std::unique_ptr<TlsSocket> connected)
        : io_(io), origin_(url.origin()), host_(url.host), port_(url.port), secure_(url.secure()),
          tls_(std::move(connected)), registration_(io.worker(), this) {
        connected_ = tls_ != nullptr;
    }

    ~Http1Connection() override { close(); }

    bool serves(const Url& url) const override {
        return port_ == url.port && secure_ == url.secure() && host_ == url.host;
    }

    std::string_view protocol() const override { return "http/1.1"; }

    void close() override {
        error_code ec;
        if (tls_) tls_->next_layer().close(ec);
        if (plain_) plain_->close(ec);
        connected_ = false;
        buffer_.clear();
    }

    // One request after the other: HTTP/1.1 has one in flight per connection.
    void exchange(std::span<Call> calls, Clock::duration timeout) override {
        const auto t0 = Clock::now();
        for (auto& call : calls) {
            const auto start = Clock::now();
            const HttpRequest& r = *call.request;
            std::string_view bytes = serialize(r);
            call.result = exchange_one(bytes, *call.out, r.head(), timeout - (start - t0));
            call.result.bytes_sent = bytes.size();
            call.result.took = Clock::now() - start;  // each request's own time
        }
    }

private:
    // The request's bytes: made once for a reusable request, each time
    // otherwise, in the same buffer.
    std::string_view serialize(const HttpRequest& r) {
        if (r.reusable && cached_ == &r) return wire_;
        cached_ = r.reusable ? &r : nullptr;
        wire_.clear();
        wire_.append(r.method).append(" ").append(r.url->target).append(" HTTP/1.1\r\nHost: ");
        wire_.append(r.url->host_header()).append("\r\n");
        for (const auto& [k, v] : *r.headers) wire_.append(k).append(": ").append(v).append("\r\n");
        wire_.append("\r\n").append(r.body);
        return wire_;
    }

    // Sends `request` and reads the response into `out`.
    Exchange exchange_one(std::string_view request, ResponseData& out, bool head, Clock::duration timeout) {
        const auto& opts = io_.options();
        for (int attempt = 0;; ++attempt) {
            // A connection the server closed while idle fails on first use;
            // like every HTTP client, retry once on a fresh one.
            bool reused = connected_;
            Exchange x;
            if (!connected_) {
                if (auto err = connect()) {
                    x.error = std::move(err);
                    return x;
                }
            }
            arm(timeout);
            error_code ec;
            auto& y = io_.yield();
            if (tls_) write_all(*tls_, request, y, ec);
            else write_all(*plain_, request, y, ec);
            if (ec) {
                disarm();
                bool to = timed_out();
                close();
                if (reused && attempt == 0 && !to && !io_.stopping()) continue;
                x.error = request_error(ec, IoPhase::write, to);
                return x;
            }
            out.clear();
            LazyParser parser(out, opts.max_body, head);
            std::size_t n = 0;
            bool keep_alive = true;
            if (tls_) n = read_response(*tls_, parser, out, head, keep_alive, y, ec);
            else n = read_response(*plain_, parser, out, head, keep_alive, y, ec);
            disarm();
            x.bytes_read = n;
            if (ec) {
                bool to = timed_out();
                bool nothing = !parser.got_some() && buffer_.size() == 0;
                close();
                if (reused && attempt == 0 && nothing && !to && !io_.stopping() &&
                    classify(ec, IoPhase::read, false) == ErrorKind::reset)
                    continue;
                x.error = request_error(ec, IoPhase::read, to);
                return x;
            }
            // Beast reads max(512, spare capacity) bytes at a time and the
            // parser consumes the body as it arrives, so the buffer never
            // grows by itself: a 16 KiB body took 32 reads. Size it once to
            // what this connection's responses need (up to 64 KiB), so a
            // response takes one or two reads and no allocation after.
            if (n > buffer_.capacity() && buffer_.capacity() < kMaxReadBuffer)
                buffer_.reserve(std::min(n, kMaxReadBuffer));
            if (!keep_alive) close();
            return x;
        }
    }

    // http::async_read's loop, written out: Beast's version stacks three
    // composed operations (each tracking work on a type-erased executor) on
    // every read, about 1,000 instructions per request. Same results: the
    // bytes the parser consumed, end_of_stream when the peer closed before
    // a byte of the response, put_eof's verdict when it closed within one.
    // The common response goes through parse_simple_response (http_simple.hpp)
    // while it fits the read buffer; Beast's parser takes everything else.
    template <class Stream>
    std::size_t read_response(Stream& stream, LazyParser& lazy, ResponseData& out, bool head,
                              bool& keep_alive, asio::yield_context& y, error_code& ec) {
        bool simple = !head;
        std::size_t used_total = 0;
        for (;;) {
            if (buffer_.size() > 0 && simple) {
                auto bytes = buffer_.data();
                auto r = parse_simple_response({static_cast<const char*>(bytes.data()), bytes.size()}, out,
                                               io_.options().max_body);
                if (r.result == SimpleResponse::done) {
                    buffer_.consume(r.size);
                    keep_alive = r.keep_alive;
                    return r.size;
                }
                // Declined, or too big to wait for in the buffer: Beast's parser
                // takes this response from its first byte.
                simple = r.result == SimpleResponse::need_more && buffer_.size() < kMaxReadBuffer;
            }
            if (buffer_.size() > 0 && !simple) {
                ResponseParser& parser = lazy.get();
                std::size_t used = parser.put(buffer_.data(), ec);
                buffer_.consume(used);
                used_total += used;
                if (!ec) {
                    if (parser.is_done()) {
                        keep_alive = parser.keep_alive();
                        return used_total;
                    }
                    if (used > 0) continue;  // the header is done; the body may already be here
                } else if (ec == http::error::need_more) {
                    ec = {};
                } else {
                    return used_total;
                }
            }
            if (!read_more(stream, lazy, used_total, y, ec)) {
                keep_alive = false;
                return used_total;
            }
        }
    }

    // What asio::async_write does, without its composed operation around
    // each write (~200 instructions a request): a request nearly always
    // goes in one write_some.
    template <class Stream>
    static void write_all(Stream& stream, std::string_view bytes, asio::yield_context& y, error_code& ec) {
        while (!bytes.empty()) {
            std::size_t n = stream.async_write_some(asio::buffer(bytes), y[ec]);
            if (ec) return;
            bytes.remove_prefix(n);
        }
    }

    // One read into the buffer. False when the response ends here: an error,
    // or the peer's close (then put_eof completes a body delimited by the
    // close, or says what is missing; end_of_stream if nothing came at all).
    template <class Stream>
    bool read_more(Stream& stream, LazyParser& lazy, std::size_t& used_total, asio::yield_context& y,
                   error_code& ec) {
        std::size_t want = boost::beast::read_size(buffer_, kMaxReadBuffer);
        if (want == 0) {
            ec = http::error::buffer_overflow;
            return false;
        }
        std::size_t got = stream.async_read_some(buffer_.prepare(want), y[ec]);
        if (ec == asio::error::eof) {
            if (!lazy.got_some() && buffer_.size() == 0) {
                ec = http::error::end_of_stream;
                return false;
            }
            ec = {};
            // Bytes the simple parser was still waiting on go to Beast first.
            ResponseParser& parser = lazy.get();
            if (buffer_.size() > 0) {
                std::size_t used = parser.put(buffer_.data(), ec);
                buffer_.consume(used);
                used_total += used;
                if (ec == http::error::need_more) ec = {};
                if (ec) return false;
            }
            parser.put_eof(ec);
            return false;
        }
        if (ec) return false;
        buffer_.commit(got);
        return true;
    }

    std::optional<RequestError> connect() {
        const auto& opts = io_.options();
        auto& worker = io_.worker();
        const auto& endpoints = worker.resolve(host_, port_);
        buffer_.clear();
        tcp::socket* sock;
        if (secure_) {
            tls_ = std::make_unique<TlsSocket>(worker.io(), worker.tls());
            sock = &tls_->next_layer();
        } else {
            plain_.emplace(worker.io());
            sock = &*plain_;
        }
        arm(opts.connect_timeout);  // bounds the connect and the TLS handshake together
        auto failed = tcp_connect(*sock, endpoints, io_.yield());
        if (!failed && secure_) failed = tls_handshake(*tls_, host_, opts.insecure, io_.yield());
        disarm();
        if (failed) {
            bool to = timed_out();
            close();
            return connect_error(*failed, to, origin_);
        }
        connected_ = true;
        return std::nullopt;
    }

    UserIo& io_;
    std::string origin_;
    std::string host_;
    std::uint16_t port_;
    bool secure_;
    bool connected_ = false;
    std::optional<tcp::socket> plain_;
    std::unique_ptr<TlsSocket> tls_;
    boost::beast::flat_buffer buffer_;
    std::string wire_;                   // the request's bytes
    const HttpRequest* cached_ = nullptr;  // the reusable request wire_ holds
    Registration registration_;
};

}  // namespace

std::unique_ptr<HttpConnection> make_http1_connection(UserIo& io, const Url& url) {
    return std::make_unique<Http1Connection>(io, url, nullptr);
}

std::unique_ptr<HttpConnection> adopt_http1_connection(UserIo& io, const Url& url,
                                                       std::unique_ptr<TlsSocket> connected) {
    return std::make_unique<Http1Connection>(io, url, std::move(connected));
}

}  // namespace loads
