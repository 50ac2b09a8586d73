// The one translation unit with Beast's HTTP parser and Asio's TLS stream for
// HTTP (Beast is heavy to compile: keep it in few files).
#include "http_session.hpp"

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

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

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

// What one exchange on a connection came to.
struct Exchange {
    std::optional<RequestError> error;  // set when no response could be had
    std::uint64_t bytes_read = 0;
};

}  // namespace

// One keep-alive connection to one origin (scheme, host, port).
class HttpConnection final : public Cancellable {
public:
    HttpConnection(UserIo& io, const Url& url)
        : io_(io), origin_(url.origin()), host_(url.host), port_(url.port), secure_(url.secure()),
          registration_(io.worker(), this) {}

    ~HttpConnection() override { close(); }

    // Whether this connection serves `url`'s origin (no string built: this
    // runs for every request).
    bool serves(const Url& url) const { return port_ == url.port && secure_ == url.secure() && host_ == url.host; }

    void cancel() override { close(); }

    void close() {
        error_code ec;
        if (tls_) tls_->next_layer().close(ec);
        if (plain_) plain_->close(ec);
        connected_ = false;
        buffer_.clear();
    }

    // Sends `request` and reads the response into `out`.
    Exchange exchange(std::string_view request, ResponseData& out, bool head,
                      Clock::duration timeout) {
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
                x.error = RequestError(classify(ec, IoPhase::write, to), describe(ec, IoPhase::write, to));
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
                x.error = RequestError(classify(ec, IoPhase::read, to), describe(ec, IoPhase::read, to));
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

private:
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
            tls_.emplace(worker.io(), worker.tls());
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
            return RequestError(classify(failed->ec, failed->phase, to),
                                describe(failed->ec, failed->phase, to) + " (" + origin_ + ")");
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
    std::optional<ssl::stream<tcp::socket>> tls_;
    boost::beast::flat_buffer buffer_;
    Registration registration_;
};

// --- the session -------------------------------------------------------------

HttpSession::HttpSession(UserIo& io, const Url* base, bool follow_redirects)
    : io_(io), base_(base), follow_redirects_(follow_redirects) {}

HttpSession::~HttpSession() = default;

void HttpSession::close() {
    connections_.clear();
}

HttpConnection& HttpSession::connection_for(const Url& url) {
    for (auto& c : connections_)
        if (c->serves(url)) return *c;
    connections_.push_back(std::make_unique<HttpConnection>(io_, url));
    return *connections_.back();
}

void HttpSession::set_header(std::string_view name, std::string_view value) {
    for (auto& [k, v] : default_headers_)
        if (iequals(k, name)) {
            v = value;
            return;
        }
    default_headers_.emplace_back(name, value);
}

std::string HttpSession::cookie(std::string_view name) const {
    for (auto& [k, v] : cookies_)
        if (k == name) return v;
    return {};
}

void HttpSession::clear_cookies() { cookies_.clear(); }

void HttpSession::store_cookies(const ResponseData& r) {
    for (const auto& raw : r.set_cookies) {
        std::string_view s = raw;
        std::string_view pair = s.substr(0, s.find(';'));
        auto eq = pair.find('=');
        if (eq == std::string_view::npos || eq == 0) continue;
        std::string name(pair.substr(0, eq));
        std::string value(pair.substr(eq + 1));
        // Max-Age=0 (or negative) deletes the cookie.
        bool expired = false;
        for (std::size_t p = s.find(';'); p != std::string_view::npos; p = s.find(';', p + 1)) {
            std::string_view attr = s.substr(p + 1);
            while (!attr.empty() && attr.front() == ' ') attr.remove_prefix(1);
            if (attr.size() >= 8 && iequals(attr.substr(0, 8), "max-age=")) {
                std::string_view n = attr.substr(8, attr.find(';') == std::string_view::npos
                                                        ? std::string_view::npos
                                                        : attr.find(';') - 8);
                expired = !n.empty() && (n.front() == '-' || n == "0");
            }
        }
        auto it = std::find_if(cookies_.begin(), cookies_.end(),
                               [&](auto& c) { return c.first == name; });
        if (expired) {
            if (it != cookies_.end()) cookies_.erase(it);
        } else if (it != cookies_.end()) {
            it->second = std::move(value);
        } else {
            cookies_.emplace_back(std::move(name), std::move(value));
        }
    }
}

void HttpSession::serialize(std::string_view method, const Url& url, const RequestOptions& options,
                            std::string_view body) {
    auto check = [](std::string_view s, const char* what) {
        if (s.find_first_of("\r\n") != std::string_view::npos)
            throw std::invalid_argument(std::string(what) + " contains a line break");
    };
    check(method, "method");
    request_.clear();
    request_.append(method).append(" ").append(url.target).append(" HTTP/1.1\r\nHost: ");
    request_.append(url.host_header()).append("\r\n");
    bool has_ua = false, has_accept = false;
    auto add = [&](const std::string& k, const std::string& v) {
        check(k, "header name");
        check(v, "header value");
        has_ua |= iequals(k, "user-agent");
        has_accept |= iequals(k, "accept");
        request_.append(k).append(": ").append(v).append("\r\n");
    };
    for (auto& [k, v] : default_headers_) add(k, v);
    for (auto& [k, v] : options.headers) add(k, v);
    if (!has_ua) request_.append("User-Agent: loads/0.1\r\n");
    if (!has_accept) request_.append("Accept: */*\r\n");
    if (!cookies_.empty()) {
        request_.append("Cookie: ");
        for (std::size_t i = 0; i < cookies_.size(); ++i) {
            if (i) request_.append("; ");
            request_.append(cookies_[i].first).append("=").append(cookies_[i].second);
        }
        request_.append("\r\n");
    }
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
        char num[24];
        auto [end, ec] = std::to_chars(num, num + sizeof num, body.size());
        request_.append("Content-Length: ").append(num, end).append("\r\n");
    }
    request_.append("\r\n").append(body);
}

