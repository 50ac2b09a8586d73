// The dashboard's HTTP and WebSocket server: the project's one Beast
// translation unit for it (Beast is heavy to compile).
//
//   GET /            the page           GET /dashboard.js, /dashboard.css, /uplot.js, /uplot.css
//   GET /metrics     Prometheus' text exposition format
//   GET /api/state   the whole state as JSON (what the page's first message holds)
//   GET /ws          WebSocket: {"type":"full",...} first, then {"type":"update",...}
//                    every push interval while something changes. A client may
//                    send "full" to get the whole state again.
#include "loads/dashboard/server.hpp"

#include "assets.hpp"

#include "loads/log.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/context/fixedsize_stack.hpp>

#include <deque>
#include <functional>
#include <future>
#include <set>
#include <stdexcept>
#include <thread>

namespace loads::dashboard {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::size_t kMaxQueued = 16;      // updates waiting for one browser
constexpr std::size_t kMaxClients = 256;    // WebSocket clients at once
constexpr std::size_t kMaxRequestBody = 8192;
constexpr auto kHttpTimeout = std::chrono::seconds(30);
// stop(): how long the connections' coroutines get to finish once their
// sockets are closed (they do at once; this bounds a bug, logged).
constexpr auto kStopGrace = std::chrono::seconds(5);

using Shared = std::shared_ptr<const std::string>;

std::pair<std::string, unsigned short> split_listen(const std::string& listen) {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos) throw std::runtime_error("--listen wants HOST:PORT, got '" + listen + "'");
    std::string host = listen.substr(0, colon);
    if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    unsigned long port = 0;
    try {
        std::size_t used = 0;
        port = std::stoul(listen.substr(colon + 1), &used);
        if (used != listen.size() - colon - 1) throw std::invalid_argument("port");
    } catch (const std::exception&) {
        throw std::runtime_error("--listen wants HOST:PORT, got '" + listen + "'");
    }
    if (port > 65535) throw std::runtime_error("--listen: port " + std::to_string(port) + " is out of range");
    if (host.empty()) host = "127.0.0.1";
    return {host, static_cast<unsigned short>(port)};
}

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
    struct Client : std::enable_shared_from_this<Client> {
        explicit Client(beast::tcp_stream s) : ws(std::move(s)) {}
        websocket::stream<beast::tcp_stream> ws;
        std::deque<Shared> queue;
        bool need_full = true;  // the next message is the whole state
        bool writing = false;
        bool closed = false;
    };

    Board& board;
    asio::io_context io{1};
    tcp::acceptor acceptor{io};
    asio::steady_timer ticker{io};
    std::chrono::milliseconds interval;
    std::set<std::shared_ptr<Client>> clients;
    // Every connection's stream (HTTP and WebSocket alike), for stop() to
    // close: a coroutine waiting on one then finishes.
    std::set<beast::tcp_stream*> streams;
    std::size_t coroutines = 0;       // spawned and not finished
    asio::steady_timer grace{io};     // stop(): bounds the wait for them
    std::thread thread;
    std::string bound;
    bool stopping = false;
    std::uint64_t resyncs = 0;  // queues dropped for slow clients

    Impl(Board& b, std::chrono::milliseconds i) : board(b), interval(i) {}

    // A coroutine of the server's, counted: stop() lets the io_context run
    // until every one has finished, so that none is left suspended (its
    // stack and what it holds, this Impl included, would never be freed).
    template <class F>
    void go(F&& f) {
        ++coroutines;
        asio::spawn(io, std::allocator_arg, boost::context::fixedsize_stack(256 * 1024), std::forward<F>(f),
                    [this](std::exception_ptr e) {
                        if (--coroutines == 0 && stopping) grace.cancel();
                        if (!e) return;
                        try {
                            std::rethrow_exception(e);
                        } catch (const std::exception& x) {
                            get_logger("dashboard")->warn("connection ended: {}", x.what());
                        }
                    });
    }

    // Registers a connection's stream for stop() while it lives.
    struct Tracked {
        Impl& impl;
        beast::tcp_stream* stream;
        Tracked(Impl& i, beast::tcp_stream& s) : impl(i), stream(&s) { impl.streams.insert(stream); }
        ~Tracked() { impl.streams.erase(stream); }
        Tracked(const Tracked&) = delete;
        Tracked& operator=(const Tracked&) = delete;
    };

    // On the server's thread: no new work; the acceptor, the ticker and every
    // connection closed, so that each coroutine's pending operation completes
    // (aborted) and the coroutine returns; io.run() then returns by itself,
    // out of work. If some coroutine were still waiting after kStopGrace, the
    // io_context is stopped anyway (and that coroutine leaked), logged.
    void shut() {
        stopping = true;
        error_code ec;
        acceptor.close(ec);
        ticker.cancel();
        for (auto& c : clients) {
            c->closed = true;
            c->queue.clear();
        }
        clients.clear();
        for (auto* s : streams) s->socket().close(ec);
        if (coroutines == 0) return;
        grace.expires_after(kStopGrace);
        grace.async_wait([this](error_code e) {
            if (e) return;  // every coroutine finished
            get_logger("dashboard")->error("server: {} connection(s) did not end on stop", coroutines);
            io.stop();
        });
    }

    void bind(const std::string& listen) {
        auto [host, port] = split_listen(listen);
        error_code ec;
        auto addr = asio::ip::make_address(host, ec);
        if (ec) throw std::runtime_error("--listen: '" + host + "' is not an IP address");
        tcp::endpoint ep(addr, port);
        acceptor.open(ep.protocol(), ec);
        if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec) acceptor.bind(ep, ec);
        if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
        if (ec) throw std::runtime_error("cannot listen on " + listen + ": " + ec.message());
        auto local = acceptor.local_endpoint();
        bound = (local.address().is_v6() ? "[" + local.address().to_string() + "]" : local.address().to_string()) +
                ":" + std::to_string(local.port());
    }

    void start() {
        auto self = shared_from_this();
        go([self](asio::yield_context yield) { self->accept_loop(yield); });
        tick();
        thread = std::thread([self] {
            for (;;) {
                try {
                    self->io.run();
                    return;
                } catch (const std::exception& e) {
                    get_logger("dashboard")->error("server: {}", e.what());
                }
            }
        });
    }

    void tick() {
        ticker.expires_after(interval);
        ticker.async_wait([this](error_code ec) {
            if (ec || stopping) return;
            push();
            tick();
        });
    }

    void push() {
        auto update = board.take_update();
        if (!update) return;
        auto msg = std::make_shared<const std::string>(std::move(*update));
        for (auto& c : clients) enqueue(c, msg);
    }

    void enqueue(const std::shared_ptr<Client>& c, const Shared& msg) {
        if (c->closed || c->need_full) {
            // A full state goes out next anyway, and it holds this update.
        } else if (c->queue.size() >= kMaxQueued) {
            // Too slow: forget what it has not read and send it the latest
            // whole state when its socket is writable again.
            c->queue.clear();
            c->need_full = true;
            ++resyncs;
        } else {
            c->queue.push_back(msg);
        }
        write_next(c);
    }

    void write_next(const std::shared_ptr<Client>& c) {
        if (c->writing || c->closed) return;
        Shared msg;
        if (c->need_full) {
            // Made now, on this thread: every update taken before is in it.
            msg = std::make_shared<const std::string>(board.full_json());
            c->queue.clear();
            c->need_full = false;
        } else if (!c->queue.empty()) {
            msg = std::move(c->queue.front());
            c->queue.pop_front();
        } else {
            return;
        }
        c->writing = true;
        c->ws.text(true);
        c->ws.async_write(asio::buffer(*msg), [this, c, msg](error_code ec, std::size_t) {
            c->writing = false;
            if (ec) {
                drop(c);
                return;
            }
            write_next(c);
        });
    }

    void drop(const std::shared_ptr<Client>& c) {
        c->closed = true;
        c->queue.clear();
        clients.erase(c);
    }

    void accept_loop(asio::yield_context yield) {
        for (;;) {
            error_code ec;
            tcp::socket s(io);
            acceptor.async_accept(s, yield[ec]);
            if (stopping || ec == asio::error::operation_aborted) return;
            if (ec) continue;  // a failed accept (fd limit...) is not fatal
            auto self = shared_from_this();
            go([self, sock = std::move(s)](asio::yield_context y) mutable {
                self->serve(beast::tcp_stream(std::move(sock)), y);
            });
        }
    }

    std::string own_metrics() const {
        return "# HELP loads_dashboard_websocket_clients Browsers connected to the page's WebSocket.\n"
               "# TYPE loads_dashboard_websocket_clients gauge\n"
               "loads_dashboard_websocket_clients " + std::to_string(clients.size()) + "\n"
               "# HELP loads_dashboard_websocket_resyncs_total Updates dropped for a browser that did not keep up "
               "(it gets the whole state instead).\n"
               "# TYPE loads_dashboard_websocket_resyncs_total counter\n"
               "loads_dashboard_websocket_resyncs_total " + std::to_string(resyncs) + "\n";
    }

    static http::response<http::string_body> reply(const http::request<http::string_body>& req, http::status st,
                                                   std::string_view type, std::string body) {
        http::response<http::string_body> res{st, req.version()};
        res.set(http::field::server, "loads-dashboard");
        res.set(http::field::content_type, type);
        res.set(http::field::cache_control, "no-store");
        res.keep_alive(req.keep_alive());
        res.body() = std::move(body);
        res.prepare_payload();
        return res;
    }

    void serve(beast::tcp_stream stream, asio::yield_context yield) {
        if (stopping) return;
        Tracked tracked(*this, stream);
        beast::flat_buffer buf;
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.body_limit(kMaxRequestBody);
            parser.header_limit(16 * 1024);
            stream.expires_after(kHttpTimeout);
            error_code ec;
            http::async_read(stream, buf, parser, yield[ec]);
            if (ec) return;  // closed, timed out, or not HTTP: nothing to answer
            auto req = parser.release();
            std::string_view target = req.target();
            std::string_view path = target.substr(0, target.find('?'));

            if (websocket::is_upgrade(req)) {
                if (path == "/ws" && clients.size() < kMaxClients) {
                    stream.expires_never();
                    streams.erase(&stream);  // moved from below: the session tracks its own
                    websocket_session(std::move(stream), std::move(req), yield);
                    return;
                }
                auto res = reply(req, http::status::service_unavailable, "text/plain", "no more WebSocket clients\n");
                res.keep_alive(false);
                http::async_write(stream, res, yield[ec]);
                return;
            }

            http::response<http::string_body> res;
            if (req.method() != http::verb::get && req.method() != http::verb::head) {
                res = reply(req, http::status::method_not_allowed, "text/plain", "GET only\n");
                res.set(http::field::allow, "GET, HEAD");
            } else if (path == "/" || path == "/index.html") {
                res = reply(req, http::status::ok, "text/html; charset=utf-8", std::string(assets::index_html));
            } else if (path == "/dashboard.js") {
                res = reply(req, http::status::ok, "text/javascript; charset=utf-8", std::string(assets::dashboard_js));
            } else if (path == "/dashboard.css") {
                res = reply(req, http::status::ok, "text/css; charset=utf-8", std::string(assets::dashboard_css));
            } else if (path == "/uplot.js") {
                res = reply(req, http::status::ok, "text/javascript; charset=utf-8", std::string(assets::uplot_js));
            } else if (path == "/uplot.css") {
                res = reply(req, http::status::ok, "text/css; charset=utf-8", std::string(assets::uplot_css));
            } else if (path == "/metrics") {
                res = reply(req, http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
                            board.metrics_text() + own_metrics());
            } else if (path == "/api/state") {
                res = reply(req, http::status::ok, "application/json", board.full_json());
            } else if (path == "/favicon.ico") {
                res = reply(req, http::status::no_content, "image/x-icon", "");
            } else {
                res = reply(req, http::status::not_found, "text/plain", "not found\n");
            }
            if (req.method() == http::verb::head) {
                auto n = res.body().size();
                res.body().clear();
                res.content_length(n);
            }
            const bool keep = res.keep_alive();
            http::async_write(stream, res, yield[ec]);
            if (ec || !keep) {
                stream.socket().shutdown(tcp::socket::shutdown_send, ec);
                return;
            }
        }
    }

    void websocket_session(beast::tcp_stream stream, http::request<http::string_body> req,
                           asio::yield_context yield) {
        auto c = std::make_shared<Client>(std::move(stream));
        Tracked tracked(*this, c->ws.next_layer());
        c->ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
        c->ws.read_message_max(4096);
        error_code ec;
        c->ws.async_accept(req, yield[ec]);
        if (ec || stopping) return;
        clients.insert(c);
        write_next(c);  // the whole state first
        beast::flat_buffer in;
        for (;;) {
            c->ws.async_read(in, yield[ec]);
            if (ec) break;
            const auto text = beast::buffers_to_string(in.data());
            in.consume(in.size());
            if (text == "full" && !c->closed) {
                c->queue.clear();
                c->need_full = true;
                write_next(c);
            }
        }
        drop(c);
    }
};

