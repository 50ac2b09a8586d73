// The open model's schedule: rates, ramps, and the split of one run's
// arrivals over agents and workers.
#include "loads/arrivals.hpp"
#include "loads/plan.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

using namespace std::chrono_literals;
using namespace loads;

namespace {

std::vector<double> all_of(ArrivalStream s) {
    std::vector<double> out;
    while (auto t = s.next()) out.push_back(*t);
    return out;
}

Plan open_plan(std::vector<double> rates, Duration d, Duration ramp = 0s) {
    Plan p;
    p.model = LoadModelKind::open;
    for (double r : rates) p.cycles.push_back(Cycle{0, 0, d, r});
    p.ramp = ramp;
    return p;
}

}  // namespace

TEST_CASE("a constant rate schedules exactly rate x duration uniform arrivals, evenly spaced") {
    for (double rate : {1000.0, 10000.0, 0.5, 333.0}) {
        RateCurve c(rate, rate, 0s, 6s);
        auto t = all_of(ArrivalStream(c, Arrivals::uniform, 1, 0, 1));
        INFO("rate " << rate);
        CHECK(t.size() == static_cast<std::size_t>(std::ceil(rate * 6.0)));
        CHECK(t.front() == 0.0);
        for (std::size_t i = 1; i < t.size(); ++i) CHECK(t[i] - t[i - 1] == Approx(1.0 / rate).epsilon(1e-9));
        CHECK(t.back() < 6.0);
    }
}

TEST_CASE("a ramp's cumulative arrivals are the area under the rate") {
    RateCurve c(0, 1000, 2s, 5s);
    CHECK(c.rate_at(1.0) == Approx(500));
    CHECK(c.arrivals_until(2.0) == Approx(1000));       // (0 + 1000) / 2 * 2 s
    CHECK(c.total() == Approx(1000 + 3000));            // then 3 s at 1000/s
    for (double x : {0.0, 1.0, 250.0, 999.0, 1000.0, 2500.0, 3999.0}) CHECK(c.arrivals_until(*c.time_of(x)) == Approx(x));
    CHECK_FALSE(c.time_of(4000.0));
    auto t = all_of(ArrivalStream(c, Arrivals::uniform, 1, 0, 1));
    CHECK(t.size() == 4000);
    // Spacing shrinks along the ramp: the 100th gap is wider than the 900th.
    CHECK(t[101] - t[100] > t[901] - t[900]);

    RateCurve down(1000, 200, 1s, 2s);  // ramps down from the previous cycle
    CHECK(down.total() == Approx(600 + 200));
    for (double x : {0.0, 300.0, 599.0, 700.0}) CHECK(down.arrivals_until(*down.time_of(x)) == Approx(x));
}

TEST_CASE("a plan's cycles ramp from the previous cycle's rate, and from 0 to the first") {
    Plan p = open_plan({500, 1000}, 10s, 2s);
    auto first = RateCurve::of_cycle(p, 0), second = RateCurve::of_cycle(p, 1);
    CHECK(first.rate_at(0) == Approx(0));
    CHECK(first.rate_at(1) == Approx(250));
    CHECK(second.rate_at(0) == Approx(500));
    CHECK(second.rate_at(5) == Approx(1000));
    CHECK(first.total() == Approx(500 + 8 * 500));
}

TEST_CASE("agents and workers split one schedule: their union is the run's arrivals, nothing twice") {
    RateCurve c(0, 2000, 1s, 3s);
    auto whole = all_of(ArrivalStream(c, Arrivals::uniform, 1, 0, 1));
    // 3 agents with 2, 1 and 4 workers (streams), as a run could have.
    const std::uint64_t agents = 3;
    const std::vector<std::uint64_t> streams = {2, 1, 4};
    std::vector<double> merged;
    for (std::uint64_t a = 0; a < agents; ++a)
        for (std::uint64_t w = 0; w < streams[a]; ++w) {
            auto part = all_of(ArrivalStream(c, Arrivals::uniform, agents * streams[a], w * agents + a, 7));
            CHECK(std::is_sorted(part.begin(), part.end()));
            merged.insert(merged.end(), part.begin(), part.end());
        }
    std::sort(merged.begin(), merged.end());
    REQUIRE(merged.size() == whole.size());
    for (std::size_t i = 0; i < whole.size(); ++i) CHECK(merged[i] == Approx(whole[i]).margin(1e-12));
}

