// The HTTP/2 connection (http2_connection.cpp) against an in-process h2c
// server on 127.0.0.1 (libnghttp2's server side on a thread, a real socket):
// responses, concurrent streams on one connection, and how the server's
// RST_STREAM and GOAWAY become error kinds. test_http2.py does the same
// against nghttpd, nginx and a raw Python peer, through whole runs.
#include "http_connection.hpp"

#include <nghttp2/nghttp2.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/spawn.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;
using namespace loads;

namespace {

// How the server answers each request.
enum class Answer { ok, refuse, cancel, goaway };

// One h2c connection, served on its own thread until the client closes it
// (or 10 s pass: a test never waits longer than that).
class H2Server {
public:
    explicit H2Server(Answer answer) : answer_(answer) {
        listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listen_ < 0) throw std::runtime_error("socket");
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_, 4) != 0 ||
            ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
            throw std::runtime_error("bind/listen");
        port_ = ntohs(a.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~H2Server() {
        if (thread_.joinable()) thread_.join();
        ::close(listen_);
    }
    std::uint16_t port() const { return port_; }
    int connections() const { return connections_.load(); }
    int requests() const { return requests_.load(); }

private:
    struct Stream {
        std::string path;
        std::string body;
        std::size_t sent = 0;
    };

    void serve() {
        const auto until = std::chrono::steady_clock::now() + 10s;
        pollfd p{listen_, POLLIN, 0};
        if (::poll(&p, 1, 10'000) <= 0) return;
        const int fd = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) return;
        ++connections_;
        nghttp2_session_callbacks* cbs = nullptr;
        nghttp2_session_callbacks_new(&cbs);
        nghttp2_session_callbacks_set_on_header_callback(cbs, &H2Server::on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, &H2Server::on_frame);
        nghttp2_session* s = nullptr;
        nghttp2_session_server_new(&s, cbs, this);
        nghttp2_session_callbacks_del(cbs);
        nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, nullptr, 0);
        char buf[16384];
        bool open = true;
        while (open && std::chrono::steady_clock::now() < until) {
            for (;;) {  // write what the session has
                const std::uint8_t* data = nullptr;
                const auto n = nghttp2_session_mem_send(s, &data);
                if (n <= 0) break;
                if (::send(fd, data, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) open = false;
            }
            pollfd q{fd, POLLIN, 0};
            if (::poll(&q, 1, 100) <= 0) continue;
            const auto n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            if (nghttp2_session_mem_recv(s, reinterpret_cast<const std::uint8_t*>(buf), static_cast<std::size_t>(n)) < 0)
                break;
        }
        nghttp2_session_del(s);
        ::close(fd);
    }

    static int on_header(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name, std::size_t namelen,
                         const std::uint8_t* value, std::size_t valuelen, std::uint8_t, void* self) {
        auto* me = static_cast<H2Server*>(self);
        if (std::string_view(reinterpret_cast<const char*>(name), namelen) == ":path")
            me->streams_[frame->hd.stream_id].path.assign(reinterpret_cast<const char*>(value), valuelen);
        return 0;
    }

    static int on_frame(nghttp2_session* s, const nghttp2_frame* frame, void* self) {
        auto* me = static_cast<H2Server*>(self);
        if (frame->hd.type != NGHTTP2_HEADERS || !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) return 0;
        const std::int32_t id = frame->hd.stream_id;
        ++me->requests_;
        switch (me->answer_) {
            case Answer::refuse:
                return nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
            case Answer::cancel:
                return nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
            case Answer::goaway:  // processed nothing: every stream is above last_stream_id 0
                return nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, nullptr, 0);
            case Answer::ok:
                break;
        }
        Stream& st = me->streams_[id];
        st.body = "hello " + st.path;
        const std::string len = std::to_string(st.body.size());
        const nghttp2_nv nva[] = {
            {(std::uint8_t*)":status", (std::uint8_t*)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
            {(std::uint8_t*)"x-test", (std::uint8_t*)"yes", 6, 3, NGHTTP2_NV_FLAG_NONE},
            {(std::uint8_t*)"content-length", (std::uint8_t*)len.data(), 14, len.size(), NGHTTP2_NV_FLAG_NONE},
        };
        nghttp2_data_provider body{};
        body.source.ptr = &st;
        body.read_callback = [](nghttp2_session*, std::int32_t, std::uint8_t* out, std::size_t length,
                                std::uint32_t* flags, nghttp2_data_source* src, void*) -> ssize_t {
            auto* stream = static_cast<Stream*>(src->ptr);
            const std::size_t n = std::min(length, stream->body.size() - stream->sent);
            std::memcpy(out, stream->body.data() + stream->sent, n);
            stream->sent += n;
            if (stream->sent == stream->body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
            return static_cast<ssize_t>(n);
        };
        return nghttp2_submit_response(s, id, nva, 3, &body);
    }

    Answer answer_;
    int listen_ = -1;
    std::uint16_t port_ = 0;
    std::map<std::int32_t, Stream> streams_;  // the server thread's
    std::atomic<int> connections_{0}, requests_{0};
    std::thread thread_;
};

// Runs `paths` as one exchange of an HTTP/2 connection to the server, on a
// user coroutine of a worker of its own; returns each call.
struct Result {
    std::vector<Call> calls;
    std::vector<ResponseData> out;
    std::string protocol;
};

Result exchange(const H2Server& server, const std::vector<std::string>& paths) {
    boost::asio::io_context ctx;
    WorkerIo worker(ctx);
    worker.begin_run(ClientOptions{}, 1);
    Result r;
    r.out.resize(paths.size());
    std::vector<Url> urls;
    for (const auto& p : paths) {
        auto u = parse_url("http://127.0.0.1:" + std::to_string(server.port()) + p);
        REQUIRE(u);
        urls.push_back(u.value);
    }
    const Headers headers = {{"user-agent", "loads-test"}};
    std::vector<HttpRequest> requests(paths.size());
    for (std::size_t i = 0; i < paths.size(); ++i) {
        requests[i].method = "GET";
        requests[i].url = &urls[i];
        requests[i].headers = &headers;
        r.calls.push_back(Call{&requests[i], &r.out[i], {}, nullptr});
    }
    std::exception_ptr error;
    boost::asio::spawn(
        boost::asio::any_io_executor(ctx.get_executor()),
        [&](boost::asio::yield_context yield) {
            UserIo io(worker);
            io.set_yield(&yield);
            auto conn = make_http2_connection(io, urls.front());
            conn->exchange(std::span<Call>(r.calls), 5s);
            r.protocol = std::string(conn->protocol());
            conn->close();
        },
        [&](std::exception_ptr e) { error = e; });
    ctx.run();
    if (error) std::rethrow_exception(error);
    return r;
}

}  // namespace

TEST_CASE("h2c: a response's status, fields and body; the connection speaks h2") {
    H2Server server(Answer::ok);
    auto r = exchange(server, {"/a"});
    const Exchange& x = r.calls[0].result;
    REQUIRE_FALSE(x.error);
    CHECK(r.protocol == "h2");
    CHECK(r.out[0].status == 200);
    CHECK(r.out[0].body == "hello /a");
    bool tagged = false;
    for (const auto& [k, v] : r.out[0].headers) tagged |= k == "x-test" && v == "yes";
    CHECK(tagged);
    CHECK(x.bytes_sent > 24);  // the preface and more
    CHECK(x.bytes_read > r.out[0].body.size());
    CHECK(x.took > Clock::duration::zero());
}

TEST_CASE("h2c: the calls of one exchange are concurrent streams of one connection") {
    H2Server server(Answer::ok);
    auto r = exchange(server, {"/1", "/2", "/3", "/4", "/5"});
    for (std::size_t i = 0; i < r.calls.size(); ++i) {
        REQUIRE_FALSE(r.calls[i].result.error);
        CHECK(r.out[i].status == 200);
        CHECK(r.out[i].body == "hello /" + std::to_string(i + 1));
    }
    CHECK(server.requests() == 5);
    CHECK(server.connections() == 1);
}

TEST_CASE("h2c: RST_STREAM REFUSED_STREAM is h2-refused, another code h2-reset") {
    {
        H2Server server(Answer::refuse);
        auto r = exchange(server, {"/x"});
        REQUIRE(r.calls[0].result.error);
        CHECK(r.calls[0].result.error->kind == ErrorKind::h2_refused);
    }
    {
        H2Server server(Answer::cancel);
        auto r = exchange(server, {"/x", "/y"});
        for (const auto& c : r.calls) {
            REQUIRE(c.result.error);
            CHECK(c.result.error->kind == ErrorKind::h2_reset);
        }
    }
}

TEST_CASE("h2c: a GOAWAY refuses the streams above its last stream id") {
    H2Server server(Answer::goaway);
    auto r = exchange(server, {"/x"});
    REQUIRE(r.calls[0].result.error);
    CHECK(r.calls[0].result.error->kind == ErrorKind::h2_refused);
}
