#include "local_dashboard.hpp"

#include "loads/dashboard/board.hpp"
#include "loads/dashboard/server.hpp"

#include <chrono>
#include <unistd.h>

namespace loads::runner {

namespace {
std::int64_t unix_ms(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
}  // namespace

LocalDashboard::LocalDashboard(const std::string& listen, const std::string& test, const RunSpec&)
    : board_(std::make_unique<dashboard::Board>()), test_(test) {
    run_ = "local-" + std::to_string(::getpid());
    board_->set_source("local run (loads-runner, pid " + std::to_string(::getpid()) + ")", false);
    server_ = std::make_unique<dashboard::Server>(*board_, listen);
}

LocalDashboard::~LocalDashboard() = default;

std::string LocalDashboard::address() const { return server_->address(); }

void LocalDashboard::started() {
    board_->on_run_event(proto::RunEvent{run_, "started", "", "started locally",
                                         unix_ms(std::chrono::system_clock::now()), std::nullopt});
}

void LocalDashboard::interval(std::uint32_t cycle, const Stats& delta, const Progress& p) {
    proto::Snapshot s;
    s.run = run_;
    s.seq = ++seq_;
    s.cycle = cycle;
    s.elapsed = p.elapsed;
    s.hits_done = p.hits_done;
    s.hits_total = p.hits_total;
    s.duration_total = p.duration_total;
    s.agents_running = 1;
    s.delta = delta;
    s.users = p.users_alive;
    s.users_busy = p.users_busy;
    board_->on_snapshot(s);
}

void LocalDashboard::finished(const RunResult& result) {
    proto::RunSummary sum;
    sum.run = run_;
    sum.test = test_;
    sum.started_ms = unix_ms(result.started);
    sum.elapsed = result.elapsed;
    sum.stopped = result.stopped;
    sum.total = result.total;
    board_->on_run_event(proto::RunEvent{run_, "finished", "", "", unix_ms(std::chrono::system_clock::now()), sum});
    server_->drain(std::chrono::seconds(2));
}

}  // namespace loads::runner