TEST_CASE("poisson arrivals keep the rate on average and vary their gaps") {
    RateCurve c(10000, 10000, 0s, 5s);
    auto t = all_of(ArrivalStream(c, Arrivals::poisson, 4, 1, 42));
    // One of 4 streams: 12,500 expected; a Poisson count's sd is ~112.
    CHECK(std::fabs(double(t.size()) - 12500.0) < 5 * 112);
    std::vector<double> gaps;
    for (std::size_t i = 1; i < t.size(); ++i) gaps.push_back(t[i] - t[i - 1]);
    double mean = 0, var = 0;
    for (double g : gaps) mean += g;
    mean /= double(gaps.size());
    for (double g : gaps) var += (g - mean) * (g - mean);
    var /= double(gaps.size());
    CHECK(mean == Approx(4.0 / 10000).epsilon(0.05));
    CHECK(std::sqrt(var) == Approx(mean).epsilon(0.05));  // exponential gaps: sd = mean
}

TEST_CASE("the rate option builds an open plan; the closed-model options are refused with it") {
    PlanInput in;
    in.rate = "500:1k:2.5k";
    in.duration = "30s";
    in.ramp = "5s";
    in.arrivals = "poisson";
    in.max_users = "200";
    auto p = make_plan(in);
    REQUIRE(p);
    CHECK(p.value.open());
    REQUIRE(p.value.cycles.size() == 3);
    CHECK(p.value.cycles[1].rate == 1000);
    CHECK(p.value.cycles[2].rate == 2500);
    CHECK(p.value.cycles[2].duration == Duration(30s));
    CHECK(p.value.ramp == Duration(5s));
    CHECK(p.value.arrivals == Arrivals::poisson);
    CHECK(p.value.max_users == 200);
    CHECK(describe_rate_split(p.value, 5) == "500/s (5 agents x 100/s) : 1000/s (5 agents x 200/s) : 2500/s (5 agents x 500/s)");

    auto err = [](PlanInput i) {
        auto r = make_plan(i);
        CHECK_FALSE(r);
        return r.error;
    };
    PlanInput base;
    base.rate = "100";
    base.duration = "10s";
    CHECK(make_plan(base).value.max_users == 1000);
    CHECK(make_plan(base).value.arrival_window == Duration(500us));
    { auto i = base; i.arrival_window = "0"; CHECK(make_plan(i).value.arrival_window == Duration(0)); }
    { auto i = base; i.arrival_window = "1s"; CHECK(err(i).find("--arrival-window") != std::string::npos); }
    { auto i = base; i.duration = ""; CHECK(err(i).find("-d/--duration") != std::string::npos); }
    { auto i = base; i.users_given = true; CHECK(err(i).find("-u/--users") != std::string::npos); }
    { auto i = base; i.duration = ""; i.hits = "5"; CHECK(err(i).find("-c/--hits") != std::string::npos); }
    { auto i = base; i.sleep = "10ms"; CHECK(err(i).find("--sleep") != std::string::npos); }
    { auto i = base; i.startup_delay = "1s"; CHECK(err(i).find("--startup-delay") != std::string::npos); }
    { auto i = base; i.ramp = "11s"; CHECK(err(i).find("--ramp") != std::string::npos); }
    { auto i = base; i.arrivals = "bursty"; CHECK(err(i).find("--arrivals") != std::string::npos); }
    { auto i = base; i.max_users = "0"; CHECK(err(i).find("--max-users") != std::string::npos); }
    { auto i = base; i.max_users = "2"; i.agents = 3; CHECK(err(i).find("agents") != std::string::npos); }
    { auto i = base; i.rate = "0"; CHECK(err(i).find("--rate") != std::string::npos); }
    { auto i = base; i.rate = "-5"; CHECK(err(i).find("--rate") != std::string::npos); }
    { auto i = base; i.rate = "10x"; CHECK(err(i).find("'10x'") != std::string::npos); }
    {
        auto i = base;
        i.agents = 4;
        CHECK(make_plan(i).value.max_users == 4000);  // 1000 per agent by default
    }
    // Open-model options without --rate.
    PlanInput closed;
    closed.ramp = "1s";
    CHECK(err(closed).find("--ramp") != std::string::npos);
    closed.ramp = "";
    closed.max_users = "5";
    CHECK(err(closed).find("--max-users") != std::string::npos);
    closed.max_users = "";
    closed.arrival_window = "1ms";
    CHECK(err(closed).find("--arrival-window") != std::string::npos);
}

TEST_CASE("rates accept units and fractions") {
    CHECK(parse_rate("500").value == 500);
    CHECK(parse_rate("0.5").value == 0.5);
    CHECK(parse_rate("10k").value == 10000);
    CHECK(parse_rate("1.5k/s").value == 1500);
    CHECK(parse_rate("2M").value == 2e6);
    CHECK(parse_rate_list("1k:2k").value == std::vector<double>{1000, 2000});
    for (const char* bad : {"", "0", "-1", "abc", "1e999", "5G", "200M", "1k:"}) {
        INFO(bad);
        CHECK_FALSE(parse_rate_list(bad));
    }
}
