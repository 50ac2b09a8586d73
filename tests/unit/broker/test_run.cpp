// Run planning and merging as the broker does it: which part of the plan each
// agent gets, and what the merged figures say.
#include "run.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace std::chrono_literals;
using namespace loads;
using loads::broker::Run;
using loads::broker::ResultOutcome;
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
    CHECK(run.result("a", result("r5", 1, 5, 4)).message.empty());
    CHECK(run.result("b", result("r5", 1, 7, 2)).message.empty());
    auto snap = run.take_snapshot(1s);
    CHECK(snap.delta.hits == 12);
    CHECK(snap.delta.scheduled == 12);
    CHECK(snap.delta.latency.count() == 2);
    CHECK(snap.hits_done == 12);
    CHECK(snap.users == 6);
    CHECK(snap.users_busy == 3);
    CHECK(run.result("a", result("r5", 2, 1, 4)).message.empty());
    CHECK(run.take_snapshot(2s).delta.hits == 1);  // a delta, not a total

    // A skipped batch is a gap: reported, and the run is incomplete.
    CHECK_FALSE(run.result("b", result("r5", 3, 1)).message.empty());
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
        r.stats.errors_by_kind[static_cast<std::size_t>(ErrorKind::connect)] = errors;
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

namespace {
Run running_run(const std::string& id, std::uint32_t agents = 2) {
    Run run(id, submit_of(closed_plan(), agents), "runner");
    std::vector<std::string> names;
    for (std::uint32_t i = 0; i < agents; ++i) names.push_back(std::string(1, char('a' + i)));
    run.assign(names);
    for (const auto& n : names) run.ready(n);
    run.mark_running(1000);
    return run;
}
}  // namespace

TEST_CASE("check_stats: counts must be consistent and bounded") {
    using loads::broker::check_stats;
    using loads::broker::kMaxBatchCount;
    Stats ok = result("r", 1, 10).stats;
    CHECK(check_stats(ok).empty());

    Stats s = ok;
    s.hits = 11;  // hits != successes + failures + errors
    CHECK(check_stats(s).find("successes + failures + errors") != std::string::npos);

    s = ok;
    s.hits = s.successes = UINT64_MAX;  // wraps when merged
    CHECK(check_stats(s).find("above the bound") != std::string::npos);

    s = ok;
    s.successes = 9;
    s.errors = 1;  // but no kind
    CHECK(check_stats(s).find("errors_by_kind") != std::string::npos);
    s.errors_by_kind[static_cast<std::size_t>(ErrorKind::timeout)] = 1;
    CHECK(check_stats(s).empty());

    s = ok;
    s.latency = Histogram{};
    s.latency.record_n(1000, UINT64_MAX);  // a histogram claiming 2^64-1 values
    CHECK(check_stats(s).find("latency") != std::string::npos);
    s = ok;
    s.latency = Histogram{};
    s.latency.record_n(1000, kMaxBatchCount);
    CHECK(check_stats(s).empty());  // the bound itself is fine

    s = ok;
    s.label("GET /").count = 3;
    s.label("GET /").errors = 4;
    CHECK(check_stats(s).find("label errors") != std::string::npos);

    s = ok;
    s.labels[std::string(2u << 20, 'x')].count = 1;  // 2 MiB of label name, as a peer may send it
    CHECK(check_stats(s).find("label names") != std::string::npos);

    s = ok;
    s.messages[std::string(300u << 10, 'm')] = 1;
    CHECK(check_stats(s).find("message texts") != std::string::npos);

    s = ok;
    s.requests = kMaxBatchCount + 1;
    CHECK(check_stats(s).find("requests") != std::string::npos);
}

TEST_CASE("check_result: seq from 1, cycle within the plan") {
    using loads::broker::check_result;
    CHECK(check_result(result("r", 1, 1), 3).empty());
    CHECK(check_result(result("r", 0, 1), 3).find("seq 0") != std::string::npos);
    auto r = result("r", 1, 1);
    r.cycle = 3;
    CHECK(check_result(r, 3).find("cycle 3") != std::string::npos);
    r.cycle = 2;
    CHECK(check_result(r, 3).empty());
}

