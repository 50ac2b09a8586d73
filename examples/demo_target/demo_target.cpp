// loads-demo-target: a small server on loopback for the README, the tests
// and the examples. It speaks HTTP/1.1 (keep-alive), WebSocket (an echo and a
// broadcast room that can be relayed between several instances) and a raw
// TCP question/answer protocol (the FunkLoad chapter's Launcelot).
//
//   loads-demo-target [--host 127.0.0.1] [--http-port 8080] [--tcp-port 8081]
//                     [--no-tcp] [--threads 1] [--peer ws://HOST:PORT ...]
//
// It prints `listening http HOST:PORT`, `listening tcp HOST:PORT`, then
// `ready` once every --peer relay is connected; tests wait for that line.
//
// HTTP:  /  /echo  /status/NNN  /delay?ms=N  /bytes/N  /redirect/N
//        /cookies/set?k=v  /cookies  /headers  GET /dist?...
//        GET /stats  GET /stats/dist  POST /stats/reset
// Shop:  POST /login  POST /logout  GET /products[/SKU]  POST /cart
//        POST /checkout  GET /stats/shop   (a JSON API: shop.hpp)
// WS:    /ws (and /echo) echo   /ws?close=N closes after N echoes
//        /room: every message goes to every member, on every relayed node
// TCP:   questions end with '?', answers end with '.'
//
// GET /stats is what the target itself saw; the tests compare it with what
// loads reports: http_requests (every request but the four below), http_root
// (those of /), http_redirects (the 302s of /redirect/N). /stats, /stats/dist,
// /stats/shop and /stats/reset are not counted.
//
// GET /dist draws a delay from a stated distribution, waits it on a timer
// (the thread serves others meanwhile), then answers 200 with the drawn delay:
//   /dist?kind=exp&mean_ms=5&min_ms=1          min + exponential of that mean
//   /dist?kind=uniform&min_ms=2&max_ms=10      uniform in [min, max]
//   /dist?kind=lognormal&median_ms=4&sigma=0.5&min_ms=1
//                                              min + median * e^(sigma * N(0,1))
// Values are milliseconds and may have decimals; min_ms defaults to 0, sigma
// to 0.5, and max_ms (required for uniform) caps the other two; no delay
// exceeds one hour. Unknown kinds or bad values get a 400 at once.
// For every /dist response (400s too), the target records the handling time
// it measured itself: steady_clock, from the request parsed to the response
// being written (handed to the socket), in whole microseconds, rounded down.
// The client sent the request before the first instant and reads the response
// after the second, so its latency for the same request can only be longer:
// this is the truth a client's figures are compared with. The record is made
// before the response goes out, so it is there once the client has its
// response. GET /stats/dist returns the records as a JSON array, in the order
// they were made; POST /stats/reset clears them with the counts. A /dist
// request counts in /stats like any other request.
#include "shop.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/context/fixedsize_stack.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <functional>
#include <iostream>
#include <limits>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::size_t kMaxWsMessage = 64u << 20;
constexpr std::size_t kMaxBytes = 64u << 20;  // /bytes/N limit
constexpr double kMaxDelayMs = 3'600'000;     // /dist limit: one hour

struct Stats {
    std::atomic<std::uint64_t> http_requests{0}, http_root{0}, http_redirects{0}, http_connections{0},
        ws_connections{0}, ws_messages_received{0}, ws_bytes_received{0}, ws_messages_sent{0},
        tcp_connections{0}, tcp_questions{0};

    void reset() {
        for (auto* c : {&http_requests, &http_root, &http_redirects, &http_connections, &ws_connections,
                        &ws_messages_received, &ws_bytes_received, &ws_messages_sent, &tcp_connections,
                        &tcp_questions})
            c->store(0);
    }
};

Stats g_stats;

