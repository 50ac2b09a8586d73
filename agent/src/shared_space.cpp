#include "shared_space.hpp"

#include <boost/asio/post.hpp>

namespace loads {

struct SharedSpaceImpl::Waiter final : Cancellable {
    explicit Waiter(asio::io_context& io) : timer(io) {}
    void cancel() override { timer.cancel(); }
    std::string key;
    bool queue = false;
    bool woken = false;  // under SharedSpaceImpl::mu_
    asio::steady_timer timer;
};

std::optional<std::string> SharedSpaceImpl::take(const std::string& key, bool queue) {
    if (queue) {
        auto it = queues_.find(key);
        if (it == queues_.end() || it->second.empty()) return std::nullopt;
        std::string v = std::move(it->second.front());
        it->second.pop_front();
        return v;
    }
    auto it = values_.find(key);
    if (it == values_.end()) return std::nullopt;
    return it->second;
}

void SharedSpaceImpl::wake(const std::string& key, bool queue, bool all) {
    for (auto& w : waiters_) {
        if (w->woken || w->queue != queue || w->key != key) continue;
        w->woken = true;
        // The timer belongs to the waiter's thread: cancel it there. The
        // shared_ptr keeps it alive if the waiter has timed out meanwhile.
        asio::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
        if (!all) return;
    }
}

std::optional<std::string> SharedSpaceImpl::wait_for(UserIo& io, std::string_view key_view,
                                                     bool queue, Clock::duration timeout) {
    std::string key(key_view);
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        auto w = std::make_shared<Waiter>(io.worker().io());
        {
            std::lock_guard lock(mu_);
            if (auto v = take(key, queue)) return v;
            if (Clock::now() >= deadline || io.stopping()) return std::nullopt;
            w->key = key;
            w->queue = queue;
            waiters_.push_back(w);
        }
        Registration reg(io.worker(), w.get());
        w->timer.expires_at(deadline);
        boost::system::error_code ec;
        w->timer.async_wait(io.yield()[ec]);
        std::lock_guard lock(mu_);
        waiters_.remove(w);
        if (auto v = take(key, queue)) return v;
        // Another user took the item first, or the wait timed out: try again
        // until the deadline.
        if (Clock::now() >= deadline || io.stopping()) return std::nullopt;
    }
}

void SharedSpaceImpl::set(std::string_view key, std::string value) {
    std::lock_guard lock(mu_);
    std::string k(key);
    values_[k] = std::move(value);
    wake(k, false, true);
}

std::optional<std::string> SharedSpaceImpl::get(UserIo& io, std::string_view key, Clock::duration timeout) {
    return wait_for(io, key, false, timeout);
}

void SharedSpaceImpl::push(std::string_view queue, std::string value) {
    std::lock_guard lock(mu_);
    std::string k(queue);
    queues_[k].push_back(std::move(value));
    wake(k, true, false);
}

std::optional<std::string> SharedSpaceImpl::pop(UserIo& io, std::string_view queue, Clock::duration timeout) {
    return wait_for(io, queue, true, timeout);
}

}  // namespace loads
