// The dashboard's subscription: a SUB socket on the broker's publisher
// (every run and the cluster), decoded into the board on a thread of its own,
// and, when a frontend is given, a STATUS request every second for the
// agents' state and last contact (docs/protocol.md 4.3/4.4).
//
// Nothing here waits for the web side: the board is the only thing shared,
// under a short lock.
#pragma once

#include "loads/dashboard/board.hpp"
#include "loads/proto/curve.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace loads::dashboard {

class Feed {
public:
    // on_subscribed is called (on the feed's thread) once the SUB socket has
    // completed its handshake with the publisher.
    Feed(Board& board, std::string publisher, std::string frontend,
         std::function<void()> on_subscribed = {}, proto::ClientKeys curve = {});
    ~Feed();  // stops and joins
    Feed(const Feed&) = delete;
    Feed& operator=(const Feed&) = delete;

    void stop();

private:
    void loop();
    void run_once();

    Board& board_;
    std::string publisher_, frontend_;
    proto::ClientKeys curve_;
    std::string told_;  // the handshake failure last logged
    std::function<void()> on_subscribed_;
    std::atomic<bool> stop_{false};
    bool subscribed_ = false;  // said once
    std::thread thread_;
};

}  // namespace loads::dashboard