// The handling times of the /dist responses, in microseconds.
class DistRecords {
public:
    void add(std::chrono::steady_clock::duration d) {
        const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
        std::lock_guard lock(mu_);
        us_.push_back(static_cast<std::uint64_t>(std::max<std::int64_t>(us, 0)));
    }
    void reset() {
        std::lock_guard lock(mu_);
        us_.clear();
    }
    std::string json() {
        std::vector<std::uint64_t> copy;
        {
            std::lock_guard lock(mu_);
            copy = us_;
        }
        std::string out = "[";
        out.reserve(copy.size() * 7 + 3);
        for (std::size_t i = 0; i < copy.size(); ++i) {
            if (i) out += ',';
            out += std::to_string(copy[i]);
        }
        return out + "]\n";
    }

private:
    std::mutex mu_;
    std::vector<std::uint64_t> us_;
};

DistRecords g_dist;

// Spawns a coroutine whose exceptions are logged, never swallowed silently
// and never fatal: a peer can not bring the target down.
template <class Executor, class F>
void go(Executor ex, F&& f) {
    asio::spawn(
        ex, std::allocator_arg, boost::context::fixedsize_stack(256 * 1024), std::forward<F>(f),
        [](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                std::fprintf(stderr, "demo-target: connection ended: %s\n", x.what());
            }
        });
}

// --- the room -----------------------------------------------------------------

struct Message {
    std::string data;
    bool binary = false;
};
using MessagePtr = std::shared_ptr<const Message>;

// One WebSocket that receives room traffic: a member, an incoming relay from
// another node, or our outgoing relay to a --peer. Writes are queued and go
// out one at a time on the socket's strand.
class RoomSocket : public std::enable_shared_from_this<RoomSocket> {
public:
    enum class Kind { member, relay_in, relay_out };

    using Stream = websocket::stream<beast::tcp_stream>;
    template <class Arg>
    RoomSocket(Arg&& a, Kind kind) : ws_(std::forward<Arg>(a)), kind_(kind) {}
    Kind kind() const { return kind_; }
    // The socket outlives its reading coroutine while a write is in flight:
    // write handlers hold the RoomSocket.
    Stream& ws() { return ws_; }

    void deliver(MessagePtr m) {
        asio::post(ws_.get_executor(), [self = shared_from_this(), m = std::move(m)] {
            if (self->closed_) return;
            self->queue_.push_back(std::move(m));
            self->pump();
        });
    }
    // Called on the strand once the handshake is done: queued messages go out.
    void open() {
        open_ = true;
        pump();
    }
    void close() { closed_ = true; }

private:
    void pump() {
        if (!open_ || writing_ || closed_ || queue_.empty()) return;
        writing_ = true;
        const Message& m = *queue_.front();
        ws_.binary(m.binary);
        ws_.async_write(asio::buffer(m.data), [self = shared_from_this()](error_code ec, std::size_t) {
            self->writing_ = false;
            if (ec) {
                self->closed_ = true;
                self->queue_.clear();
                return;
            }
            if (self->kind_ == Kind::member) ++g_stats.ws_messages_sent;
            self->queue_.pop_front();
            self->pump();
        });
    }

    Stream ws_;
    Kind kind_;
    std::deque<MessagePtr> queue_;
    bool open_ = false, writing_ = false, closed_ = false;
};

class Room {
public:
    void join(const std::shared_ptr<RoomSocket>& s) {
        std::lock_guard lock(mu_);
        sockets_.insert(s);
    }
    void leave(const std::shared_ptr<RoomSocket>& s) {
        std::lock_guard lock(mu_);
        sockets_.erase(s);
    }
    std::size_t members() {
        std::lock_guard lock(mu_);
        return std::count_if(sockets_.begin(), sockets_.end(),
                             [](auto& s) { return s->kind() == RoomSocket::Kind::member; });
    }
    // A member's message goes to every member here and to every other node;
    // a message from another node goes to the members here only, so relays
    // never loop.
    void broadcast(const MessagePtr& m, RoomSocket::Kind from) {
        std::lock_guard lock(mu_);
        for (auto& s : sockets_)
            if (s->kind() == RoomSocket::Kind::member || from == RoomSocket::Kind::member) s->deliver(m);
    }

private:
    std::mutex mu_;
    std::set<std::shared_ptr<RoomSocket>> sockets_;
};

Room g_room;

// --- helpers --------------------------------------------------------------------

