// One virtual user: a stackful coroutine on its worker's io_context that runs
// the test hit after hit, and the UserContext a test sees.
#pragma once

#include "hit_outcome.hpp"
#include "hit_runner.hpp"
#include "http_session.hpp"
#include "load_model.hpp"
#include "run_state.hpp"
#include "shared_space.hpp"
#include "user_io.hpp"

#include "loads/loads.hpp"

#include <boost/asio/steady_timer.hpp>

#include <memory>
#include <optional>
#include <utility>
#include <string>

namespace loads {

class VirtualUser final : public UserContext {
public:
    VirtualUser(WorkerIo& worker, const RunState& run, const CycleState& cycle, CycleLoad& load,
                std::uint32_t id, Clock::duration start_delay);
    ~VirtualUser() override;

    // The user's whole life; runs inside its coroutine: waits its start
    // delay, on_start, then the hits its load model hands it, then on_stop.
    void run(asio::yield_context yield);

    // For the load model (on the worker thread):
    // Suspends the user for `d` (think time); a stop cuts it short.
    void pause(Clock::duration d) { wait(d); }
    // Suspends the user until unpark(); returns what unpark() was given.
    std::optional<Clock::time_point> park();
    // Resumes a parked user with its next hit's scheduled time, or with
    // nothing (it has no more hits).
    void unpark(std::optional<Clock::time_point> due);
    // True the first time it is called for this user.
    bool first_ask() { return !std::exchange(asked_, true); }

    // UserContext
    Session& session() override;
    std::unique_ptr<WebSocket> create_ws(std::string_view url, WsOptions options) override;
    std::unique_ptr<TcpStream> tcp_connect(std::string_view host, unsigned port,
                                           TcpOptions options) override;
    SharedSpace& shared() override;
    void sleep(Seconds s) override;
    void record(std::string_view name, std::chrono::nanoseconds elapsed, bool ok) override;
    void record_group(std::string_view name, std::chrono::nanoseconds elapsed, bool ok) override;
    void add_metric(MetricKind kind, std::string_view name, double value) override;
    const std::string& server_url() const override { return server_url_; }
    std::uint32_t user_id() const override { return id_; }
    std::uint64_t hit_index() const override { return hit_; }
    std::uint32_t cycle() const override { return cycle_.index; }
    const DataSet& data(std::string_view name) const override;
    DataRow user_row(std::string_view name) const override;
    const std::string* find_param(std::string_view key) const override {
        auto it = run_.spec.params.find(key);
        return it == run_.spec.params.end() ? nullptr : &it->second;
    }

    // True once the user stopped for want of a data row (DataExhausted).
    bool out_of_data() const { return out_of_data_; }
    // The think time of the task the last hit ran, when it has its own.
    std::optional<SleepRange> task_think() const;

    UserIo& io() { return io_; }
    HttpSession& http() { return static_cast<HttpSession&>(session()); }
    const RunState& run_state() const { return run_; }

private:
    // A timer that the watchdog or a stop can cancel.
    class Timer final : public Cancellable {
    public:
        explicit Timer(asio::io_context& io) : timer_(io) {}
        void cancel() override { timer_.cancel(); }
        asio::steady_timer timer_;
    };

    void run_one_hit(const HitTicket& ticket);
    void stop_for_data(const DataExhausted& e);
    void count_failed_start(const HitOutcome& why);
    void stop_runner();
    void wait(Clock::duration d);
    bool should_continue() const;

    UserIo io_;
    const RunState& run_;
    const CycleState& cycle_;
    CycleLoad& load_;
    std::uint32_t id_;
    Clock::duration start_delay_;
    std::uint64_t hit_ = 0;
    std::string server_url_;
    std::unique_ptr<HttpSession> session_;
    std::unique_ptr<HitRunner> runner_;
    std::unique_ptr<UserSharedSpace> shared_;
    Timer timer_;
    Registration timer_registration_;
    std::optional<Clock::time_point> parked_due_;
    bool asked_ = false;
    bool out_of_data_ = false;
};

}  // namespace loads
