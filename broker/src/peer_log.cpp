#include "peer_log.hpp"

namespace loads::broker {

bool PeerLog::allow(const std::string& peer, Clock::time_point now, const Report& report) {
    auto it = peers_.find(peer);
    if (it == peers_.end()) {
        if (peers_.size() >= max_peers_) flush(now, report);
        if (peers_.size() >= max_peers_) {
            // Too many peers at once (random identities): one shared budget.
            if (overflow_suppressed_ == 0) overflow_start_ = now;
            ++overflow_suppressed_;
            return false;
        }
        it = peers_.emplace(peer, Window{now, 0, 0}).first;
    }
    Window& w = it->second;
    if (now - w.start >= window_) {
        if (w.suppressed) report(peer, w.suppressed);
        w = Window{now, 0, 0};
    }
    if (w.lines < lines_) {
        ++w.lines;
        return true;
    }
    ++w.suppressed;
    return false;
}

void PeerLog::flush(Clock::time_point now, const Report& report) {
    for (auto it = peers_.begin(); it != peers_.end();) {
        if (now - it->second.start >= window_) {
            if (it->second.suppressed) report(it->first, it->second.suppressed);
            it = peers_.erase(it);
        } else {
            ++it;
        }
    }
    if (overflow_suppressed_ && now - overflow_start_ >= window_) {
        report("(other peers)", overflow_suppressed_);
        overflow_suppressed_ = 0;
    }
}

}  // namespace loads::broker
