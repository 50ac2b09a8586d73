#include "worker.hpp"

#include "virtual_user.hpp"

#include "loads/log.hpp"

#include <boost/asio/post.hpp>
#include <boost/context/fixedsize_stack.hpp>

#include <future>

namespace loads {

namespace {
constexpr auto kWatchdogTick = std::chrono::milliseconds(20);
// One thread runs this io_context and every socket on it is used by its own
// users only; other threads reach it through asio::post, whose scheduler
// locking stays on. So the reactor's per-socket mutex (a lock and an unlock
// per read and per write) can go.
const int kConcurrencyHint = BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO;
}  // namespace

Worker::Worker(unsigned index, std::size_t stack_size)
    : index_(index), stack_size_(stack_size), io_(kConcurrencyHint), guard_(io_.get_executor()), watchdog_(io_),
      io_state_(io_) {
    thread_ = std::thread([this] {
        // An exception out of a handler (bad_alloc while starting a cycle's
        // users, say) must not end the thread: the run waits for this
        // worker's cycles to end, and would wait forever. The worker stops
        // its run instead, says why, and goes on serving.
        for (;;) {
            try {
                io_.run();
                return;
            } catch (const std::exception& e) {
                fail("stopped by an exception: ", e.what());
            } catch (...) {
                fail("stopped by an exception of unknown type");
            }
        }
    });
}

Worker::~Worker() {
    asio::post(io_, [this] {
        users_.clear();
        load_.reset();
        watchdog_.cancel();
    });
    guard_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
}

void Worker::run_blocking(std::function<void()> fn) {
    std::promise<void> done;
    asio::post(io_, [&] {
        try {
            fn();
            done.set_value();
        } catch (...) {
            done.set_exception(std::current_exception());
        }
    });
    done.get_future().get();  // an exception of fn is the caller's
}

void Worker::log_quietly(const char* what, const char* detail) noexcept {
    try {
        get_logger("engine")->error("{}{}", what, detail);
    } catch (...) {
        // No memory left even for the log line.
    }
}

void Worker::fail(const char* what, const char* detail) noexcept {
    failed_.store(true);
    try {
        get_logger("engine")->critical("worker {}: {}{}; the run stops", index_, what, detail);
        io_state_.stats().note("engine: worker " + std::to_string(index_) + " " + what + detail);
        load_failed_ = true;
        io_state_.set_stopping(true);
        if (load_) load_->cancel();
        io_state_.cancel_all();
        check_done();
    } catch (...) {
        // Out of memory again: the flag alone stops the run.
    }
}

void Worker::begin_run(std::shared_ptr<const RunState> run, std::uint64_t seed) {
    failed_.store(false);
    run_blocking([&] {
        run_ = std::move(run);
        io_state_.begin_run(run_->spec.client, seed, run_->allow);
        running_ = true;
        tick();
    });
}

void Worker::tick() {
    watchdog_.expires_after(kWatchdogTick);
    watchdog_.async_wait([this](boost::system::error_code ec) {
        if (ec || !running_) return;
        io_state_.expire(Clock::now());
        tick();
    });
}

void Worker::begin_cycle(const CycleState& cycle, std::unique_ptr<CycleLoad> load,
                         std::function<void()> on_done) {
    asio::post(io_, [this, cycle, load = std::move(load), on_done = std::move(on_done)]() mutable {
        users_.clear();
        load_ = std::move(load);
        cycle_ = cycle;
        io_state_.set_stopping(false);
        on_done_ = std::move(on_done);
        active_ = 0;
        io_state_.reset_peak();
        done_signalled_ = false;
        load_failed_ = false;
        load_->begin(*this);
        check_done();
    });
}

void Worker::check_done() {
    if (done_signalled_ || active_ != 0 || !load_ || (!load_failed_ && !load_->finished())) return;
    done_signalled_ = true;
    on_done_();
}

void Worker::spawn_user(std::uint32_t id, Clock::duration delay) {
    users_.push_back(std::make_unique<VirtualUser>(io_state_, *run_, cycle_, *load_, id, delay));
    VirtualUser* user = users_.back().get();
    ++active_;
    io_state_.user_alive(+1);
    struct Undo {  // if the coroutine cannot be made (no memory for its stack)
        Worker& w;
        bool armed = true;
        ~Undo() {
            if (!armed) return;
            w.users_.pop_back();
            --w.active_;
            w.io_state_.user_alive(-1);
        }
    } undo{*this};
    asio::spawn(
        asio::any_io_executor(io_.get_executor()), std::allocator_arg, boost::context::fixedsize_stack(stack_size_),
        [user](asio::yield_context yield) { user->run(yield); },
        // Runs as the coroutine ends: nothing may escape it (an exception
        // out of a coroutine's completion has nowhere to go), not even when
        // memory has run out and logging throws.
        [this, user](std::exception_ptr e) noexcept {
            io_state_.user_alive(-1);
            --active_;
            try {
                if (e) std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                log_quietly("a virtual user ended by an exception: ", ex.what());
            } catch (...) {
                log_quietly("a virtual user ended by an exception of unknown type", "");
            }
            try {
                if (load_) load_->user_ended(*user);
            } catch (const std::exception& ex) {
                fail("could not end a user: ", ex.what());
            } catch (...) {
                fail("could not end a user");
            }
            check_done();
        });
    undo.armed = false;
}

Stats Worker::collect() {
    Stats out;
    run_blocking([&] {
        out = io_state_.stats();
        io_state_.stats().reset();
    });
    return out;
}

void Worker::cancel() {
    asio::post(io_, [this] {
        if (!running_) return;
        io_state_.set_stopping(true);
        if (load_) load_->cancel();
        io_state_.cancel_all();
    });
}

void Worker::end_run() {
    run_blocking([&] {
        users_.clear();
        load_.reset();
        running_ = false;
        watchdog_.cancel();
        run_.reset();
    });
}

}  // namespace loads
