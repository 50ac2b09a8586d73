// The space a run's users share in one process (shared_space.hpp): values
// and queues, a waiting user woken from another worker thread, timeouts and
// stops. Real io_contexts and threads, one user coroutine on each.
#include "shared_space.hpp"

#include <boost/asio/spawn.hpp>

#include <catch2/catch.hpp>

#include <atomic>
#include <functional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using namespace loads;

namespace {

// One worker thread with one user coroutine running `body`.
class OneUser {
public:
    explicit OneUser(std::function<void(UserIo&)> body) : worker_(ctx_) {
        worker_.begin_run(ClientOptions{}, 1);
        boost::asio::spawn(
            boost::asio::any_io_executor(ctx_.get_executor()),
            [this, body = std::move(body)](boost::asio::yield_context yield) {
                UserIo io(worker_);
                io.set_yield(&yield);
                started_.store(true);
                body(io);
            },
            [this](std::exception_ptr e) { error_ = e; });
        thread_ = std::thread([this] { ctx_.run(); });
    }
    ~OneUser() {
        if (thread_.joinable()) thread_.join();
    }
    void join() {
        if (thread_.joinable()) thread_.join();
        if (auto e = std::exchange(error_, nullptr)) std::rethrow_exception(e);
    }
    bool started() const { return started_.load(); }
    WorkerIo& worker() { return worker_; }

private:
    boost::asio::io_context ctx_;
    WorkerIo worker_;
    std::atomic<bool> started_{false};
    std::exception_ptr error_;
    std::thread thread_;
};

void wait_started(const OneUser& u) {
    const auto until = Clock::now() + 5s;
    while (!u.started() && Clock::now() < until) std::this_thread::yield();
    REQUIRE(u.started());
}

}  // namespace

TEST_CASE("a value set before is there at once; a missing one times out at its deadline") {
    SharedSpaceImpl space;
    space.set("token", "abc");
    std::optional<std::string> got, missing;
    Clock::duration waited{};
    {
        OneUser u([&](UserIo& io) {
            got = space.get(io, "token", 5s);
            const auto t0 = Clock::now();
            missing = space.get(io, "nothing", 100ms);
            waited = Clock::now() - t0;
        });
        u.join();
    }
    CHECK(got == "abc");
    CHECK_FALSE(missing);
    CHECK(waited >= 100ms);
    CHECK(waited < 3s);
}

TEST_CASE("a user waiting for a value is woken by a set on another thread, well before its timeout") {
    SharedSpaceImpl space;
    std::optional<std::string> got;
    Clock::duration waited{};
    OneUser u([&](UserIo& io) {
        const auto t0 = Clock::now();
        got = space.get(io, "ready", 20s);
        waited = Clock::now() - t0;
    });
    wait_started(u);
    std::this_thread::sleep_for(50ms);  // most likely waiting by now (either order must work)
    space.set("ready", "yes");
    u.join();
    CHECK(got == "yes");
    CHECK(waited < 10s);
}

TEST_CASE("queue items go to one consumer each, in order; an empty queue times out") {
    SharedSpaceImpl space;
    constexpr int kItems = 200;
    std::vector<std::string> a, b;
    std::atomic<int> timeouts{0};
    auto consume = [&](std::vector<std::string>& into) {
        return [&, into_ptr = &into](UserIo& io) {
            for (;;) {
                auto v = space.pop(io, "jobs", 300ms);
                if (!v) {
                    ++timeouts;
                    return;
                }
                into_ptr->push_back(*v);
            }
        };
    };
    OneUser ua(consume(a)), ub(consume(b));
    wait_started(ua);
    wait_started(ub);
    for (int i = 0; i < kItems; ++i) space.push("jobs", std::to_string(i));
    ua.join();
    ub.join();
    CHECK(timeouts.load() == 2);
    CHECK(a.size() + b.size() == kItems);
    std::set<std::string> all(a.begin(), a.end());
    all.insert(b.begin(), b.end());
    CHECK(all.size() == kItems);  // nothing twice
    // Each consumer sees the items in push order.
    for (const auto* v : {&a, &b})
        for (std::size_t i = 1; i < v->size(); ++i) CHECK(std::stoi((*v)[i - 1]) < std::stoi((*v)[i]));
}

TEST_CASE("values and queues of the same name are apart; a value stays, a queue item is taken") {
    SharedSpaceImpl space;
    space.set("x", "value");
    space.push("x", "item");
    std::optional<std::string> v1, v2, q1, q2;
    {
        OneUser u([&](UserIo& io) {
            v1 = space.get(io, "x", 1s);
            v2 = space.get(io, "x", 1s);
            q1 = space.pop(io, "x", 1s);
            q2 = space.pop(io, "x", 50ms);
        });
        u.join();
    }
    CHECK(v1 == "value");
    CHECK(v2 == "value");
    CHECK(q1 == "item");
    CHECK_FALSE(q2);
}

TEST_CASE("a stopping worker does not wait") {
    SharedSpaceImpl space;
    std::optional<std::string> got;
    Clock::duration waited{};
    {
        OneUser u([&](UserIo& io) {
            io.worker().set_stopping(true);
            const auto t0 = Clock::now();
            got = space.get(io, "never", 10s);
            waited = Clock::now() - t0;
        });
        u.join();
    }
    CHECK_FALSE(got);
    CHECK(waited < 1s);
}
