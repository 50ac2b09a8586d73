// WebSocket clients for tests: the one translation unit with Beast's
// WebSocket stream.
//
// Every socket has a reader coroutine of its own, so that messages the
// server pushes are read as they arrive (and counted, or handed to the
// test's callback) whether or not the test is waiting in receive().
#include "connect.hpp"
#include "hit_outcome.hpp"
#include "io_error.hpp"
#include "record.hpp"
#include "socket_clients.hpp"

#include "loads/log.hpp"

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/context/fixedsize_stack.hpp>

#include <deque>
#include <memory>
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

// Our side of the close handshake without losing messages.
//
// Beast 1.81's async_close writes the close frame, then takes the stream's
// read side from a pending async_read (at its next frame header or message
// end) and reads *and discards* data frames until the peer's close frame
// (impl/close.hpp, "Discard message frame"). Messages the peer sent before
// it saw our close frame were lost that way, uncounted.
//
// So the completion of the close frame's write is held back here until the
// read loop's own async_read has met the peer's close frame (Beast reports
// it to the control callback). Until then close_op does not ask for the read
// side, and the read loop goes on delivering every data message in order.
// Once released, close_op finds the close frame already read (rd_close) and
// goes straight to the TCP/TLS teardown. The hold is also released, with
// operation_aborted, when the socket is cancelled (timeout, stop,
// destruction) and when the read loop ends without a close frame (the peer
// dropped the connection).
class CloseGate {
public:
    explicit CloseGate(asio::any_io_executor ex) : ex_(std::move(ex)) {}
    CloseGate(const CloseGate&) = delete;
    CloseGate& operator=(const CloseGate&) = delete;

    // close() is about to send our close frame: hold its write's completion.
    void arm() { armed_ = true; }
    // The peer's close frame has been read (or the socket is going away).
    void release(error_code ec = {}) {
        peer_closed_ = true;
        armed_ = false;
        if (!held_) return;
        asio::post(ex_, [h = std::move(held_), ec, n = held_n_]() mutable { h->run(ec, n); });
    }

    // For Gated: a write is starting; true when it carries our close frame.
    template <class Buffers>
    bool is_close_write(const Buffers& b) {
        if (!armed_ || peer_closed_) return false;
        if (close_left_ > 0) return true;  // the rest of a close frame written in part
        for (auto it = asio::buffer_sequence_begin(b); it != asio::buffer_sequence_end(b); ++it) {
            asio::const_buffer cb(*it);
            if (cb.size() == 0) continue;
            // FIN + opcode 8: a close frame (control frames are never fragmented)
            if (static_cast<const unsigned char*>(cb.data())[0] != 0x88) return false;
            close_left_ = asio::buffer_size(b);
            return true;
        }
        return false;
    }
    // For Gated: a close-frame write finished; true when its completion is
    // kept (the frame is out, the peer's close frame not yet read).
    template <class Handler>
    bool keep(Handler& h, const error_code& ec, std::size_t n) {
        close_left_ = ec || n >= close_left_ ? 0 : close_left_ - n;
        if (ec || close_left_ > 0 || !armed_ || peer_closed_) return false;
        held_ = std::make_unique<Held<Handler>>(std::move(h));
        held_n_ = n;
        return true;
    }

private:
    struct HeldBase {
        virtual ~HeldBase() = default;
        virtual void run(error_code ec, std::size_t n) = 0;
    };
    template <class H>
    struct Held final : HeldBase {
        explicit Held(H&& h) : h(std::move(h)) {}
        void run(error_code ec, std::size_t n) override { std::move(h)(ec, n); }
        H h;
    };

    asio::any_io_executor ex_;
    bool armed_ = false;
    bool peer_closed_ = false;
    std::size_t close_left_ = 0;
    std::unique_ptr<HeldBase> held_;
    std::size_t held_n_ = 0;
};

// The WebSocket stream's next layer: the TCP socket or TLS stream, with the
// close frame's write passing through the gate.
template <class Next>
class Gated {
public:
    using executor_type = typename Next::executor_type;
    using next_layer_type = Next;

    template <class... Args>
    explicit Gated(CloseGate& gate, Args&&... args) : gate_(&gate), next_(std::forward<Args>(args)...) {}

    executor_type get_executor() noexcept { return next_.get_executor(); }
    Next& next_layer() noexcept { return next_; }
    const Next& next_layer() const noexcept { return next_; }

    template <class Buffers, class Handler>
    auto async_read_some(const Buffers& b, Handler&& h) {
        return next_.async_read_some(b, std::forward<Handler>(h));
    }

