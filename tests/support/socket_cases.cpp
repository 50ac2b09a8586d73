// WebSocket and TCP tests whose outcome the integration tests know: run
// against tests/support/peers.py (servers we did not write) and the demo
// target. --server-url is ws://HOST:PORT for the WebSocket cases and
// tcp://HOST:PORT for the TCP ones.
#include <loads/loads.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace {
std::pair<std::string, unsigned> host_port(std::string_view url) {
    if (auto p = url.find("://"); p != std::string_view::npos) url.remove_prefix(p + 3);
    auto colon = url.rfind(':');
    return {std::string(url.substr(0, colon)), static_cast<unsigned>(std::stoul(std::string(url.substr(colon + 1))))};
}
}  // namespace

class Ws : public loads::TestCase {
public:
    void test_text() {
        auto ws = create_ws(server_url() + "/echo");
        ws->send("hello");
        auto m = ws->receive();
        check(!m.binary, "a text message comes back as text");
        check_equal(m.data, std::string("hello"), "echo");
        ws->close();
    }
    void test_binary() {
        std::string bytes;
        for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
        auto ws = create_ws(server_url() + "/echo");
        ws->send_binary(bytes);
        auto m = ws->receive();
        check(m.binary, "a binary message comes back as binary");
        check(m.data == bytes, "all 256 byte values survive");
        ws->close();
    }
    void test_large() {
        std::string big(1 << 20, 'x');
        for (std::size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
        auto ws = create_ws(server_url() + "/echo");
        ws->send(big);
        auto m = ws->receive();
        check_equal(m.data.size(), big.size(), "1 MiB message size");
        check(m.data == big, "1 MiB message content");
        ws->close();
    }
    void test_many_sockets() {
        std::vector<std::unique_ptr<loads::WebSocket>> socks;
        for (int i = 0; i < 10; ++i) socks.push_back(create_ws(server_url() + "/echo"));
        for (std::size_t i = 0; i < socks.size(); ++i) socks[i]->send("n" + std::to_string(i));
        for (std::size_t i = 0; i < socks.size(); ++i)
            check_equal(socks[i]->receive().data, "n" + std::to_string(i), "socket " + std::to_string(i));
    }
    // The server closes after one echo: the next receive says "closed".
    void test_server_close() {
        auto ws = create_ws(server_url() + "/close");
        ws->send("bye");
        check_equal(ws->receive().data, std::string("bye"), "echo before close");
        try {
            ws->receive(loads::Seconds(5));
        } catch (const loads::RequestError& e) {
            check(e.kind == loads::ErrorKind::closed, std::string("closed by peer, got: ") + e.what());
            check(!ws->is_open(), "socket reports closed");
            return;
        }
        check(false, "receive after the server's close must throw");
    }
    // The server refuses the upgrade.
    void test_refused() {
        try {
            create_ws(server_url() + "/refuse");
        } catch (const loads::RequestError& e) {
            check(e.kind == loads::ErrorKind::handshake, std::string("handshake error, got: ") + e.what());
            return;
        }
        check(false, "a refused handshake must throw");
    }
    // Messages the server pushes on its own reach the callback while the
    // user is busy elsewhere (here: sleeping), not waiting in receive().
    void test_callback() {
        int pushed = 0, done = 0;
        loads::WsOptions o;
        o.on_message = [&](const std::string& data, bool) {
            pushed += data.starts_with("push ") ? 1 : 0;
            done += data == "done" ? 1 : 0;
        };
        auto ws = create_ws(server_url() + "/push", o);
        ws->send("go");  // the server pushes 5 messages, then "done"
        for (int i = 0; i < 250 && !done; ++i) sleep(0.02);
        check_equal(done, 1, "end marker seen by the callback");
        check_equal(pushed, 5, "pushed messages seen by the callback");
    }
    // The server streams "n 0", "n 1", ... until it reads our close frame.
    // Everything it sent before its close reply must reach us: the ones that
    // arrive during close() wait in the queue, and receive() returns them
    // in order after close(); then it reports the close. (The integration
    // test compares our received count with the server's sent count.)
    void test_close_midstream() {
        auto ws = create_ws(server_url() + "/stream");
        ws->send("go");
        int next = 0;
        for (; next < 20; ++next) check_equal(ws->receive().data, "n " + std::to_string(next), "in order");
        ws->close();
        check(!ws->is_open(), "closed after close()");
        for (;;) {
            loads::WsMessage m;
            try {
                m = ws->receive(loads::Seconds(5));
            } catch (const loads::RequestError& e) {
                check(e.kind == loads::ErrorKind::closed, std::string("closed once drained, got: ") + e.what());
                break;
            }
            check_equal(m.data, "n " + std::to_string(next++), "in order after close()");
        }
    }
    // The same with a callback: what arrives during close() goes to
    // on_message (no receive() is waiting), in order, none missing.
    void test_close_midstream_callback() {
        int first = -1, last = -1;  // the numbers the callback saw
        bool in_order = true;
        loads::WsOptions o;
        o.on_message = [&](const std::string& data, bool) {
            int n = std::stoi(data.substr(2));
            if (first < 0) first = n;
            else in_order = in_order && n == last + 1;
            last = n;
        };
        auto ws = create_ws(server_url() + "/stream", o);
        ws->send("go");
        // A waiting receive() takes the first messages, and those that come
        // before this user runs again; during close() the callback has them.
        int queued = 0;
        for (; queued < 20; ++queued) check_equal(ws->receive().data, "n " + std::to_string(queued), "in order");
        --queued;  // the last number taken
        ws->close();
        for (;;) {
            loads::WsMessage m;
            try {
                m = ws->receive(loads::Seconds(5));
            } catch (const loads::RequestError& e) {
                check(e.kind == loads::ErrorKind::closed, std::string("closed once drained, got: ") + e.what());
                break;
            }
            ++queued;
            check_equal(m.data, "n " + std::to_string(queued), "queued in order");
        }
        check(in_order, "the callback saw every message in order");
        check(first < 0 || first == queued + 1, "the callback took over where the queue ended");
    }
    // --server-url ws://TCP-ADDRESS of peers.py: a peer that drops the
    // connection when our close frame comes, without a close frame of its
    // own. close() returns then, not after the (long) timeout.
    void test_close_peer_drops() {
        auto ws = create_ws(server_url() + "/drop");
        for (int i = 0; i < 3; ++i) check_equal(ws->receive().data, "n " + std::to_string(i), "in order");
        auto t0 = std::chrono::steady_clock::now();
        ws->close();
        auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        check(took < 5.0, "close() returned " + std::to_string(took) + " s after a dropped connection");
        check(!ws->is_open(), "closed after close()");
    }
    void test_timeout() {
        auto ws = create_ws(server_url() + "/silent");
        try {
            ws->receive(loads::Seconds(0.3));
        } catch (const loads::RequestError& e) {
            check(e.kind == loads::ErrorKind::timeout, std::string("timeout, got: ") + e.what());
            return;
        }
        check(false, "receive from a silent server must time out");
    }
};

// WebSocket callbacks (issue 12): their lifetime, and send() from inside.
class WsCallbacks : public loads::TestCase {
public:
    // Ping-pong driven by the callback alone: it answers echo "k" with
    // "k+1" until kRounds, so the socket sends and receives kRounds + 1
    // messages exactly (the integration test counts them).
    static constexpr int kRounds = 50;
    void test_echo_from_callback() {
        int seen = 0, last = -1;
        bool in_order = true;
        loads::WebSocket* self = nullptr;
        loads::WsOptions o;
        o.on_message = [&](const std::string& data, bool) {
            int k = std::stoi(data);
            in_order = in_order && k == last + 1;
            last = k;
            ++seen;
            if (k < kRounds) self->send(std::to_string(k + 1));
        };
        auto ws = create_ws(server_url() + "/echo", o);
        self = ws.get();
        ws->send("0");
        for (int i = 0; i < 500 && seen < kRounds + 1; ++i) sleep(0.01);
        check_equal(seen, kRounds + 1, "echoes seen by the callback");
        check(in_order, "echoes in order");
        ws->close();
        check_equal(seen, kRounds + 1, "no echo after the last");
    }
    // Sockets destroyed while the server pushes as fast as it can: the
    // callback, which captures this frame's locals, is never called once its
    // socket is gone (a read that completed just before the destruction is
    // dropped), and nothing crashes (under ASan too).
    void test_destroy_while_pushing() {
        for (int round = 0; round < 5; ++round) {
            auto gone = std::make_shared<bool>(false);
            int got = 0;
            loads::WsOptions o;
            o.on_message = [&got, gone](const std::string&, bool) {
                if (*gone) ++late_calls;
                else ++got;
            };
            auto ws = create_ws(server_url() + "/stream", o);
            ws->send("go");
            for (int i = 0; i < 500 && got < 100; ++i) sleep(0.002);
            check(got >= 100, "the server pushes");
            ws.reset();
            *gone = true;
            sleep(0.02);  // the reader, if its read had completed, runs now
        }
        check_equal(late_calls.load(), 0, "callbacks after the socket was destroyed");
    }
    // What the callback throws ends the hit in the user's next call.
    void test_callback_throws_int() {
        loads::WsOptions o;
        o.on_message = [](const std::string&, bool) { throw 42; };
        auto ws = create_ws(server_url() + "/echo", o);
        ws->send("x");
        sleep(0.2);
        ws->receive(loads::Seconds(5));  // rethrows: "exception: threw int 42"
        check(false, "receive after a throwing callback must rethrow");
    }
    void test_callback_fails_check() {
        loads::WsOptions o;
        o.on_message = [this](const std::string& data, bool) { check_equal(data, std::string("y"), "echo"); };
        auto ws = create_ws(server_url() + "/echo", o);
        ws->send("x");
        sleep(0.2);
        ws->close();  // rethrows the failed check: a failure
        check(false, "close after a failing callback must rethrow");
    }
    // A callback that would wait (sleep) gets std::logic_error instead.
    void test_callback_waits() {
        loads::WsOptions o;
        o.on_message = [this](const std::string&, bool) { sleep(0.01); };
        auto ws = create_ws(server_url() + "/echo", o);
        ws->send("x");
        sleep(0.2);
        ws->send("again");  // rethrows the logic_error
        check(false, "send after a waiting callback must rethrow");
    }