std::string query_param(std::string_view target, std::string_view key) {
    auto q = target.find('?');
    if (q == std::string_view::npos) return {};
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
        auto amp = rest.find('&');
        std::string_view kv = rest.substr(0, amp);
        auto eq = kv.find('=');
        if (kv.substr(0, eq) == key) return eq == std::string_view::npos ? std::string{} : std::string(kv.substr(eq + 1));
        rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
    }
    return {};
}

template <class T>
bool parse_number(std::string_view s, T& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc{} && p == s.data() + s.size();
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

// Draws the delay a /dist target asks for; false (and why) for a bad request.
bool draw_delay(std::string_view target, std::chrono::nanoseconds& delay, std::string& why) {
    // A value in ms: absent gives dflt (NaN when the parameter is required).
    auto ms = [&](const char* key, double dflt, double& out) {
        const std::string s = query_param(target, key);
        if (s.empty()) {
            out = dflt;
            if (std::isnan(dflt)) why = std::string(key) + " is required\n";
            return !std::isnan(dflt);
        }
        if (!parse_number(s, out) || !std::isfinite(out) || out < 0 || out > kMaxDelayMs) {
            why = std::string(key) + " must be a number of ms in 0..3600000\n";
            return false;
        }
        return true;
    };
    constexpr double required = std::numeric_limits<double>::quiet_NaN();
    thread_local std::mt19937_64 rng{std::random_device{}()};
    const std::string kind = query_param(target, "kind");
    double min_ms = 0, max_ms = kMaxDelayMs, drawn = 0;
    if (!ms("min_ms", 0, min_ms)) return false;
    if (kind == "uniform") {
        if (!ms("max_ms", required, max_ms)) return false;
        if (max_ms < min_ms) {
            why = "max_ms must be >= min_ms\n";
            return false;
        }
        drawn = std::uniform_real_distribution<double>(min_ms, max_ms)(rng);
    } else if (kind == "exp") {
        double mean = 0;
        if (!ms("mean_ms", required, mean) || !ms("max_ms", kMaxDelayMs, max_ms)) return false;
        drawn = min_ms + (mean > 0 ? std::exponential_distribution<double>(1.0 / mean)(rng) : 0.0);
    } else if (kind == "lognormal") {
        double median = 0, sigma = 0.5;
        if (!ms("median_ms", required, median) || !ms("max_ms", kMaxDelayMs, max_ms)) return false;
        if (auto s = query_param(target, "sigma");
            !s.empty() && (!parse_number(s, sigma) || !std::isfinite(sigma) || sigma < 0 || sigma > 10)) {
            why = "sigma must be a number in 0..10\n";
            return false;
        }
        if (median > 0)
            drawn = min_ms + (sigma > 0 ? std::lognormal_distribution<double>(std::log(median), sigma)(rng)
                                        : median);
        else
            drawn = min_ms;
    } else {
        why = "kind must be exp, uniform or lognormal\n";
        return false;
    }
    drawn = std::clamp(drawn, min_ms, std::max(min_ms, max_ms));
    delay = std::chrono::nanoseconds(std::llround(drawn * 1e6));
    return true;
}

std::string stats_json() {
    auto& s = g_stats;
    std::string out = "{";
    auto field = [&](const char* name, std::uint64_t v) {
        if (out.size() > 1) out += ", ";
        out += '"';
        out += name;
        out += "\": ";
        out += std::to_string(v);
    };
    field("http_requests", s.http_requests);
    field("http_root", s.http_root);
    field("http_redirects", s.http_redirects);
    field("http_connections", s.http_connections);
    field("ws_connections", s.ws_connections);
    field("ws_messages_received", s.ws_messages_received);
    field("ws_bytes_received", s.ws_bytes_received);
    field("ws_messages_sent", s.ws_messages_sent);
    field("tcp_connections", s.tcp_connections);
    field("tcp_questions", s.tcp_questions);
    field("room_members", g_room.members());
    return out + "}\n";
}

// --- WebSocket --------------------------------------------------------------------

// Reads a room socket until it ends, broadcasting what arrives.
void room_loop(const std::shared_ptr<RoomSocket>& me, asio::yield_context yield) {
    auto& ws = me->ws();
    beast::flat_buffer buf;
    for (;;) {
        error_code ec;
        ws.async_read(buf, yield[ec]);
        if (ec) break;
        if (me->kind() == RoomSocket::Kind::member) {
            ++g_stats.ws_messages_received;
            g_stats.ws_bytes_received += buf.size();
        }
        auto m = std::make_shared<Message>(Message{beast::buffers_to_string(buf.data()), !ws.got_text()});
        buf.consume(buf.size());
        g_room.broadcast(m, me->kind());
    }
    me->close();
    g_room.leave(me);
}

template <class Ws>
void configure(Ws& ws) {
    beast::get_lowest_layer(ws).expires_never();
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws.read_message_max(kMaxWsMessage);
}

void serve_websocket(beast::tcp_stream stream, http::request<http::string_body> req,
                     asio::yield_context yield) {
    const std::string_view target = req.target();
    const std::string_view path = path_of(target);
    error_code ec;

    if (path == "/room") {
        auto kind = query_param(target, "relay") == "1" ? RoomSocket::Kind::relay_in : RoomSocket::Kind::member;
        auto me = std::make_shared<RoomSocket>(std::move(stream), kind);
        auto& ws = me->ws();
        configure(ws);
        // Joined before the handshake completes: once the client sees the
        // 101 it can count on receiving every later message.
        g_room.join(me);
        ws.async_accept(req, yield[ec]);
        if (ec) {
            g_room.leave(me);
            return;
        }
        if (kind == RoomSocket::Kind::member) ++g_stats.ws_connections;
        me->open();
        room_loop(me, yield);
        return;
    }

    websocket::stream<beast::tcp_stream> ws(std::move(stream));
    configure(ws);

    // Echo, optionally closing after N messages.
    long close_after = -1;
    if (auto c = query_param(target, "close"); !c.empty() && !parse_number(c, close_after)) close_after = -1;
    ws.async_accept(req, yield[ec]);
    if (ec) return;
    ++g_stats.ws_connections;
    beast::flat_buffer buf;
    for (long n = 0;; ++n) {
        if (close_after >= 0 && n >= close_after) {
            ws.async_close(websocket::close_code::normal, yield[ec]);
            return;
        }
        ws.async_read(buf, yield[ec]);
        if (ec) return;
        ++g_stats.ws_messages_received;
        g_stats.ws_bytes_received += buf.size();
        ws.text(ws.got_text());
        ws.async_write(buf.data(), yield[ec]);
        if (ec) return;
        ++g_stats.ws_messages_sent;
        buf.consume(buf.size());
    }
}

// --- HTTP -------------------------------------------------------------------------

http::message_generator handle(http::request<http::string_body>& req, bool& counted) {
    const std::string_view target = req.target();
    const std::string_view path = path_of(target);
    counted = !(path == "/stats" || path == "/stats/reset" || path == "/stats/dist" || path == "/stats/shop");
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::server, "loads-demo-target");
    res.set(http::field::content_type, "text/plain");
    res.keep_alive(req.keep_alive());

    auto finish = [&](http::status s, std::string body) -> http::message_generator {
        res.result(s);
        res.body() = std::move(body);
        res.prepare_payload();
        return std::move(res);
    };

    if (path == "/") {
        ++g_stats.http_root;
        return finish(http::status::ok, "Hello from loads demo target\n");
    }
    if (path == "/echo") return finish(http::status::ok, req.body());
    if (path == "/stats" && req.method() == http::verb::get) {
        res.set(http::field::content_type, "application/json");
        return finish(http::status::ok, stats_json());
    }
    if (path == "/stats/dist" && req.method() == http::verb::get) {
        res.set(http::field::content_type, "application/json");
        return finish(http::status::ok, g_dist.json());
    }
    if (path == "/stats/reset" && req.method() == http::verb::post) {
        g_stats.reset();
        g_dist.reset();
        demo::shop_reset();
        return finish(http::status::ok, "reset\n");
    }
    if (path == "/stats/shop" && req.method() == http::verb::get) {
        res.set(http::field::content_type, "application/json");
        return finish(http::status::ok, demo::shop_stats_json());
    }
    if (auto shop = demo::shop_handle(std::string_view(req.method_string()), path,
                                      std::string_view(req[http::field::cookie]), req.body())) {
        res.set(http::field::content_type, "application/json");
        if (!shop->set_cookie.empty()) res.set(http::field::set_cookie, shop->set_cookie);
        res.result(shop->status);
        res.body() = std::move(shop->body);
        res.prepare_payload();
        return res;
    }
    if (path.starts_with("/status/")) {
        unsigned code = 0;
        if (!parse_number(path.substr(8), code) || code < 100 || code > 999)
            return finish(http::status::bad_request, "status must be 100..999\n");
        res.result(code);
        res.body() = "status " + std::to_string(code) + "\n";
        res.prepare_payload();
        return res;
    }
    if (path.starts_with("/bytes/")) {
        std::size_t n = 0;
        if (!parse_number(path.substr(7), n) || n > kMaxBytes)
            return finish(http::status::bad_request, "bytes must be 0..67108864\n");
        res.set(http::field::content_type, "application/octet-stream");
        return finish(http::status::ok, std::string(n, 'x'));
    }
    if (path.starts_with("/redirect/")) {
        unsigned n = 0;
        if (!parse_number(path.substr(10), n)) return finish(http::status::bad_request, "redirect count\n");
        // httpbin's semantics: /redirect/N redirects N times, then lands on /.
        if (n == 0) return finish(http::status::ok, "Hello from loads demo target\n");
        ++g_stats.http_redirects;
        res.set(http::field::location, n == 1 ? std::string("/") : "/redirect/" + std::to_string(n - 1));
        return finish(http::status::found, "");
    }
    if (path == "/cookies/set") {
        auto q = target.find('?');
        std::string_view rest = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
        while (!rest.empty()) {
            auto amp = rest.find('&');
            std::string_view kv = rest.substr(0, amp);
            if (!kv.empty()) res.insert(http::field::set_cookie, std::string(kv) + "; Path=/");
            rest = amp == std::string_view::npos ? std::string_view{} : rest.substr(amp + 1);
        }
        return finish(http::status::ok, "cookies set\n");
    }
    if (path == "/cookies") return finish(http::status::ok, std::string(req[http::field::cookie]));
    if (path == "/headers") {
        std::string body;
        for (auto& f : req) {
            body += f.name_string();
            body += ": ";
            body += f.value();
            body += '\n';
        }
        return finish(http::status::ok, std::move(body));
    }
    return finish(http::status::not_found, "not found\n");
}

