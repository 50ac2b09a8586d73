// Run planning and merging as the broker does it: which part of the plan each
// agent gets, and what the merged figures say.
#include "run.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace std::chrono_literals;
using namespace loads;
using loads::broker::Run;
using loads::broker::RunState;

namespace {

proto::Submit submit_of(Plan plan, std::uint32_t agents) {
    proto::Submit s;
    s.spec.plan = std::move(plan);
    s.test = "http://127.0.0.1:9/";
    s.agents = agents;
    return s;
}

Plan closed_plan() {
    Plan p;
    p.cycles = {Cycle{10, 2, std::nullopt}, Cycle{20, 2, std::nullopt}, Cycle{30, 2, std::nullopt}};
    return p;
}

Plan open_plan(double rate, std::uint32_t max_users) {
    Plan p;
    p.model = LoadModelKind::open;
    p.cycles = {Cycle{0, 0, Duration(5s), rate}};
    p.max_users = max_users;
    return p;
}

proto::Result result(const std::string& run, std::uint64_t seq, std::uint64_t hits, std::uint32_t users = 0) {
    proto::Result r;
    r.run = run;
    r.seq = seq;
    r.hits_done = hits;
    r.stats.hits = r.stats.successes = hits;
    r.stats.scheduled = hits;
    r.stats.latency.record(1'000'000);
    r.users = users;
    r.users_busy = users / 2;
    return r;
}

}  // namespace

TEST_CASE("each agent of a run gets its place, and nothing else of the plan changes") {
    Run run("r1", submit_of(closed_plan(), 3), "runner");
    auto prepares = run.assign({"a", "b", "c"});
    REQUIRE(prepares.size() == 3);
    CHECK(run.state() == RunState::preparing);
    std::set<std::uint32_t> indexes;
    for (const auto& [agent, p] : prepares) {
        CHECK(p.run == "r1");
        CHECK(p.spec.agent_count == 3);
        CHECK(p.spec.plan.cycles == closed_plan().cycles);  // each agent runs the whole closed plan
        indexes.insert(p.spec.agent_index);
    }
    CHECK(indexes == std::set<std::uint32_t>{0, 1, 2});
    CHECK(prepares[0].first == "a");
    CHECK(prepares[0].second.spec.agent_index == 0);
    CHECK(prepares[2].second.spec.agent_index == 2);
}

TEST_CASE("an open run's rate and users are the whole run's: agents share them by index") {
    Run run("r2", submit_of(open_plan(2000, 10), 4), "runner");
    auto prepares = run.assign({"a", "b", "c", "d"});
    for (const auto& [agent, p] : prepares) {
        CHECK(p.spec.plan.open());
        CHECK(p.spec.plan.cycles[0].rate == 2000);  // the total: each agent takes every 4th arrival
        CHECK(p.spec.plan.max_users == 10);
        CHECK(p.spec.agent_count == 4);
    }
    CHECK(describe_rate_split(prepares[0].second.spec.plan, 4) == "2000/s (4 agents x 500/s)");
}

TEST_CASE("START goes out once every agent is ready; a rejection fails the run") {
    Run run("r3", submit_of(closed_plan(), 2), "runner");
    run.assign({"a", "b"});
    CHECK_FALSE(run.ready("a"));
    CHECK(run.ready("b"));

    Run bad("r4", submit_of(closed_plan(), 2), "runner");
    bad.assign({"a", "b"});
    bad.rejected("a", "library does not load");
    CHECK(bad.has_error());
    CHECK(bad.summary().error.find("library does not load") != std::string::npos);
}