Server::Server(Board& board, const std::string& listen, std::chrono::milliseconds push_interval)
    : impl_(std::make_shared<Impl>(board, push_interval)) {
    impl_->bind(listen);
    impl_->start();
}

Server::~Server() { stop(); }

std::string Server::address() const { return impl_->bound; }

void Server::flush() {
    auto impl = impl_;
    if (!impl->thread.joinable()) return;  // stopped: nothing would run it
    asio::post(impl->io, [impl] { impl->push(); });
}

bool Server::drain(std::chrono::milliseconds timeout) {
    auto impl = impl_;
    if (!impl->thread.joinable()) return false;
    auto done = std::make_shared<std::promise<bool>>();
    auto fut = done->get_future();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    asio::post(impl->io, [impl, done, deadline] {
        impl->push();
        auto timer = std::make_shared<asio::steady_timer>(impl->io);
        auto check = std::make_shared<std::function<void()>>();
        *check = [impl, done, deadline, timer, check] {
            bool idle = true;
            for (auto& c : impl->clients) idle = idle && !c->writing && !c->need_full && c->queue.empty();
            if (idle || std::chrono::steady_clock::now() >= deadline) {
                done->set_value(idle);
                asio::post(impl->io, [check] { *check = nullptr; });  // breaks the cycle, outside this call
                return;
            }
            timer->expires_after(std::chrono::milliseconds(10));
            timer->async_wait([check](error_code) { if (*check) (*check)(); });
        };
        (*check)();
    });
    if (fut.wait_for(timeout + std::chrono::seconds(1)) != std::future_status::ready) return false;
    return fut.get();
}

void Server::stop() {
    if (!impl_->thread.joinable()) return;
    auto impl = impl_;
    asio::post(impl->io, [impl] { impl->shut(); });
    impl_->thread.join();
}

}  // namespace loads::dashboard
