// One worker thread: an io_context, the virtual users placed on it, its
// statistics delta, and a watchdog that enforces deadlines.
//
// Everything a worker owns is touched only on its thread; the run thread
// talks to it by posting (begin_cycle, collect, cancel) and reads only the
// relaxed hit counter.
#pragma once

#include "load_model.hpp"
#include "run_state.hpp"
#include "user_io.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

namespace loads {

class VirtualUser;

class Worker final : private LoadHost {
public:
    Worker(unsigned index, std::size_t stack_size);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    // Prepares for a run (TLS context, statistics). Call before begin_cycle.
    void begin_run(std::shared_ptr<const RunState> run, std::uint64_t seed);
    // Starts this worker's part of a cycle; `on_done` is called on the
    // worker thread once the load model has finished and the last user has
    // ended (at once if there are none).
    void begin_cycle(const CycleState& cycle, std::unique_ptr<CycleLoad> load, std::function<void()> on_done);
    // Moves the statistics counted since the last call out of the worker.
    // Blocks the caller until the worker thread has handed them over.
    Stats collect();
    // Stops the hits in flight: users stop, their I/O is cancelled, and what
    // they were doing is counted as interrupted (arrivals still waiting as
    // dropped). Asynchronous.
    void cancel();
    // Drops the run's users and state (after the last cycle). Blocks.
    void end_run();

    std::uint64_t hits_done() const { return io_state_.hits_done(); }
    std::uint32_t users_busy() const { return io_state_.users_busy(); }
    std::uint32_t users_alive() const { return io_state_.users_alive(); }
    std::uint32_t users_peak() const { return io_state_.users_peak(); }
    // The worker could not go on with its run (an exception out of a
    // handler): the engine stops the run. Any thread.
    bool failed() const { return failed_.load(); }

private:
    // LoadHost
    void spawn_user(std::uint32_t id, Clock::duration delay) override;
    void check_done() override;
    WorkerIo& worker_io() override { return io_state_; }

    void tick();
    void run_blocking(std::function<void()> fn);
    // On the worker thread: stops this worker's run, saying why in its stats.
    void fail(const char* what, const char* detail = "") noexcept;
    static void log_quietly(const char* what, const char* detail) noexcept;

    unsigned index_;
    std::size_t stack_size_;
    asio::io_context io_;
    asio::executor_work_guard<asio::io_context::executor_type> guard_;
    asio::steady_timer watchdog_;
    std::shared_ptr<const RunState> run_;
    WorkerIo io_state_;
    bool running_ = false;  // between begin_run and end_run
    CycleState cycle_;
    std::unique_ptr<CycleLoad> load_;
    std::vector<std::unique_ptr<VirtualUser>> users_;
    std::size_t active_ = 0;
    bool done_signalled_ = true;
    bool load_failed_ = false;  // the cycle ends once its users have, whatever the load model says
    std::atomic<bool> failed_{false};
    std::function<void()> on_done_;
    std::thread thread_;
};

}  // namespace loads