// GET /dist: waits the drawn delay on a timer, then answers 200 (or 400 at
// once for a bad request).
template <class Executor>
http::message_generator serve_dist(const http::request<http::string_body>& req, Executor ex,
                                   asio::yield_context yield) {
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.set(http::field::server, "loads-demo-target");
    res.set(http::field::content_type, "text/plain");
    res.keep_alive(req.keep_alive());
    std::chrono::nanoseconds delay{};
    std::string why;
    if (!draw_delay(req.target(), delay, why)) {
        res.result(http::status::bad_request);
        res.body() = std::move(why);
    } else {
        asio::steady_timer t(ex, delay);
        error_code ec;
        t.async_wait(yield[ec]);
        res.body() = "waited " + std::to_string(delay.count() / 1000) + " us\n";
    }
    res.prepare_payload();
    return res;
}

void serve_http(tcp::socket sock, asio::yield_context yield) {
    ++g_stats.http_connections;
    beast::tcp_stream stream(std::move(sock));
    beast::flat_buffer buf;
    for (;;) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(kMaxBytes);
        error_code ec;
        stream.expires_after(std::chrono::minutes(5));
        http::async_read(stream, buf, parser, yield[ec]);
        if (ec) return;  // closed, timed out or malformed: the connection ends
        const auto parsed = std::chrono::steady_clock::now();
        auto req = parser.release();
        if (websocket::is_upgrade(req)) {
            auto path = path_of(req.target());
            if (path == "/ws" || path == "/echo" || path == "/room") {
                serve_websocket(std::move(stream), std::move(req), yield);
                return;
            }
        }
        const bool dist = path_of(req.target()) == "/dist";
        if (path_of(req.target()) == "/delay") {
            unsigned ms = 0;
            parse_number(query_param(req.target(), "ms"), ms);
            asio::steady_timer t(stream.get_executor(), std::chrono::milliseconds(std::min(ms, 3'600'000u)));
            t.async_wait(yield[ec]);
            req.target("/");
        }
        bool counted = true;
        auto res = dist ? serve_dist(req, stream.get_executor(), yield) : handle(req, counted);
        if (counted) ++g_stats.http_requests;
        const bool keep = req.keep_alive();
        // Timed as the response is handed to the socket, before the write: the
        // client cannot have it sooner, whereas the write's completion may
        // run well after the client has read it (on a busy machine, by ms).
        if (dist) g_dist.add(std::chrono::steady_clock::now() - parsed);
        beast::async_write(stream, std::move(res), yield[ec]);
        if (ec || !keep) break;
    }
    error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
}

