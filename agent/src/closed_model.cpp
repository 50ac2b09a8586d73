// The closed model (-u): each cycle starts its users one startup delay apart;
// each runs its hits back to back (with think time) until it has made
// `hits` of them or the cycle's deadline has passed. The server's pace sets
// how many hits go out.
#include "load_model.hpp"
#include "virtual_user.hpp"

#include <random>

namespace loads {
namespace {

struct UserStart {
    std::uint32_t id;
    Clock::duration delay;  // from the cycle start
};

class ClosedCycle final : public CycleLoad {
public:
    ClosedCycle(const CycleState& cycle, const Plan& plan, std::vector<UserStart> users)
        : cycle_(cycle), sleep_(plan.sleep), users_(std::move(users)) {}

    void begin(LoadHost& host) override {
        host_ = &host;
        // Delays count from the cycle start, not from when this runs.
        const auto late = Clock::now() - cycle_.started;
        for (const auto& u : users_) host.spawn_user(u.id, u.delay - late);
        users_.clear();
        begun_ = true;
        host.check_done();
    }

    bool may_start(VirtualUser& user) override { return should_continue(user); }

    std::optional<HitTicket> next_hit(VirtualUser& user) override {
        // Think time: the last task's own (weighted tasks, "@1s"), else --sleep.
        const auto think = user.task_think();
        const SleepRange& sleep = think ? *think : sleep_;
        if (user.hit_index() > 0 && sleep.max > Duration::zero() && should_continue(user)) {
            auto d = sleep.min;
            if (sleep.max > sleep.min) {
                std::uniform_int_distribution<std::int64_t> dist(sleep.min.count(), sleep.max.count());
                d = Duration(dist(host_->worker_io().rng()));
            }
            auto pause = std::chrono::duration_cast<Clock::duration>(d);
            if (cycle_.timed) pause = std::min(pause, cycle_.deadline - Clock::now());
            user.pause(pause);
        }
        if (!should_continue(user)) return std::nullopt;
        return HitTicket{};  // due now: nothing is measured from it
    }

    std::uint64_t hits_left(const VirtualUser& user, std::uint64_t taken) const override {
        if (cycle_.timed) return 0;
        const auto done = user.hit_index() + taken;
        return cycle_.hits > done ? cycle_.hits - done : 0;
    }

    bool finished() const override { return begun_; }

private:
    bool should_continue(VirtualUser& user) const {
        if (host_->worker_io().stopping()) return false;
        if (cycle_.timed) return Clock::now() < cycle_.deadline;
        return user.hit_index() < cycle_.hits;
    }

    CycleState cycle_;
    SleepRange sleep_;
    std::vector<UserStart> users_;
    LoadHost* host_ = nullptr;
    bool begun_ = false;
};

class ClosedModel final : public LoadModel {
public:
    explicit ClosedModel(const RunSpec& spec) : spec_(spec) {}

    // User k of the cycle goes to worker k % workers and starts k startup
    // delays after the cycle.
    std::vector<std::unique_ptr<CycleLoad>> start_cycle(const CycleState& cycle, unsigned workers) override {
        const Plan& plan = spec_.plan;
        const Cycle& c = plan.cycles.at(cycle.index);
        std::vector<std::vector<UserStart>> starts(workers);
        for (std::uint32_t k = 0; k < c.users; ++k)
            starts[k % workers].push_back({run_wide_user_id(spec_, next_local_ + k),
                                           std::chrono::duration_cast<Clock::duration>(plan.startup_delay * k)});
        next_local_ += c.users;
        std::vector<std::unique_ptr<CycleLoad>> out;
        for (unsigned w = 0; w < workers; ++w)
            out.push_back(std::make_unique<ClosedCycle>(cycle, plan, std::move(starts[w])));
        return out;
    }

private:
    const RunSpec& spec_;
    std::uint64_t next_local_ = 0;
};

}  // namespace

std::unique_ptr<LoadModel> make_closed_model(const RunSpec& spec) { return std::make_unique<ClosedModel>(spec); }

}  // namespace loads
