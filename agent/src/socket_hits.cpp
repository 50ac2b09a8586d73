// Zero-code WebSocket and TCP hits: one connection per user, kept across its
// hits; each hit sends --body and waits for one reply (WebSocket: one
// message; TCP: up to the --until delimiter), checked against --expect.
#include "coroutine_stacks.hpp"
#include "hit_runner.hpp"
#include "record.hpp"

#include "run_state.hpp"
#include "socket_clients.hpp"
#include "virtual_user.hpp"

namespace loads {
namespace {

// An exchange that got its reply, or ended in an error (a timeout at the
// time it was given up); one cut short by a stop is not timed.
void record_exchange(UserIo& io, LabelStats& label, Clock::time_point t0, bool ok) {
    if (io.stopping()) return;
    record_latency(io.stats(), label, Clock::now() - t0, ok ? Outcome::ok : Outcome::error);
}

class WsUrlHit final : public HitRunner {
public:
    WsUrlHit(const RunState& run, VirtualUser& user)
        : run_(run), user_(user), label_(user.io().stats().label(run.label)),
          body_(run.spec.test.body.empty() ? "ping" : run.spec.test.body) {}

    void run_hit() override {
        if (!ws_ || !ws_->is_open()) ws_ = open_websocket(user_.io(), run_.target, {}, kSocketStack);
        auto t0 = Clock::now();
        try {
            ws_->send(body_);
            auto reply = ws_->receive();
            record_exchange(user_.io(), label_, t0, true);
            const auto& expect = run_.spec.test.expect;
            if (!expect.empty() && reply.data != expect)
                throw Failure("reply \"" + reply.data.substr(0, 80) + "\" is not the expected one");
        } catch (const RequestError&) {
            record_exchange(user_.io(), label_, t0, false);
            ws_.reset();
            throw;
        }
    }
    void stop() override {
        if (ws_ && ws_->is_open()) ws_->close();
    }

private:
    const RunState& run_;
    VirtualUser& user_;
    LabelStats& label_;
    std::string body_;
    std::unique_ptr<WebSocket> ws_;
};

class TcpUrlHit final : public HitRunner {
public:
    TcpUrlHit(const RunState& run, VirtualUser& user)
        : run_(run), user_(user), label_(user.io().stats().label(run.label)),
          body_(run.spec.test.body.empty() ? "ping\n" : run.spec.test.body),
          until_(run.spec.test.until.empty() ? "\n" : run.spec.test.until) {}

    void run_hit() override {
        if (!stream_)
            stream_ = open_tcp_stream(user_.io(), run_.target.host, run_.target.port, {});
        auto t0 = Clock::now();
        try {
            stream_->send(body_);
            auto reply = stream_->recv_until(until_);
            record_exchange(user_.io(), label_, t0, true);
            const auto& expect = run_.spec.test.expect;
            if (!expect.empty() && reply != expect && reply.substr(0, reply.size() - until_.size()) != expect)
                throw Failure("reply \"" + reply.substr(0, 80) + "\" is not the expected one");
        } catch (const RequestError&) {
            record_exchange(user_.io(), label_, t0, false);
            stream_.reset();
            throw;
        }
    }
    void stop() override {
        if (stream_) stream_->close();
    }

private:
    const RunState& run_;
    VirtualUser& user_;
    LabelStats& label_;
    std::string body_;
    std::string until_;
    std::unique_ptr<TcpStream> stream_;
};

}  // namespace

std::unique_ptr<HitRunner> make_ws_url_hit(const RunState& run, VirtualUser& user) {
    return std::make_unique<WsUrlHit>(run, user);
}

std::unique_ptr<HitRunner> make_tcp_url_hit(const RunState& run, VirtualUser& user) {
    return std::make_unique<TcpUrlHit>(run, user);
}

}  // namespace loads