    static inline std::atomic<int> late_calls{0};  // over the users of all worker threads
};

class Tcp : public loads::TestCase {
public:
    std::unique_ptr<loads::TcpStream> open(std::string_view mode) {
        auto [host, port] = host_port(server_url());
        auto s = tcp_connect(host, port);
        s->send(std::string(mode) + "\n");
        return s;
    }
    // "abc||def||" arrives as "ab", "c|", "|de", "f|", "|": the delimiter is split.
    void test_split_delimiter() {
        auto s = open("split");
        check_equal(s->recv_until("||"), std::string("abc||"), "first record");
        check_equal(s->recv_until("||"), std::string("def||"), "second record");
    }
    // Ten bytes, one per packet.
    void test_partial_reads() {
        auto s = open("drip");
        check_equal(s->recv_exactly(10), std::string("0123456789"), "ten bytes");
        auto rest = s->recv_some();
        check_equal(rest, std::string("!"), "then what is there");
    }
    // The peer sends half a record and closes.
    void test_peer_closes_early() {
        auto s = open("close");
        try {
            s->recv_until("\n");
        } catch (const loads::RequestError& e) {
            check(e.kind == loads::ErrorKind::closed, std::string("closed, got: ") + e.what());
            return;
        }
        check(false, "a record cut by the peer's close must throw");
    }
    void test_timeout() {
        auto [host, port] = host_port(server_url());
        loads::TcpOptions o;
        o.timeout = loads::Seconds(0.3);
        auto s = tcp_connect(host, port, o);
        s->send("silent\n");
        try {
            s->recv_until("\n");
        } catch (const loads::RequestError& e) {
            check(e.kind == loads::ErrorKind::timeout, std::string("timeout, got: ") + e.what());
            return;
        }
        check(false, "a silent peer must time out");
    }
    void test_echo() {
        auto s = open("echo");
        s->send("ping\n");
        check_equal(s->recv_until("\n"), std::string("ping\n"), "echo");
    }
};

// TLS over raw TCP: the echo behaviour of peers.py behind Python's ssl.
class Tls : public loads::TestCase {
public:
    void test_tcp_echo() {
        auto [host, port] = host_port(server_url());
        loads::TcpOptions o;
        o.tls = true;
        auto s = tcp_connect(host, port, o);
        s->send("echo\n");
        s->send("over tls\n");
        check_equal(s->recv_until("\n"), std::string("over tls\n"), "echo over TLS");
        s->close();
    }
};

LOADS_TEST(Tls, test_tcp_echo)
LOADS_TEST(Ws, test_text)
LOADS_TEST(Ws, test_binary)
LOADS_TEST(Ws, test_large)
LOADS_TEST(Ws, test_many_sockets)
LOADS_TEST(Ws, test_server_close)
LOADS_TEST(Ws, test_refused)
LOADS_TEST(Ws, test_callback)
LOADS_TEST(Ws, test_timeout)
LOADS_TEST(Ws, test_close_midstream)
LOADS_TEST(Ws, test_close_midstream_callback)
LOADS_TEST(Ws, test_close_peer_drops)
LOADS_TEST(WsCallbacks, test_echo_from_callback)
LOADS_TEST(WsCallbacks, test_destroy_while_pushing)
LOADS_TEST(WsCallbacks, test_callback_throws_int)
LOADS_TEST(WsCallbacks, test_callback_fails_check)
LOADS_TEST(WsCallbacks, test_callback_waits)
LOADS_TEST(Tcp, test_split_delimiter)
LOADS_TEST(Tcp, test_partial_reads)
LOADS_TEST(Tcp, test_peer_closes_early)
LOADS_TEST(Tcp, test_timeout)
LOADS_TEST(Tcp, test_echo)
