// What the clients of the virtual users on one worker share: the worker's
// io_context, TLS context, statistics and name cache, and a registry of
// everything with I/O in flight, so that timeouts and stops can cancel it.
//
// Timeouts are deadlines checked by a per-worker watchdog tick rather than a
// timer per operation: arming a timer costs a timerfd update per request,
// a deadline costs a store.
#pragma once

#include "loads/engine.hpp"
#include "loads/stats.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/spawn.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace boost::asio::ssl {
class context;
}

namespace loads {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// Something with I/O in flight. cancel() must make that I/O complete at once
// (with operation_aborted). Only touched on its worker's thread.
class Cancellable {
public:
    virtual ~Cancellable() = default;
    virtual void cancel() = 0;

    // Arms the deadline of the next operation(s); the watchdog cancels the
    // object once it has passed and sets timed_out().
    void arm(Clock::duration timeout) {
        deadline_ = Clock::now() + timeout;
        timed_out_ = false;
    }
    void disarm() { deadline_ = Clock::time_point::max(); }
    bool timed_out() const { return timed_out_; }

private:
    friend class WorkerIo;
    Clock::time_point deadline_ = Clock::time_point::max();
    bool timed_out_ = false;
    std::size_t slot_ = std::numeric_limits<std::size_t>::max();  // index in the registry
};

// Per worker thread: shared by all of its users, touched only on that thread.
class WorkerIo {
public:
    // Lives as long as its worker thread, so that anything registered with
    // it (even a WebSocket reader finishing after its user) can deregister.
    explicit WorkerIo(asio::io_context& io) : io_(io) {}

    // Settings of the next run; statistics start from zero.
    void begin_run(const ClientOptions& options, std::uint64_t seed, const AllowList* allow = nullptr) {
        tls_.reset();  // connections still open keep the old one (OpenSSL refcounts it)
        options_ = options;
        allow_ = allow;
        hosts_.clear();
        rng_.seed(seed);
        stats_ = Stats{};
        stopping_ = false;
    }

    asio::io_context& io() { return io_; }
    // The run's TLS context, made on first use: loading the system's CA
    // store costs ~240M instructions, which a plain-HTTP run never needs.
    asio::ssl::context& tls();
    Stats& stats() { return stats_; }
    const ClientOptions& options() const { return options_; }
    std::mt19937_64& rng() { return rng_; }

    // True once the run (or cycle) is stopping: hits in flight are being
    // cancelled and their errors must not be counted.
    bool stopping() const { return stopping_; }
    void set_stopping(bool s) { stopping_ = s; }

    void add(Cancellable* c) {
        c->slot_ = live_.size();
        live_.push_back(c);
    }
    void remove(Cancellable* c) {
        if (c->slot_ >= live_.size() || live_[c->slot_] != c) return;
        live_[c->slot_] = live_.back();
        live_[c->slot_]->slot_ = c->slot_;
        live_.pop_back();
        c->slot_ = std::numeric_limits<std::size_t>::max();
    }
    // Cancels everything whose deadline has passed. Called by the watchdog.
    void expire(Clock::time_point now) {
        for (std::size_t i = 0; i < live_.size(); ++i) {
            Cancellable* c = live_[i];
            if (c->deadline_ <= now) {
                c->deadline_ = Clock::time_point::max();
                c->timed_out_ = true;
                c->cancel();
            }
        }
    }
    // Cancels everything in flight (stop).
    void cancel_all() {
        auto copy = live_;
        for (auto* c : copy) c->cancel();
    }

    // Counts one finished hit for progress displays. Single writer (this
    // worker's thread), read from the run thread: a relaxed store, no RMW.
    void hit_done() { hits_done_.store(hits_done_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
    std::uint64_t hits_done() const { return hits_done_.load(std::memory_order_relaxed); }
    // Gauges, same single-writer rule: users in a hit, users alive.
    void user_busy(int delta) { bump(busy_, delta); }
    void user_alive(int delta) {
        bump(alive_, delta);
        if (alive_.load(std::memory_order_relaxed) > peak_.load(std::memory_order_relaxed))
            peak_.store(alive_.load(std::memory_order_relaxed), std::memory_order_relaxed);
    }
    // The most users alive at once since the last reset (a cycle's start).
    std::uint32_t users_peak() const { return peak_.load(std::memory_order_relaxed); }
    void reset_peak() { peak_.store(alive_.load(std::memory_order_relaxed), std::memory_order_relaxed); }
    std::uint32_t users_busy() const { return busy_.load(std::memory_order_relaxed); }
    std::uint32_t users_alive() const { return alive_.load(std::memory_order_relaxed); }

    // Resolves host:port, numeric hosts without a lookup, names once per
    // worker. Throws RequestError(connect) when the name does not resolve.
    // With an allow list, only the allowed endpoints are returned, and
    // RequestError(forbidden) is thrown when none is: nothing is sent to a
    // refused address.
    const std::vector<asio::ip::tcp::endpoint>& resolve(const std::string& host, std::uint16_t port);

private:
    static void bump(std::atomic<std::uint32_t>& a, int delta) {
        a.store(static_cast<std::uint32_t>(static_cast<int>(a.load(std::memory_order_relaxed)) + delta),
                std::memory_order_relaxed);
    }

    asio::io_context& io_;
    std::shared_ptr<asio::ssl::context> tls_;
    ClientOptions options_;
    const AllowList* allow_ = nullptr;
    std::mt19937_64 rng_;
    Stats stats_;
    bool stopping_ = false;
    std::atomic<std::uint64_t> hits_done_{0};
    std::atomic<std::uint32_t> busy_{0}, alive_{0}, peak_{0};
    std::vector<Cancellable*> live_;
    std::unordered_map<std::string, std::vector<asio::ip::tcp::endpoint>> hosts_;
};

// The addresses `host` resolves to (getaddrinfo; an address literal is
// itself); empty when it does not resolve.
std::vector<IpAddress> resolve_addresses(const std::string& host);

// Registers a Cancellable with its worker for the guard's lifetime.
class Registration {
public:
    Registration(WorkerIo& w, Cancellable* c) : w_(w), c_(c) { w_.add(c_); }
    ~Registration() { w_.remove(c_); }
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;

private:
    WorkerIo& w_;
    Cancellable* c_;
};

// The I/O side of one virtual user: its worker and its coroutine.
class UserIo {
public:
    explicit UserIo(WorkerIo& worker) : worker_(worker) {}
    WorkerIo& worker() { return worker_; }
    Stats& stats() { return worker_.stats(); }
    const ClientOptions& options() const { return worker_.options(); }
    bool stopping() const { return worker_.stopping(); }

    // The user's coroutine; valid while its loop runs. Only the user's own
    // code may suspend it: a WebSocket's on_message runs on the socket's
    // reader coroutine, and anything there that would wait (a request,
    // sleep, receive, close) throws std::logic_error instead of suspending
    // the user from another coroutine.
    asio::yield_context& yield() {
        if (in_ws_callback_) throw_in_callback();
        return *yield_;
    }
    void set_yield(asio::yield_context* y) { yield_ = y; }

    // Set by a WebSocket reader while it runs the test's on_message.
    bool in_ws_callback() const { return in_ws_callback_; }
    void set_in_ws_callback(bool in) { in_ws_callback_ = in; }

private:
    [[noreturn]] static void throw_in_callback();

    WorkerIo& worker_;
    asio::yield_context* yield_ = nullptr;
    bool in_ws_callback_ = false;
};

}  // namespace loads
