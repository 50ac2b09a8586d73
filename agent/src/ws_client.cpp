// WebSocket clients for tests: the one translation unit with Beast's
// WebSocket stream.
//
// Every socket has a reader coroutine of its own, so that messages the
// server pushes are read as they arrive (and counted, or handed to the
// test's callback) whether or not the test is waiting in receive().
#include "hit_outcome.hpp"
#include "io_error.hpp"
#include "socket_clients.hpp"

#include "loads/log.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/context/fixedsize_stack.hpp>

#include <deque>
#include <optional>

namespace loads {
namespace {

using tcp = asio::ip::tcp;
namespace ssl = asio::ssl;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using boost::system::error_code;

constexpr std::size_t kMaxMessage = 64u << 20;   // a bigger message is a protocol error
constexpr std::size_t kMaxQueued = 100000;       // messages kept for receive(); older ones are dropped

struct WsState final : Cancellable, std::enable_shared_from_this<WsState> {
    WsState(WorkerIo& w, const Url& url, WsOptions o)
        : worker(w), origin(url.str()), options(std::move(o)), wake(w.io()), registration(w, this) {
        if (url.secure()) tls.emplace(w.io(), w.tls());
        else plain.emplace(w.io());
    }

    void cancel() override {
        error_code ec;
        lowest().close(ec);
        wake.cancel();
    }

    tcp::socket& lowest() { return tls ? beast::get_lowest_layer(*tls) : beast::get_lowest_layer(*plain); }

    template <class F>
    decltype(auto) with_stream(F&& f) {
        if (tls) return f(*tls);
        return f(*plain);
    }

    // Ends the socket once, with the reason the next receive() reports.
    void mark_closed(ErrorKind kind, std::string why) {
        if (closed) return;
        closed = true;
        close_kind = kind;
        close_reason = std::move(why);
        ++worker.stats().ws_closed;
        wake.cancel();
    }

    void read_loop(asio::yield_context yield) {
        auto self = shared_from_this();  // alive until the loop ends
        for (;;) {
            error_code ec;
            with_stream([&](auto& ws) { ws.async_read(buffer, yield[ec]); });
            if (ec) {
                if (ec == websocket::error::closed)
                    mark_closed(ErrorKind::closed, "WebSocket closed (" + origin + ")");
                else
                    mark_closed(classify(ec, IoPhase::read, false) == ErrorKind::reset ? ErrorKind::closed
                                                                                       : classify(ec, IoPhase::read, false),
                                describe(ec, IoPhase::read, false) + " (" + origin + ")");
                error_code ignored;
                lowest().close(ignored);
                return;
            }
            bool binary = with_stream([](auto& ws) { return ws.got_binary(); });
            WsMessage m{beast::buffers_to_string(buffer.data()), binary};
            buffer.consume(buffer.size());
            Stats& s = worker.stats();
            ++s.ws_messages_received;
            s.ws_bytes_received += m.data.size();
            if (waiting || !options.on_message) {
                if (queue.size() >= kMaxQueued) queue.pop_front();
                queue.push_back(std::move(m));
                if (waiting) wake.cancel();
            } else {
                try {
                    options.on_message(m.data, m.binary);
                } catch (...) {
                    s.note("WebSocket on_message: " + describe_current_exception().note());
                }
            }
        }
    }

    WorkerIo& worker;
    std::string origin;
    WsOptions options;
    std::optional<websocket::stream<tcp::socket>> plain;
    std::optional<websocket::stream<ssl::stream<tcp::socket>>> tls;
    beast::flat_buffer buffer;
    std::deque<WsMessage> queue;  // arrived, not yet received
    bool waiting = false;         // a receive() is suspended on `wake`
    asio::steady_timer wake;
    bool closed = false;
    ErrorKind close_kind = ErrorKind::closed;
    std::string close_reason;
    Registration registration;
};

class WsClient final : public WebSocket {
public:
    WsClient(UserIo& io, std::shared_ptr<WsState> st) : io_(io), st_(std::move(st)) {
        timeout_ = st_->options.timeout
                       ? std::chrono::duration_cast<Clock::duration>(*st_->options.timeout)
                       : std::chrono::duration_cast<Clock::duration>(io_.options().timeout);
    }
    ~WsClient() override {
        // No close handshake from a destructor: just drop the connection.
        st_->mark_closed(ErrorKind::closed, "closed");
        st_->cancel();
    }

    void send(std::string_view text) override { write(text, false); }
    void send_binary(std::string_view bytes) override { write(bytes, true); }

    WsMessage receive(std::optional<Seconds> timeout) override {
        auto& st = *st_;
        if (!st.queue.empty()) return pop();
        if (st.closed) throw RequestError(st.close_kind, st.close_reason);
        auto limit = timeout ? std::chrono::duration_cast<Clock::duration>(*timeout) : timeout_;
        st.waiting = true;
        st.wake.expires_after(limit);
        error_code ec;
        st.wake.async_wait(io_.yield()[ec]);
        st.waiting = false;
        if (!st.queue.empty()) return pop();
        if (st.closed) throw RequestError(st.close_kind, st.close_reason);
        if (io_.stopping()) throw RequestError(ErrorKind::other, "stopped");
        throw RequestError(ErrorKind::timeout, "no WebSocket message within the timeout (" + st.origin + ")");
    }