TEST_CASE("results merge exactly; snapshots carry deltas and the agents' latest gauges") {
    Run run("r5", submit_of(open_plan(100, 10), 2), "runner");
    run.assign({"a", "b"});
    run.ready("a");
    run.ready("b");
    run.mark_running(1000);
    CHECK(run.result("a", result("r5", 1, 5, 4)).empty());
    CHECK(run.result("b", result("r5", 1, 7, 2)).empty());
    auto snap = run.take_snapshot(1s);
    CHECK(snap.delta.hits == 12);
    CHECK(snap.delta.scheduled == 12);
    CHECK(snap.delta.latency.count() == 2);
    CHECK(snap.hits_done == 12);
    CHECK(snap.users == 6);
    CHECK(snap.users_busy == 3);
    CHECK(run.result("a", result("r5", 2, 1, 4)).empty());
    CHECK(run.take_snapshot(2s).delta.hits == 1);  // a delta, not a total

    // A skipped batch is a gap: reported, and the run is incomplete.
    CHECK_FALSE(run.result("b", result("r5", 3, 1)).empty());
    proto::Finished fa{"r5", 2, false, 1000, 5s, {}};
    proto::Finished fb{"r5", 3, false, 1000, 5s, {}};
    run.finished("a", fa);
    run.finished("b", fb);
    CHECK(run.all_done());
    auto s = run.summary();
    CHECK(s.total.hits == 14);
    CHECK(s.incomplete);
}

TEST_CASE("a lost agent's figures so far are kept and the run is incomplete") {
    Run run("r6", submit_of(closed_plan(), 2), "runner");
    run.assign({"a", "b"});
    run.ready("a");
    run.ready("b");
    run.mark_running(1000);
    run.result("a", result("r6", 1, 3));
    run.result("b", result("r6", 1, 4));
    CHECK_FALSE(run.lost("b", 5000ms).empty());
    CHECK(run.agents_running() == 1);
    run.finished("a", proto::Finished{"r6", 1, false, 1000, 1s, {}});
    CHECK(run.all_done());
    auto s = run.summary();
    CHECK(s.total.hits == 7);
    CHECK(s.incomplete);
    REQUIRE(s.events.size() == 1);
    CHECK(s.events[0].find("agent b lost") != std::string::npos);
}

TEST_CASE("snapshots carry each agent's figures for the whole run, and its state") {
    Run run("r7", submit_of(closed_plan(), 2), "runner");
    run.assign({"a", "b"});
    run.ready("a");
    run.ready("b");
    run.mark_running(1000);
    auto with_errors = [](proto::Result r, std::uint64_t errors, std::uint64_t failures) {
        r.stats.errors = errors;
        r.stats.failures = failures;
        r.stats.successes = r.stats.hits - errors - failures;
        return r;
    };
    run.result("a", with_errors(result("r7", 1, 5, 4), 1, 0));
    run.result("b", with_errors(result("r7", 1, 7, 6), 2, 1));
    auto s1 = run.take_snapshot(1s);
    REQUIRE(s1.agents.size() == 2);
    CHECK(s1.agents[0] == proto::SnapshotAgent{"a", 5, 1, 0, 4, 2, "running"});
    CHECK(s1.agents[1] == proto::SnapshotAgent{"b", 7, 2, 1, 6, 3, "running"});

    // The next batches: hits_done is the agent's own count so far, errors and
    // failures add up over its batches, the gauges are the latest.
    run.result("a", with_errors(result("r7", 2, 9, 2), 0, 3));
    run.result("b", with_errors(result("r7", 2, 10, 8), 1, 1));
    auto s2 = run.take_snapshot(2s);
    REQUIRE(s2.agents.size() == 2);
    CHECK(s2.agents[0] == proto::SnapshotAgent{"a", 9, 1, 3, 2, 1, "running"});
    CHECK(s2.agents[1] == proto::SnapshotAgent{"b", 10, 3, 2, 8, 4, "running"});
    CHECK(s2.hits_done == s2.agents[0].hits_done + s2.agents[1].hits_done);

    // b goes silent: lost, its figures kept; a finishes.
    CHECK_FALSE(run.lost("b", 5000ms).empty());
    auto s3 = run.take_snapshot(3s);
    REQUIRE(s3.agents.size() == 2);
    CHECK(s3.agents[0].state == "running");
    CHECK(s3.agents[1] == proto::SnapshotAgent{"b", 10, 3, 2, 8, 4, "lost"});
    CHECK(s3.agents_running == 1);
    CHECK(s3.delta.hits == 0);
    run.finished("a", proto::Finished{"r7", 2, false, 1000, 3s, {}});
    auto s4 = run.take_snapshot(4s);
    CHECK(s4.agents[0].state == "finished");
    CHECK(s4.agents[0].errors == 1);
    CHECK(s4.agents[0].failures == 3);
    CHECK(s4.agents[1].state == "lost");
}