    template <class Buffers, class Handler>
    auto async_write_some(const Buffers& b, Handler&& h) {
        return asio::async_initiate<Handler, void(error_code, std::size_t)>(
            [this](auto handler, const Buffers& bufs) {
                if (!gate_->is_close_write(bufs)) {
                    next_.async_write_some(bufs, std::move(handler));
                    return;
                }
                auto ex = asio::get_associated_executor(handler, next_.get_executor());
                next_.async_write_some(
                    bufs, asio::bind_executor(ex, [gate = gate_, h = std::move(handler)](error_code ec, std::size_t n) mutable {
                        if (!gate->keep(h, ec, n)) std::move(h)(ec, n);
                    }));
            },
            h, b);
    }

private:
    CloseGate* gate_;
    Next next_;
};

// Beast tears the connection down through its next layer: forward to the
// teardown of the socket or TLS stream inside.
template <class Next, class Handler>
void async_teardown(beast::role_type role, Gated<Next>& s, Handler&& h) {
    using beast::async_teardown;             // TLS streams
    using beast::websocket::async_teardown;  // TCP sockets
    async_teardown(role, s.next_layer(), std::forward<Handler>(h));
}

struct WsState final : Cancellable, std::enable_shared_from_this<WsState> {
    WsState(WorkerIo& w, const Url& url, WsOptions o)
        : worker(w), origin(url.str()), options(std::move(o)), gate(w.io().get_executor()), wake(w.io()),
          turn(w.io(), Clock::time_point::max()), registration(w, this) {
        if (url.secure()) tls.emplace(gate, w.io(), w.tls());
        else plain.emplace(gate, w.io());
    }

    void cancel() override {
        error_code ec;
        lowest().close(ec);
        gate.release(asio::error::operation_aborted);
        wake.cancel();
        turn.cancel();
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
        turn.cancel();
    }

    // One write at a time on a Beast stream (a message, or close()'s close
    // frame): the user's own send() and close(), and the writer coroutine
    // that carries what on_message sent, take turns. Waits on `y` while
    // another write is in flight (or, unless `queued`, while sends of
    // on_message are waiting: they were made first). False when the socket
    // closed meanwhile.
    bool take_write_turn(asio::yield_context& y, bool queued) {
        while (!closed && (writing || (!queued && !outbox.empty()))) {
            error_code ec;  // `turn` never expires: give_write_turn() or cancel() ends the wait
            turn.async_wait(y[ec]);
        }
        if (closed) return false;
        writing = true;
        return true;
    }
    void give_write_turn() {
        writing = false;
        turn.cancel();
    }

    // Writes one message on the caller's coroutine (its turn taken); false
    // and the socket closed (with the reason) when the write fails.
    bool write_message(asio::yield_context& y, std::string_view data, bool binary, Clock::duration timeout) {
        error_code ec;
        arm(timeout);
        with_stream([&](auto& ws) {
            ws.binary(binary);
            ws.async_write(asio::buffer(data), y[ec]);
        });
        disarm();
        if (ec) {
            bool to = timed_out();
            auto kind = classify(ec, IoPhase::write, to);
            if (kind == ErrorKind::reset) kind = ErrorKind::closed;
            mark_closed(kind, describe(ec, IoPhase::write, to) + " (" + origin + ")");
            cancel();
            return false;
        }
        Stats& s = worker.stats();
        ++s.ws_messages_sent;
        s.ws_bytes_sent += data.size();
        return true;
    }

    // A send() made inside on_message: queued, and written in order by a
    // writer coroutine of this socket (started when needed, ending when the
    // queue is empty), so the callback never waits.
    void queue_send(std::string_view data, bool binary) {
        outbox.push_back(WsMessage{std::string(data), binary});
        if (writer_running) return;
        writer_running = true;
        asio::spawn(
            asio::any_io_executor(worker.io().get_executor()), std::allocator_arg,
            boost::context::fixedsize_stack(stack_size),
            [self = shared_from_this()](asio::yield_context y) { self->write_loop(y); },
            [](std::exception_ptr e) { log_coroutine_end("writer", e); });
    }

    void write_loop(asio::yield_context& y) {
        while (!outbox.empty() && !detached) {
            if (!take_write_turn(y, true)) break;
            WsMessage m = std::move(outbox.front());
            outbox.pop_front();
            bool ok = write_message(y, m.data, m.binary, send_timeout);
            give_write_turn();
            if (!ok) {
                if (!detached && !worker.stopping())
                    worker.stats().note("WebSocket send from on_message: " + close_reason);
                break;
            }
        }
        outbox.clear();
        writer_running = false;
        turn.cancel();  // a user's send() waiting for the queue to drain
    }

    // An exception out of a reader or writer coroutine (none is expected:
    // the test's callback is caught inside) is logged, whatever its type.
    static void log_coroutine_end(const char* which, std::exception_ptr e) noexcept {
        if (!e) return;
        try {
            std::rethrow_exception(e);
        } catch (...) {
            try {
                get_logger("engine")->error("WebSocket {} ended by an exception: {}", which,
                                            describe_current_exception().note());
            } catch (...) {
                // no memory left for the log line
            }
        }
    }

