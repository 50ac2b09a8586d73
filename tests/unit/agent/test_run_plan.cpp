// How a run is split over agents (issue 14): the broker gives each agent its
// agent_index of agent_count and the whole plan (tests/unit/broker/test_run.cpp);
// here, what each agent's closed model makes of it: the users of every cycle,
// on which worker, when they start, and user ids unique over agents and
// cycles. The open model's split of the arrivals is in test_arrivals.cpp.
#include "load_model.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <stdexcept>

using namespace std::chrono_literals;
using namespace loads;

namespace {

// The worker side of the seam: records the users a cycle starts.
class StartedUsers final : public LoadHost {
public:
    void spawn_user(std::uint32_t id, Clock::duration delay) override { users.push_back({id, delay}); }
    void check_done() override {}
    WorkerIo& worker_io() override { throw std::logic_error("not used by begin()"); }
    struct User {
        std::uint32_t id;
        Clock::duration delay;
    };
    std::vector<User> users;
};

RunSpec closed_spec(std::uint32_t index, std::uint32_t count) {
    RunSpec s;
    s.plan.cycles = {Cycle{10, 2, std::nullopt}, Cycle{20, 2, std::nullopt}, Cycle{30, 2, std::nullopt}};
    s.plan.startup_delay = 10ms;
    s.agent_index = index;
    s.agent_count = count;
    return s;
}

}  // namespace

TEST_CASE("closed model: every agent runs each cycle's users, ids are one block per agent, unique over the run") {
    constexpr std::uint32_t kAgents = 3;
    constexpr unsigned kWorkers = 4;
    const std::uint32_t block = 10 + 20 + 30;
    std::set<std::uint32_t> all;
    for (std::uint32_t a = 0; a < kAgents; ++a) {
        const RunSpec spec = closed_spec(a, kAgents);
        auto model = make_load_model(spec);
        std::uint32_t before = 0;  // users of the earlier cycles
        for (std::uint32_t c = 0; c < spec.plan.cycles.size(); ++c) {
            const std::uint32_t users = spec.plan.cycles[c].users;
            CycleState cycle;
            cycle.index = c;
            cycle.hits = 2;
            cycle.started = Clock::now();
            auto parts = model->start_cycle(cycle, kWorkers);
            REQUIRE(parts.size() == kWorkers);
            std::vector<std::uint32_t> ids;
            for (unsigned w = 0; w < kWorkers; ++w) {
                StartedUsers host;
                parts[w]->begin(host);
                // User k of the cycle goes to worker k % workers.
                CHECK(host.users.size() == users / kWorkers + (w < users % kWorkers ? 1 : 0));
                for (const auto& u : host.users) {
                    const std::uint32_t k = u.id - a * block - before;
                    CHECK(k % kWorkers == w);
                    // ... and starts k startup delays after the cycle (less the
                    // moment begin() ran after it).
                    CHECK(u.delay <= std::chrono::duration_cast<Clock::duration>(k * 10ms));
                    CHECK(u.delay > std::chrono::duration_cast<Clock::duration>(k * 10ms) - 1s);
                    ids.push_back(u.id);
                }
            }
            REQUIRE(ids.size() == users);
            // This cycle's ids follow the earlier cycles', inside the agent's block.
            std::set<std::uint32_t> mine(ids.begin(), ids.end());
            CHECK(mine.size() == users);
            CHECK(*mine.begin() == a * block + before);
            CHECK(*mine.rbegin() == a * block + before + users - 1);
            for (auto id : ids) CHECK(all.insert(id).second);  // never seen on another agent or cycle
            before += users;
        }
    }
    CHECK(all.size() == kAgents * block);
    CHECK(*all.rbegin() == kAgents * block - 1);
}

TEST_CASE("open model: user ids interleave over agents, unique however many each starts") {
    constexpr std::uint32_t kAgents = 4;
    std::set<std::uint32_t> all;
    std::map<std::uint32_t, std::uint32_t> by_agent;
    for (std::uint32_t a = 0; a < kAgents; ++a) {
        RunSpec spec;
        spec.plan.model = LoadModelKind::open;
        spec.plan.cycles = {Cycle{0, 0, Duration(5s), 100.0}};
        spec.agent_index = a;
        spec.agent_count = kAgents;
        // Agents start different numbers of users (the pool grows with need).
        for (std::uint64_t local = 0; local < 50 + 10 * a; ++local) {
            const auto id = run_wide_user_id(spec, local);
            CHECK(id % kAgents == a);
            CHECK(id == local * kAgents + a);
            CHECK(all.insert(id).second);
            ++by_agent[a];
        }
    }
    CHECK(all.size() == 50 + 60 + 70 + 80);
    CHECK(by_agent.size() == kAgents);
}

TEST_CASE("a spec without agents is one agent: agent_count 0 does not divide by zero") {
    RunSpec spec = closed_spec(0, 0);
    CHECK(run_wide_user_id(spec, 7) == 7);
    spec.plan.model = LoadModelKind::open;
    CHECK(run_wide_user_id(spec, 7) == 7);
}