    void close() override {
        auto& st = *st_;
        if (st.closed) return;
        error_code ec;
        st.arm(timeout_);
        st.with_stream([&](auto& ws) { ws.async_close(websocket::close_code::normal, io_.yield()[ec]); });
        st.disarm();
        st.mark_closed(ErrorKind::closed, "closed by the test");
    }

    bool is_open() const override { return !st_->closed; }

private:
    WsMessage pop() {
        WsMessage m = std::move(st_->queue.front());
        st_->queue.pop_front();
        return m;
    }

    void write(std::string_view data, bool binary) {
        auto& st = *st_;
        if (st.closed) throw RequestError(st.close_kind, st.close_reason);
        error_code ec;
        st.arm(timeout_);
        st.with_stream([&](auto& ws) {
            ws.binary(binary);
            ws.async_write(asio::buffer(data), io_.yield()[ec]);
        });
        st.disarm();
        if (ec) {
            bool to = st.timed_out();
            auto kind = classify(ec, IoPhase::write, to);
            if (kind == ErrorKind::reset) kind = ErrorKind::closed;
            st.mark_closed(kind, describe(ec, IoPhase::write, to) + " (" + st.origin + ")");
            st.cancel();
            throw RequestError(kind, st.close_reason);
        }
        ++io_.stats().ws_messages_sent;
        io_.stats().ws_bytes_sent += data.size();
    }

    UserIo& io_;
    std::shared_ptr<WsState> st_;
    Clock::duration timeout_;
};

}  // namespace

std::unique_ptr<WebSocket> open_websocket(UserIo& io, const Url& url, WsOptions options,
                                          std::size_t reader_stack) {
    if (url.scheme != "ws" && url.scheme != "wss")
        throw std::invalid_argument("create_ws takes ws:// or wss:// URLs, not " + url.str());
    auto& w = io.worker();
    const auto& opts = io.options();
    auto st = std::make_shared<WsState>(w, url, options);
    auto connect_timeout = std::chrono::duration_cast<Clock::duration>(opts.connect_timeout);
    auto t0 = Clock::now();
    auto fail = [&](const error_code& ec, IoPhase phase) {
        bool to = st->timed_out();
        st->cancel();
        throw RequestError(classify(ec, phase, to), describe(ec, phase, to) + " (" + url.str() + ")");
    };
    error_code ec;
    st->arm(connect_timeout);
    asio::async_connect(st->lowest(), w.resolve(url.host, url.port), io.yield()[ec]);
    if (ec) fail(ec, IoPhase::connect);
    st->lowest().set_option(tcp::no_delay(true), ec);
    if (st->tls) {
        SSL_set_tlsext_host_name(st->tls->next_layer().native_handle(), url.host.c_str());
        if (!opts.insecure) st->tls->next_layer().set_verify_callback(ssl::host_name_verification(url.host));
        st->tls->next_layer().async_handshake(ssl::stream_base::client, io.yield()[ec]);
        if (ec) fail(ec, IoPhase::tls_handshake);
    }
    Headers headers = options.headers;
    std::string subprotocol = options.subprotocol;
    websocket::response_type res;
    st->with_stream([&](auto& ws) {
        ws.read_message_max(kMaxMessage);
        ws.set_option(websocket::stream_base::decorator([&headers, &subprotocol](websocket::request_type& req) {
            req.set(beast::http::field::user_agent, "loads/0.1");
            if (!subprotocol.empty()) req.set(beast::http::field::sec_websocket_protocol, subprotocol);
            for (auto& [k, v] : headers) req.set(k, v);
        }));
        ws.async_handshake(res, url.host_header(), url.target, io.yield()[ec]);
    });
    st->disarm();
    if (ec) {
        bool to = st->timed_out();
        st->cancel();
        std::string why = describe(ec, IoPhase::ws_handshake, to);
        if (res.result_int() != 0 && res.result_int() != 101) why += " (HTTP " + std::to_string(res.result_int()) + ")";
        throw RequestError(classify(ec, IoPhase::ws_handshake, to), why + " (" + url.str() + ")");
    }
    // The decorator captured locals by reference: replace it before they go.
    st->with_stream([](auto& ws) { ws.set_option(websocket::stream_base::decorator([](websocket::request_type&) {})); });
    auto took = Clock::now() - t0;
    Stats& s = io.stats();
    ++s.ws_opened;
    LabelStats& l = s.label("WS connect " + std::string(url.path()));
    ++l.count;
    l.latency.record(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(took).count()));

    asio::spawn(
        asio::any_io_executor(w.io().get_executor()), std::allocator_arg,
        boost::context::fixedsize_stack(reader_stack),
        [st](asio::yield_context y) { st->read_loop(y); },
        [](std::exception_ptr e) {
            if (!e) return;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                get_logger("engine")->error("WebSocket reader ended by an exception: {}", ex.what());
            }
        });
    return std::make_unique<WsClient>(io, std::move(st));
}

}  // namespace loads