    void read_loop(asio::yield_context yield) {
        auto self = shared_from_this();  // alive until the loop ends
        for (;;) {
            error_code ec;
            with_stream([&](auto& ws) { ws.async_read(buffer, yield[ec]); });
            // The WebSocket object is gone (its destructor cancelled us, but
            // this read may have completed first): nothing of the test's may
            // be touched, its callback least of all.
            if (detached) return;
            if (ec) {
                if (closing)  // our close(): close_op ends the stream, the read learns it last
                    mark_closed(ErrorKind::closed, "closed by the test");
                else if (ec == websocket::error::closed)
                    mark_closed(ErrorKind::closed, "WebSocket closed (" + origin + ")");
                else
                    mark_closed(classify(ec, IoPhase::read, false) == ErrorKind::reset ? ErrorKind::closed
                                                                                       : classify(ec, IoPhase::read, false),
                                describe(ec, IoPhase::read, false) + " (" + origin + ")");
                error_code ignored;
                lowest().close(ignored);
                // A close() waiting for the peer's close frame need not wait
                // longer: none comes on a stream that has ended.
                gate.release(asio::error::operation_aborted);
                return;
            }
            bool binary = with_stream([](auto& ws) { return ws.got_binary(); });
            WsMessage m{beast::buffers_to_string(buffer.data()), binary};
            buffer.consume(buffer.size());
            Stats& s = worker.stats();
            ++s.ws_messages_received;
            s.ws_bytes_received += m.data.size();
            if (waiting || !options.on_message || closed) {
                if (queue.size() >= kMaxQueued) {
                    queue.pop_front();
                    s.note("WebSocket: message dropped, " + std::to_string(kMaxQueued) +
                           " already queued for receive()");
                }
                queue.push_back(std::move(m));
                if (waiting) wake.cancel();
            } else {
                run_callback(m);
            }
        }
    }

    // The test's on_message, on this reader coroutine: waiting calls throw
    // there (UserIo::yield), send() is queued (queue_send). What it throws
    // is kept for the user's next call on the socket (rethrown there, so
    // the hit in progress ends by it), or noted if the socket goes first.
    void run_callback(const WsMessage& m) {
        UserIo* io = user;  // the callback may destroy the WebSocket object
        const bool outer = io->in_ws_callback();
        io->set_in_ws_callback(true);
        try {
            options.on_message(m.data, m.binary);
        } catch (...) {
            if (callback_error || detached)
                worker.stats().note("WebSocket on_message: " + describe_current_exception().note());
            else
                callback_error = std::current_exception();
        }
        io->set_in_ws_callback(outer);
    }

    WorkerIo& worker;
    std::string origin;
    WsOptions options;
    CloseGate gate;  // before the streams that point to it
    std::optional<websocket::stream<Gated<tcp::socket>>> plain;
    std::optional<websocket::stream<Gated<ssl::stream<tcp::socket>>>> tls;
    beast::flat_buffer buffer;
    std::deque<WsMessage> queue;  // arrived, not yet received
    bool waiting = false;         // a receive() is suspended on `wake`
    asio::steady_timer wake;
    bool closed = false;
    bool closing = false;  // close() has begun the close handshake
    ErrorKind close_kind = ErrorKind::closed;
    std::string close_reason;
    // The WebSocket object (WsClient): its user, while it lives; once it is
    // destroyed (`detached`) the coroutines only end.
    UserIo* user = nullptr;
    bool detached = false;
    std::exception_ptr callback_error;  // the first exception of on_message not yet rethrown
    // Writes: one at a time (take_write_turn); on_message's sends queued.
    bool writing = false;
    asio::steady_timer turn;
    std::deque<WsMessage> outbox;
    bool writer_running = false;
    std::size_t stack_size = 32 * 1024;   // of the reader and writer coroutines
    Clock::duration send_timeout{};       // of the writer's writes: the socket's timeout
    Registration registration;
};

class WsClient final : public WebSocket {
public:
    WsClient(UserIo& io, std::shared_ptr<WsState> st) : io_(io), st_(std::move(st)) {
        timeout_ = st_->options.timeout
                       ? std::chrono::duration_cast<Clock::duration>(*st_->options.timeout)
                       : std::chrono::duration_cast<Clock::duration>(io_.options().timeout);
        st_->user = &io_;
        st_->send_timeout = timeout_;
    }
    ~WsClient() override {
        // No close handshake from a destructor: just drop the connection.
        // The reader and writer coroutines may outlive this object (they
        // hold the state); `detached` keeps them from the test's callback.
        auto& st = *st_;
        st.detached = true;
        st.user = nullptr;
        st.outbox.clear();
        if (st.callback_error) note_callback_error();
        st.mark_closed(ErrorKind::closed, "closed");
        st.cancel();
    }