TEST_CASE("a refused batch is not merged, the run goes on and is incomplete") {
    Run run = running_run("r8");
    auto bad = result("r8", 1, 5);
    bad.stats.latency.record_n(1000, UINT64_MAX - 1);
    auto out = run.result("a", bad);
    CHECK(out.kind == ResultOutcome::refused);
    auto phantom = result("r8", 2, 5);
    phantom.cycle = 4000;  // the plan has 3
    CHECK(run.result("a", phantom).kind == ResultOutcome::refused);
    CHECK(run.result("b", result("r8", 1, 7)).kind == ResultOutcome::merged);
    auto s = run.summary();
    CHECK(s.total.hits == 7);
    CHECK(s.total.latency.count() == 1);
    CHECK(s.cycles.size() == 1);  // no phantom cycle
    CHECK(s.incomplete);

    // Two batches at the bound cannot wrap the total: it grows past 2^40.
    Run big = running_run("r9");
    auto at_bound = [](std::uint64_t seq) {
        auto r = result("r9", seq, 0);
        r.stats.hits = r.stats.successes = loads::broker::kMaxBatchCount;
        return r;
    };
    CHECK(big.result("a", at_bound(1)).kind == ResultOutcome::merged);
    CHECK(big.result("a", at_bound(2)).kind == ResultOutcome::merged);
    CHECK(big.summary().total.hits == 2 * loads::broker::kMaxBatchCount);
}

TEST_CASE("seq: a gap is reported, a late batch merged, a duplicate dropped, 0 refused") {
    Run run = running_run("r10", 1);
    CHECK(run.result("a", result("r10", 1, 1)).kind == ResultOutcome::merged);
    auto gap = run.result("a", result("r10", 4, 1));
    CHECK(gap.kind == ResultOutcome::merged);
    CHECK(gap.message.find("2..3 missing") != std::string::npos);
    CHECK(run.summary().incomplete);
    CHECK(run.result("a", result("r10", 3, 1)).kind == ResultOutcome::late);
    CHECK(run.result("a", result("r10", 3, 1)).kind == ResultOutcome::duplicate);
    CHECK(run.result("a", result("r10", 4, 1)).kind == ResultOutcome::duplicate);
    CHECK(run.summary().incomplete);  // batch 2 still missing
    CHECK(run.result("a", result("r10", 2, 1)).kind == ResultOutcome::late);
    CHECK(run.summary().total.hits == 4);  // 1, 4, 3, 2: each once
    CHECK(run.finished("a", proto::Finished{"r10", 4, false, 1000, 1s, {}}).empty());
    CHECK_FALSE(run.summary().incomplete);  // every batch arrived in the end

    // seq 0 is never valid: refused, and its figures are missing from the run.
    Run zero = running_run("r12", 1);
    CHECK(zero.result("a", result("r12", 0, 1)).kind == ResultOutcome::refused);
    CHECK(zero.summary().total.hits == 0);
    CHECK(zero.summary().incomplete);
}

TEST_CASE("FINISHED before START is refused; after a STOP or a rejection it ends the part") {
    Run run("r11", submit_of(closed_plan(), 2), "runner");
    run.assign({"a", "b"});
    CHECK_FALSE(run.finished("a", proto::Finished{"r11", 0, false, 0, 0s, {}}).empty());
    CHECK_FALSE(run.all_done());
    CHECK(run.result("a", result("r11", 1, 1)).kind == ResultOutcome::refused);  // RESULT before START

    // b rejects: a's READY does not start the run, and a's FINISHED (after STOP) ends it.
    run.rejected("b", "no such test");
    CHECK_FALSE(run.ready("a"));
    CHECK(run.finished("a", proto::Finished{"r11", 0, true, 0, 0s, {}}).empty());
    CHECK(run.all_done());
    CHECK_FALSE(run.finished("a", proto::Finished{"r11", 0, true, 0, 0s, {}}).empty());  // twice
}