namespace {

// Counts one request that got a response.
void count_response(Stats& stats, LabelStats& label, const ResponseData& r, Clock::duration took,
                    std::size_t sent, std::uint64_t received) {
    auto ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(took).count());
    ++stats.requests;
    stats.bytes_sent += sent;
    stats.bytes_received += received;
    stats.count_status(static_cast<unsigned>(r.status));
    stats.latency.record(ns);
    ++label.count;
    if (r.status >= 500) ++label.errors;
    label.latency.record(ns);
}

// Counts one request that got no response. A timed-out one enters the
// latency histograms at the time it was given up, so the percentiles show it.
void count_no_response(Stats& stats, LabelStats& label, std::size_t sent, const RequestError& e,
                       Clock::duration took) {
    ++stats.request_errors;
    stats.bytes_sent += sent;
    ++label.count;
    ++label.errors;
    if (e.kind == ErrorKind::timeout) {
        auto ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(took).count());
        stats.latency.record(ns);
        label.latency.record(ns);
    }
}

bool is_redirect(int s) { return s == 301 || s == 302 || s == 303 || s == 307 || s == 308; }

}  // namespace

Clock::duration HttpSession::send_raw(const Url& url, std::string_view request_bytes, bool head,
                                      LabelStats& label, ResponseData& out,
                                      Clock::duration timeout) {
    auto t0 = Clock::now();
    auto x = connection_for(url).exchange(request_bytes, out, head, timeout);
    if (io_.stopping()) throw RequestError(ErrorKind::other, "stopped");
    if (x.error) {
        count_no_response(io_.stats(), label, request_bytes.size(), *x.error, Clock::now() - t0);
        throw *x.error;
    }
    auto took = Clock::now() - t0;
    count_response(io_.stats(), label, out, took, request_bytes.size(), x.bytes_read);
    return took;
}

Response HttpSession::request(std::string_view method, std::string_view url_text,
                              const RequestOptions& options) {
    Parsed<Url> url = base_ ? resolve_url(*base_, url_text) : parse_url(url_text);
    if (!url) throw std::invalid_argument(url.error);
    if (url.value.scheme != "http" && url.value.scheme != "https")
        throw std::invalid_argument("session requests take http(s) URLs, not " + url.value.str());

    bool follow = options.allow_redirects.value_or(follow_redirects_);
    std::string current_method(method);
    std::string_view body = options.body;
    auto timeout = options.timeout
                       ? std::chrono::duration_cast<Clock::duration>(*options.timeout)
                       : std::chrono::duration_cast<Clock::duration>(io_.options().timeout);

    Response result;
    for (unsigned hop = 0;; ++hop) {
        serialize(current_method, url.value, options, body);
        std::string name = options.name;
        if (name.empty()) name = current_method + " " + std::string(url.value.path());
        LabelStats& label = io_.stats().label(name);
        response_.keep_headers = response_.keep_body = response_.keep_cookies = true;
        auto took = send_raw(url.value, request_, current_method == "HEAD", label, response_, timeout);
        store_cookies(response_);
        if (follow && is_redirect(response_.status) && !response_.location.empty()) {
            if (hop >= io_.options().max_redirects)
                throw RequestError(ErrorKind::protocol, "too many redirects (more than " +
                                                            std::to_string(io_.options().max_redirects) +
                                                            ") from " + url.value.str());
            auto next = resolve_url(url.value, response_.location);
            if (!next) throw RequestError(ErrorKind::protocol, "bad redirect: " + next.error);
            if (response_.status == 303 ||
                ((response_.status == 301 || response_.status == 302) && current_method != "GET" &&
                 current_method != "HEAD")) {
                current_method = "GET";
                body = {};
            }
            url.value = std::move(next.value);
            continue;
        }
        result.status_ = response_.status;
        result.body_ = std::move(response_.body);
        result.headers_ = std::move(response_.headers);
        result.elapsed_ = std::chrono::duration_cast<std::chrono::nanoseconds>(took);
        result.url_ = url.value.str();
        if (result.status_ >= 500) {
            result.unchecked_5xx_ = &unchecked_5xx;
            ++unchecked_5xx;
        }
        return result;
    }
}

}  // namespace loads