    void send(std::string_view text) override { write(text, false); }
    void send_binary(std::string_view bytes) override { write(bytes, true); }

    WsMessage receive(std::optional<Seconds> timeout) override {
        auto& st = *st_;
        rethrow_callback_error();
        if (!st.queue.empty()) return pop();
        if (st.closed) throw RequestError(st.close_kind, st.close_reason);
        auto limit = timeout ? std::chrono::duration_cast<Clock::duration>(*timeout) : timeout_;
        st.waiting = true;
        st.wake.expires_after(limit);
        error_code ec;
        st.wake.async_wait(io_.yield()[ec]);
        st.waiting = false;
        rethrow_callback_error();
        if (!st.queue.empty()) return pop();
        if (st.closed) throw RequestError(st.close_kind, st.close_reason);
        if (io_.stopping()) throw RequestError(ErrorKind::other, "stopped");
        throw RequestError(ErrorKind::timeout, "no WebSocket message within the timeout (" + st.origin + ")");
    }

    void close() override {
        auto& st = *st_;
        rethrow_callback_error();
        if (st.closed || st.closing) return;
        auto& yield = io_.yield();  // throws inside on_message
        // After what on_message sent, and any send of ours in flight.
        if (!st.take_write_turn(yield, false)) return;
        error_code ec;
        st.closing = true;
        st.gate.arm();  // see CloseGate: the read loop, not async_close, reads up to the peer's close frame
        st.arm(timeout_);
        st.with_stream([&](auto& ws) { ws.async_close(websocket::close_code::normal, yield[ec]); });
        st.disarm();
        st.give_write_turn();
        st.mark_closed(ErrorKind::closed, "closed by the test");
        rethrow_callback_error();
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
        if (io_.in_ws_callback()) {  // from on_message (of this socket or another)
            if (st.closed) throw RequestError(st.close_kind, st.close_reason);
            if (st.closing) throw RequestError(ErrorKind::closed, "closing: close() has begun (" + st.origin + ")");
            st.queue_send(data, binary);
            return;
        }
        rethrow_callback_error();
        if (st.closed) throw RequestError(st.close_kind, st.close_reason);
        if (st.closing) throw RequestError(ErrorKind::closed, "closing: close() has begun (" + st.origin + ")");
        auto& yield = io_.yield();
        bool ok = st.take_write_turn(yield, false);
        if (ok) {
            ok = st.write_message(yield, data, binary, timeout_);
            st.give_write_turn();
        }
        rethrow_callback_error();
        if (!ok) throw RequestError(st.close_kind, st.close_reason);
    }

    // What on_message threw, once, in the user's own code.
    void rethrow_callback_error() {
        if (auto e = std::exchange(st_->callback_error, nullptr)) std::rethrow_exception(e);
    }
    void note_callback_error() noexcept {
        try {
            std::rethrow_exception(std::exchange(st_->callback_error, nullptr));
        } catch (...) {
            try {
                if (!io_.stopping()) io_.stats().note("WebSocket on_message: " + describe_current_exception().note());
            } catch (...) {
                // no memory for the note
            }
        }
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
    error_code ec;
    st->arm(connect_timeout);  // bounds the connect and both handshakes together
    auto failed = tcp_connect(st->lowest(), w.resolve(url.host, url.port), io.yield());
    if (!failed && st->tls)
        failed = tls_handshake(st->tls->next_layer().next_layer(), url.host, opts.insecure, io.yield());
    if (failed) {
        bool to = st->timed_out();
        st->cancel();
        throw connect_error(*failed, to, url.str());
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
    // The read loop's async_read meeting the peer's close frame lets our
    // close frame's write complete (CloseGate).
    st->with_stream([s = st.get()](auto& ws) {
        ws.control_callback([s](websocket::frame_type kind, beast::string_view) {
            if (kind == websocket::frame_type::close) s->gate.release();
        });
    });
    auto took = Clock::now() - t0;
    Stats& s = io.stats();
    ++s.ws_opened;
    record_latency(s, s.label("WS connect " + std::string(url.path())), took, Outcome::ok, Scope::label);

    st->stack_size = reader_stack;
    auto client = std::make_unique<WsClient>(io, st);
    asio::spawn(
        asio::any_io_executor(w.io().get_executor()), std::allocator_arg,
        boost::context::fixedsize_stack(reader_stack),
        [st](asio::yield_context y) { st->read_loop(y); },
        [](std::exception_ptr e) { WsState::log_coroutine_end("reader", e); });
    return client;
}

}  // namespace loads
