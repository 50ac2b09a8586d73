// The open model (--rate): hits arrive on a schedule (arrivals.hpp) whatever
// the server does, and a pool of virtual users serves them.
//
// On each worker with users, a pump timer fires at each arrival's time and
// queues it; a free user takes it at once, or the pool grows by one user (up
// to the worker's share of --max-users), or it waits for the next user that
// frees up: a late start, its latency still counted from the schedule. An
// arrival that has waited longer than the request timeout is dropped, as is
// everything still waiting when the cycle is cancelled. So each arrival is
// counted once: a hit, a dropped arrival, or an interrupted hit. A user that
// runs out of data rows (--data-exhausted stop) caps the pool where it is.
#include "load_model.hpp"
#include "virtual_user.hpp"

#include "loads/arrivals.hpp"

#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <deque>
#include <random>

namespace loads {
namespace {

class OpenCycle final : public CycleLoad {
public:
    OpenCycle(const CycleState& cycle, std::optional<ArrivalStream> stream, std::uint32_t cap,
              const RunSpec& spec, std::atomic<std::uint64_t>& next_local)
        : cycle_(cycle), stream_(std::move(stream)), cap_(cap), spec_(spec), next_local_(next_local),
          timeout_(std::chrono::duration_cast<Clock::duration>(spec.client.timeout)) {}

    ~OpenCycle() override { *alive_ = false; }

    void begin(LoadHost& host) override {
        host_ = &host;
        pump_.emplace(host.worker_io().io());
        advance();
        pump();
    }

    bool may_start(VirtualUser&) override { return !stopping(); }

    std::optional<HitTicket> next_hit(VirtualUser& user) override {
        if (user.first_ask()) --starting_;
        for (;;) {
            if (stopping()) return std::nullopt;
            drop_expired(Clock::now());
            if (!pending_.empty()) {
                auto due = pending_.front();
                pending_.pop_front();
                return HitTicket{due, true};
            }
            if (!generating_) return std::nullopt;
            idle_.push_back(&user);
            if (auto due = user.park()) return HitTicket{*due, true};
            // Woken without an arrival (end of the schedule, a stop).
            auto it = std::find(idle_.begin(), idle_.end(), &user);
            if (it != idle_.end()) idle_.erase(it);
        }
    }

    void user_ended(VirtualUser& user) override {
        if (user.first_ask()) --starting_;
        auto it = std::find(idle_.begin(), idle_.end(), &user);
        if (it != idle_.end()) idle_.erase(it);
        --users_;
        // A user out of data (--data-exhausted stop) means later users, with
        // higher ids, would be too: the pool stops growing here.
        if (user.out_of_data()) cap_ = std::min(cap_, users_);
        // A user that failed to start leaves room for another.
        if (!stopping()) dispatch(Clock::now());
    }

    bool finished() const override { return !generating_ && pending_.empty(); }

    void cancel() override {
        cancelled_ = true;
        generating_ = false;
        if (pump_) pump_->cancel();
        host_->worker_io().stats().dropped += pending_.size();
        pending_.clear();
        wake_idle();
    }

private:
    bool stopping() const { return cancelled_ || host_->worker_io().stopping(); }

    // The next arrival's time, or the end of the schedule.
    void advance() {
        std::optional<double> t = stream_ ? stream_->next() : std::nullopt;
        if (!t) {
            next_due_.reset();
            return;
        }
        next_due_ = cycle_.started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(*t));
    }

    // Queues every arrival that is due, hands them out, re-arms.
    void pump() {
        if (cancelled_) return;
        const auto now = Clock::now();
        Stats& stats = host_->worker_io().stats();
        while (next_due_ && *next_due_ <= now) {
            pending_.push_back(*next_due_);
            ++stats.scheduled;
            advance();
        }
        dispatch(now);
        // After the last arrival the pump wakes once more at the cycle's end:
        // a cycle lasts its whole duration, as asked.
        const bool wait_end = !next_due_ && generating_ && now < cycle_.deadline;
        if (next_due_ || wait_end) {
            // Wake-ups are at least --arrival-window apart: each costs a
            // timer and a return from epoll_wait (tens of us of CPU on a VM),
            // so arrivals closer than that start together, up to the window
            // after their schedule (their latency still counts from it).
            auto wake = next_due_ ? *next_due_ : cycle_.deadline;
            wake = std::max(wake, now + window_);
            pump_->expires_at(wake);
            pump_->async_wait([this, alive = std::weak_ptr<bool>(alive_)](boost::system::error_code ec) {
                auto a = alive.lock();
                if (ec || !a || !*a) return;
                pump();
            });
        } else if (generating_) {
            generating_ = false;
            if (pending_.empty()) wake_idle();
            host_->check_done();
        }
    }