TEST_CASE("recovery: a lost agent rejoins; ACK's seq is what is held with none missing; the run is complete") {
    Run run = running_run("r20", 2);
    CHECK(run.result("a", result("r20", 1, 2)).kind == ResultOutcome::merged);
    CHECK(run.result("a", result("r20", 2, 2)).kind == ResultOutcome::merged);
    CHECK(run.acked("a") == 2);
    CHECK(run.result("b", result("r20", 1, 5)).kind == ResultOutcome::merged);
    CHECK_FALSE(run.lost("a", 1500ms).empty());
    CHECK(run.summary().incomplete);  // while it is away
    // Its place is kept a window long for it to come back.
    CHECK(run.awaits_rejoin(broker::Clock::now(), 1500ms));
    CHECK_FALSE(run.awaits_rejoin(broker::Clock::now() + 2s, 1500ms));
    CHECK(run.rejoin("b", broker::Clock::now()).empty());  // b was never lost
    auto back = run.rejoin("a", broker::Clock::now() + 8s);
    CHECK(back.find("agent a rejoined") != std::string::npos);
    CHECK(back.find("after 9.5 s away") != std::string::npos);
    // It resends what came after 2, and 2 again: a duplicate, counted once.
    CHECK(run.result("a", result("r20", 2, 2)).kind == ResultOutcome::duplicate);
    CHECK(run.result("a", result("r20", 4, 2)).kind == ResultOutcome::merged);  // 3 missing
    CHECK(run.acked("a") == 2);
    CHECK(run.result("a", result("r20", 3, 2)).kind == ResultOutcome::late);
    CHECK(run.acked("a") == 4);
    CHECK(run.finished("a", proto::Finished{"r20", 4, false, 1000, 1s, {}}).empty());
    CHECK(run.part_finished("a"));
    CHECK(run.finished("b", proto::Finished{"r20", 1, false, 1000, 1s, {}}).empty());
    auto s = run.summary();
    CHECK(s.total.hits == 13);
    CHECK_FALSE(s.incomplete);
    CHECK(s.events.back() == "agent a was lost for 9.5 s and rejoined; nothing missing");
}

TEST_CASE("recovery: a restarted broker re-creates a run from its agents, ranges count once") {
    proto::RunState held;
    held.run = "r21";
    held.spec.plan = closed_plan();
    held.spec.agent_index = 1;
    held.spec.agent_count = 2;
    held.test = "http://shop/";
    held.owner = "runner-key";
    held.started_ms = 5000;
    const auto t0 = broker::Clock::now();
    auto run = Run::recreate(held, t0);
    CHECK(run->recreated());
    CHECK(run->state() == RunState::running);
    CHECK(run->owner() == "runner-key");
    CHECK(run->submit().agents == 2);
    CHECK(run->add_returning("a"));
    CHECK_FALSE(run->add_returning("a"));  // already in
    CHECK(run->acked("a") == 0);
    // Cycle 0's batches 1..3 merged into one, then 4 and 5 one by one.
    auto range = result("r21", 3, 6);
    range.first_seq = 1;
    CHECK(run->result("a", range).kind == ResultOutcome::merged);
    CHECK(run->result("a", range).kind == ResultOutcome::duplicate);
    auto overlap = result("r21", 4, 1);
    overlap.first_seq = 2;  // 2..4 overlaps 1..3: refused whole
    CHECK(run->result("a", overlap).kind == ResultOutcome::refused);
    Run clean = *Run::recreate(held, t0);
    clean.add_returning("a");
    CHECK(clean.result("a", range).kind == ResultOutcome::merged);
    CHECK(clean.result("a", result("r21", 4, 1)).kind == ResultOutcome::merged);
    CHECK(clean.acked("a") == 4);
    CHECK(clean.finished("a", proto::Finished{"r21", 4, false, 5000, 1s, {}}).empty());
    CHECK_FALSE(clean.all_done());  // waits for its other agent...
    CHECK_FALSE(clean.give_up_missing(t0 + 1s, 1500ms));
    CHECK(clean.give_up_missing(t0 + 2s, 1500ms));  // ...one liveness window
    CHECK(clean.all_done());
    auto s = clean.summary();
    CHECK(s.total.hits == 7);
    CHECK(s.incomplete);  // one agent never came back
    CHECK(s.events.front().find("the broker restarted") != std::string::npos);
    CHECK(s.events.back().find("1 of 2 agents did not come back") != std::string::npos);
    // Both come back: complete.
    Run both = *Run::recreate(held, t0);
    CHECK(both.add_returning("a"));
    CHECK(both.add_returning("b"));
    CHECK_FALSE(both.add_returning("c"));  // agent_count is 2
    CHECK(both.result("a", range).kind == ResultOutcome::merged);
    CHECK(both.result("b", result("r21", 1, 2)).kind == ResultOutcome::merged);
    both.finished("a", proto::Finished{"r21", 3, false, 5000, 1s, {}});
    both.finished("b", proto::Finished{"r21", 1, false, 5000, 1s, {}});
    CHECK(both.all_done());
    CHECK_FALSE(both.summary().incomplete);
    CHECK(both.summary().total.hits == 8);
}
