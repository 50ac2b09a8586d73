#include "loads/dashboard/feed.hpp"

#include "loads/log.hpp"
#include "loads/proto/wire.hpp"

#include <zmq.h>
#include <zmq.hpp>

#include <cstring>

namespace loads::dashboard {

namespace {
constexpr auto kStatusEvery = std::chrono::seconds(1);
constexpr int kPollMs = 100;
}  // namespace

Feed::Feed(Board& board, std::string publisher, std::string frontend, std::function<void()> on_subscribed)
    : board_(board), publisher_(std::move(publisher)), frontend_(std::move(frontend)),
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
    sub.set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(proto::kMaxBodySize + 1024));
    sub.set(zmq::sockopt::rcvhwm, 100000);
    sub.set(zmq::sockopt::subscribe, "run.");
    sub.set(zmq::sockopt::subscribe, "cluster");
    // The handshake tells us when the subscription is on its way to the
    // publisher: the readiness line tests wait for.
    const std::string monitor_ep = "inproc://dashboard-sub-monitor";
    zmq_socket_monitor(sub.handle(), monitor_ep.c_str(), ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
    zmq::socket_t monitor(ctx, zmq::socket_type::pair);
    monitor.set(zmq::sockopt::linger, 0);
    monitor.connect(monitor_ep);
    sub.connect(publisher_);

    std::optional<zmq::socket_t> dealer;
    if (!frontend_.empty()) {
        dealer = proto::make_dealer(ctx, "");
        dealer->set(zmq::sockopt::linger, 0);
        dealer->set(zmq::sockopt::sndhwm, 10);  // STATUS requests for a broker that is away
        dealer->connect(frontend_);
    }
    auto next_status = std::chrono::steady_clock::now();

    while (!stop_) {
        if (dealer && std::chrono::steady_clock::now() >= next_status) {
            proto::send(*dealer, proto::StatusRequest{});
            next_status = std::chrono::steady_clock::now() + kStatusEvery;
        }
        zmq::pollitem_t items[3] = {{sub.handle(), 0, ZMQ_POLLIN, 0},
                                    {monitor.handle(), 0, ZMQ_POLLIN, 0},
                                    {dealer ? dealer->handle() : nullptr, 0, ZMQ_POLLIN, 0}};
        try {
            zmq::poll(items, dealer ? 3 : 2, std::chrono::milliseconds(kPollMs));
        } catch (const zmq::error_t& e) {
            if (e.num() == EINTR) continue;
            throw;
        }

        if (items[1].revents & ZMQ_POLLIN) {
            auto frames = proto::recv_frames(monitor);
            if (!frames.empty() && frames[0].size() >= 2) {
                std::uint16_t event = 0;
                std::memcpy(&event, frames[0].data(), 2);
                if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED && !subscribed_) {
                    subscribed_ = true;
                    if (on_subscribed_) on_subscribed_();
                }
            }
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
        if (dealer && (items[2].revents & ZMQ_POLLIN)) {
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
    zmq_socket_monitor(sub.handle(), nullptr, 0);
}

}  // namespace loads::dashboard