    void drop_expired(Clock::time_point now) {
        Stats& stats = host_->worker_io().stats();
        while (!pending_.empty() && now - pending_.front() > timeout_) {
            pending_.pop_front();
            ++stats.dropped;
        }
    }

    void dispatch(Clock::time_point now) {
        drop_expired(now);
        while (!pending_.empty() && !idle_.empty()) {
            VirtualUser* u = idle_.back();
            idle_.pop_back();
            u->unpark(pending_.front());
            pending_.pop_front();
        }
        // Grow the pool for what no user is on its way to take.
        while (pending_.size() > starting_ && users_ < cap_) {
            ++users_;
            ++starting_;
            host_->spawn_user(run_wide_user_id(spec_, next_local_.fetch_add(1, std::memory_order_relaxed)),
                              Clock::duration::zero());
        }
        if (finished()) host_->check_done();
    }

    void wake_idle() {
        auto idle = std::move(idle_);
        idle_.clear();
        for (auto* u : idle) u->unpark(std::nullopt);
    }

    CycleState cycle_;
    std::optional<ArrivalStream> stream_;
    std::uint32_t cap_;
    const RunSpec& spec_;
    std::atomic<std::uint64_t>& next_local_;
    Clock::duration timeout_;
    Clock::duration window_ = std::chrono::duration_cast<Clock::duration>(spec_.plan.arrival_window);
    LoadHost* host_ = nullptr;
    std::optional<asio::steady_timer> pump_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    std::optional<Clock::time_point> next_due_;
    std::deque<Clock::time_point> pending_;  // due, waiting for a user
    std::vector<VirtualUser*> idle_;         // parked, waiting for an arrival
    std::uint32_t users_ = 0;                // alive in this cycle (starting, busy or idle)
    std::uint32_t starting_ = 0;             // spawned, not yet asking for a hit
    bool generating_ = true;
    bool cancelled_ = false;
};

class OpenModel final : public LoadModel {
public:
    explicit OpenModel(const RunSpec& spec) : spec_(spec) {}

    // The agent's share of the users, split over at most that many workers;
    // each worker with users is one stream of the run's arrivals.
    std::vector<std::unique_ptr<CycleLoad>> start_cycle(const CycleState& cycle, unsigned workers) override {
        const Plan& plan = spec_.plan;
        const std::uint32_t agents = std::max<std::uint32_t>(1, spec_.agent_count);
        const std::uint32_t a = spec_.agent_index;
        const std::uint32_t share = plan.max_users / agents + (a < plan.max_users % agents ? 1 : 0);
        const std::uint32_t streams = std::min<std::uint32_t>(workers, share);
        const RateCurve curve = RateCurve::of_cycle(plan, cycle.index);
        std::vector<std::unique_ptr<CycleLoad>> out;
        for (unsigned w = 0; w < workers; ++w) {
            std::optional<ArrivalStream> stream;
            std::uint32_t cap = 0;
            if (w < streams) {
                cap = share / streams + (w < share % streams ? 1 : 0);
                stream.emplace(curve, plan.arrivals, std::uint64_t(agents) * streams, std::uint64_t(w) * agents + a,
                               seeds_());
            }
            out.push_back(std::make_unique<OpenCycle>(cycle, std::move(stream), cap, spec_, next_local_));
        }
        return out;
    }

private:
    const RunSpec& spec_;
    std::atomic<std::uint64_t> next_local_{0};
    std::mt19937_64 seeds_{std::random_device{}()};
};

}  // namespace

std::unique_ptr<LoadModel> make_open_model(const RunSpec& spec) { return std::make_unique<OpenModel>(spec); }

}  // namespace loads
