// The space the users of one run share in one process: named values and
// named queues. A user waiting for a value or a queue item suspends only
// itself; a writer on any worker wakes it by posting to its thread.
#pragma once

#include "user_io.hpp"

#include "loads/loads.hpp"

#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace loads {

class SharedSpaceImpl {
public:
    void set(std::string_view key, std::string value);
    std::optional<std::string> get(UserIo& io, std::string_view key, Clock::duration timeout);
    void push(std::string_view queue, std::string value);
    std::optional<std::string> pop(UserIo& io, std::string_view queue, Clock::duration timeout);

private:
    struct Waiter;
    std::optional<std::string> wait_for(UserIo& io, std::string_view key, bool queue,
                                        Clock::duration timeout);
    std::optional<std::string> take(const std::string& key, bool queue);  // under mu_
    void wake(const std::string& key, bool queue, bool all);              // under mu_

    std::mutex mu_;
    std::unordered_map<std::string, std::string> values_;
    std::unordered_map<std::string, std::deque<std::string>> queues_;
    std::list<std::shared_ptr<Waiter>> waiters_;
};

// The SharedSpace a test sees: the run's space, used from one user.
class UserSharedSpace final : public SharedSpace {
public:
    UserSharedSpace(SharedSpaceImpl& space, UserIo& io) : space_(space), io_(io) {}
    void set(std::string_view key, std::string value) override { space_.set(key, std::move(value)); }
    std::optional<std::string> get(std::string_view key, Seconds timeout) override {
        return space_.get(io_, key, std::chrono::duration_cast<Clock::duration>(timeout));
    }
    void push(std::string_view queue, std::string value) override { space_.push(queue, std::move(value)); }
    std::optional<std::string> pop(std::string_view queue, Seconds timeout) override {
        return space_.pop(io_, queue, std::chrono::duration_cast<Clock::duration>(timeout));
    }

private:
    SharedSpaceImpl& space_;
    UserIo& io_;
};

}  // namespace loads
