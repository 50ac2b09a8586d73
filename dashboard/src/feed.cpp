#include "loads/dashboard/feed.hpp"

#include "loads/log.hpp"
#include "loads/proto/limits.hpp"
#include "loads/proto/wire.hpp"

#include <zmq.h>
#include <zmq.hpp>

#include <cstring>

namespace loads::dashboard {

namespace {
constexpr auto kStatusEvery = std::chrono::seconds(1);
constexpr int kPollMs = 100;
}  // namespace

Feed::Feed(Board& board, std::string publisher, std::string frontend, std::function<void()> on_subscribed,
           proto::ClientKeys curve)
    : board_(board), publisher_(std::move(publisher)), frontend_(std::move(frontend)), curve_(std::move(curve)),
      on_subscribed_(std::move(on_subscribed)) {
    thread_ = std::thread([this] { loop(); });
}

Feed::~Feed() { stop(); }

void Feed::stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
}

void Feed::loop() {
    // A failure of the subscription is logged and tried again; it never ends
    // the program (the page says the stream went quiet).
    while (!stop_) {
        try {
            run_once();
        } catch (const std::exception& e) {
            get_logger("dashboard")->error("subscription: {}; starting again", e.what());
            board_.on_bad_message(std::string("subscription: ") + e.what());
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
    }
}

void Feed::run_once() {
    auto log = get_logger("dashboard");
    zmq::context_t ctx(1);
    zmq::socket_t sub(ctx, zmq::socket_type::sub);
    sub.set(zmq::sockopt::linger, 0);
    sub.set(zmq::sockopt::maxmsgsize, proto::kMaxMessageSize);
    sub.set(zmq::sockopt::rcvhwm, proto::kQueuedMessages);
    sub.set(zmq::sockopt::subscribe, "run.");
    sub.set(zmq::sockopt::subscribe, "cluster");
    // The handshake tells us when the subscription is on its way to the
    // publisher (the readiness line tests wait for), or why the broker did
    // not let us in.
    proto::set_curve_client(sub, curve_);
    proto::HandshakeWatch handshake(ctx, sub, curve_.enabled());
    sub.connect(publisher_);

    std::optional<zmq::socket_t> dealer;
    if (!frontend_.empty()) {
        dealer = proto::make_dealer(ctx, "");
        dealer->set(zmq::sockopt::linger, 0);
        dealer->set(zmq::sockopt::sndhwm, 10);  // STATUS requests for a broker that is away
        proto::set_curve_client(*dealer, curve_);
        dealer->connect(frontend_);
    }
    auto next_status = std::chrono::steady_clock::now();

    while (!stop_) {
        if (dealer && std::chrono::steady_clock::now() >= next_status) {
            proto::send(*dealer, proto::StatusRequest{});
            next_status = std::chrono::steady_clock::now() + kStatusEvery;
        }
        zmq::pollitem_t items[3] = {{sub.handle(), 0, ZMQ_POLLIN, 0},
                                    {dealer ? dealer->handle() : nullptr, 0, ZMQ_POLLIN, 0},
                                    {nullptr, 0, 0, 0}};
        try {
            zmq::poll(items, dealer ? 2 : 1, std::chrono::milliseconds(kPollMs));
        } catch (const zmq::error_t& e) {
            if (e.num() == EINTR) continue;
            throw;
        }

        if (!subscribed_ && handshake.succeeded()) {
            subscribed_ = true;
            if (on_subscribed_) on_subscribed_();
        }
        if (!subscribed_)
            if (auto why = handshake.failure(); !why.empty() && why != told_) {
                log->error("cannot subscribe to {}: {}", publisher_, why);
                board_.on_bad_message("cannot subscribe to " + publisher_ + ": " + why);
                told_ = why;
            }
        for (int n = 0; n < 1000 && (items[0].revents & ZMQ_POLLIN); ++n) {
            auto frames = proto::recv_frames(sub);
            if (frames.empty()) break;
            if (!subscribed_) {  // a message is proof enough, should the monitor's event be missed
                subscribed_ = true;
                if (on_subscribed_) on_subscribed_();
            }
            try {
                if (frames.size() != 2)
                    throw proto::ProtoError(proto::ErrorKind::malformed,
                                            "expected 2 frames, got " + std::to_string(frames.size()));
                if (frames[1].size() > proto::kMaxBodySize)
                    throw proto::ProtoError(proto::ErrorKind::oversized, "body frame too large");
                auto topic = frames[0].to_string();
                auto msg = proto::decode_published(topic, frames[1].to_string_view());
                if (auto* s = std::get_if<proto::Snapshot>(&msg)) board_.on_snapshot(*s);
                else if (auto* e = std::get_if<proto::RunEvent>(&msg)) board_.on_run_event(*e);
                else if (auto* c = std::get_if<proto::ClusterEvent>(&msg)) board_.on_cluster_event(*c);
            } catch (const std::exception& e) {
                log->warn("skipped a message from the publisher: {}", e.what());
                board_.on_bad_message(e.what());
            }
        }
        if (dealer && (items[1].revents & ZMQ_POLLIN)) {
            for (;;) {
                auto frames = proto::recv_frames(*dealer);
                if (frames.empty()) break;
                try {
                    auto env = proto::split(frames, false);
                    auto msg = proto::decode(env.command, env.body);
                    if (auto* st = std::get_if<proto::Status>(&msg)) board_.on_status(*st);
                } catch (const std::exception& e) {
                    log->warn("skipped a message from the broker: {}", e.what());
                    board_.on_bad_message(e.what());
                }
            }
        }
    }
}

}  // namespace loads::dashboard