// --- TCP question/answer ----------------------------------------------------------

std::string answer(std::string question) {
    std::transform(question.begin(), question.end(), question.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (question.find("name") != std::string::npos) return "My name is Sir Launcelot of Camelot.";
    if (question.find("quest") != std::string::npos) return "To seek the Holy Grail.";
    if (question.find("colo") != std::string::npos) return "Blue.";
    return "I do not know.";
}

void serve_tcp(tcp::socket sock, asio::yield_context yield) {
    ++g_stats.tcp_connections;
    std::string buf;
    for (;;) {
        error_code ec;
        auto n = asio::async_read_until(sock, asio::dynamic_buffer(buf, 1 << 20), '?', yield[ec]);
        if (ec) return;
        std::string q = buf.substr(0, n);
        buf.erase(0, n);
        ++g_stats.tcp_questions;
        asio::async_write(sock, asio::buffer(answer(std::move(q))), yield[ec]);
        if (ec) return;
    }
}

// --- listeners and relays -----------------------------------------------------------

template <class Serve>
void accept_loop(asio::io_context& io, tcp::acceptor& acceptor, Serve serve) {
    go(acceptor.get_executor(), [&io, &acceptor, serve](asio::yield_context yield) {
        for (;;) {
            error_code ec;
            tcp::socket s(asio::make_strand(io));
            acceptor.async_accept(s, yield[ec]);
            if (ec == asio::error::operation_aborted) return;
            if (ec) continue;  // e.g. out of descriptors: keep serving the others
            s.set_option(tcp::no_delay(true), ec);
            auto ex = s.get_executor();
            go(ex, [serve, s = std::move(s)](asio::yield_context y) mutable { serve(std::move(s), y); });
        }
    });
}

struct PeerUrl {
    std::string host, port;
};

bool parse_peer(std::string url, PeerUrl& out) {
    if (!url.starts_with("ws://")) return false;
    url = url.substr(5);
    url = url.substr(0, url.find('/'));
    auto colon = url.rfind(':');
    if (colon == std::string::npos) return false;
    out.host = url.substr(0, colon);
    out.port = url.substr(colon + 1);
    return !out.host.empty() && !out.port.empty();
}

// Connects to a --peer's room as a relay and keeps the connection up; the
// first connection is awaited before `ready`.
void relay_to(asio::io_context& io, PeerUrl peer, std::shared_ptr<std::atomic<int>> pending,
              std::function<void()> on_first) {
    auto strand = asio::make_strand(io);
    go(strand, [strand, peer, pending, on_first](asio::yield_context yield) {
        bool first = true;
        for (;;) {
            error_code ec;
            tcp::resolver resolver(strand);
            auto eps = resolver.async_resolve(peer.host, peer.port, yield[ec]);
            auto me = std::make_shared<RoomSocket>(strand, RoomSocket::Kind::relay_out);
            auto& ws = me->ws();
            if (!ec) beast::get_lowest_layer(ws).async_connect(eps, yield[ec]);
            if (!ec) {
                beast::get_lowest_layer(ws).expires_never();
                ws.read_message_max(kMaxWsMessage);
                ws.async_handshake(peer.host + ":" + peer.port, "/room?relay=1", yield[ec]);
            }
            if (ec) {
                std::fprintf(stderr, "demo-target: relay to %s:%s: %s (retrying)\n", peer.host.c_str(),
                             peer.port.c_str(), ec.message().c_str());
                asio::steady_timer t(strand, std::chrono::milliseconds(200));
                t.async_wait(yield[ec]);
                continue;
            }
            g_room.join(me);
            me->open();  // we are on the socket's strand
            if (first) {
                first = false;
                if (--*pending == 0) on_first();
            }
            room_loop(me, yield);
            std::fprintf(stderr, "demo-target: relay to %s:%s lost, reconnecting\n", peer.host.c_str(),
                         peer.port.c_str());
        }
    });
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"loads-demo-target: an HTTP, WebSocket and TCP server on loopback for trying loads"};
    std::string host = "127.0.0.1";
    unsigned short http_port = 8080, tcp_port = 8081;
    bool no_tcp = false;
    unsigned threads = 1;
    std::vector<std::string> peers;
    app.add_option("--host", host, "Address to listen on (loopback by default)");
    app.add_option("--http-port", http_port, "HTTP and WebSocket port (0: pick a free one)");
    app.add_option("--tcp-port", tcp_port, "TCP question/answer port (0: pick a free one)");
    app.add_flag("--no-tcp", no_tcp, "Do not serve the TCP question/answer protocol");
    app.add_option("--threads", threads, "Threads serving connections")->check(CLI::Range(1u, 256u));
    app.add_option("--peer", peers, "Another node's ws://HOST:PORT: room messages are relayed to it");
    CLI11_PARSE(app, argc, argv);

    std::vector<PeerUrl> peer_urls;
    for (auto& p : peers) {
        PeerUrl u;
        if (!parse_peer(p, u)) {
            std::fprintf(stderr, "loads-demo-target: --peer %s: expected ws://HOST:PORT\n", p.c_str());
            return 2;
        }
        peer_urls.push_back(u);
    }

    asio::io_context io;
    error_code ec;
    auto addr = asio::ip::make_address(host, ec);
    if (ec) {
        std::fprintf(stderr, "loads-demo-target: --host %s: %s\n", host.c_str(), ec.message().c_str());
        return 2;
    }
    auto listen = [&](unsigned short port, const char* what) -> std::unique_ptr<tcp::acceptor> {
        auto a = std::make_unique<tcp::acceptor>(io);
        tcp::endpoint ep(addr, port);
        error_code e;
        a->open(ep.protocol(), e);
        if (!e) a->set_option(tcp::acceptor::reuse_address(true), e);
        if (!e) a->bind(ep, e);
        if (!e) a->listen(asio::socket_base::max_listen_connections, e);
        if (e) {
            std::fprintf(stderr, "loads-demo-target: cannot listen for %s on %s:%u: %s\n", what, host.c_str(),
                         port, e.message().c_str());
            return nullptr;
        }
        auto local = a->local_endpoint();
        std::cout << "listening " << what << ' ' << local.address().to_string() << ':' << local.port() << '\n';
        return a;
    };
    auto http_acceptor = listen(http_port, "http");
    if (!http_acceptor) return 1;
    std::unique_ptr<tcp::acceptor> tcp_acceptor;
    if (!no_tcp) {
        tcp_acceptor = listen(tcp_port, "tcp");
        if (!tcp_acceptor) return 1;
    }
    std::cout.flush();

    accept_loop(io, *http_acceptor, [](tcp::socket s, asio::yield_context y) { serve_http(std::move(s), y); });
    if (tcp_acceptor)
        accept_loop(io, *tcp_acceptor, [](tcp::socket s, asio::yield_context y) { serve_tcp(std::move(s), y); });

    auto say_ready = [] { std::cout << "ready" << std::endl; };
    if (peer_urls.empty()) {
        say_ready();
    } else {
        auto pending = std::make_shared<std::atomic<int>>(static_cast<int>(peer_urls.size()));
        for (auto& p : peer_urls) relay_to(io, p, pending, say_ready);
    }

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](error_code, int) { io.stop(); });

    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&] { io.run(); });
    io.run();
    for (auto& t : pool) t.join();
    return 0;
}
