// Weighted tasks (tasks.hpp): the selection's grammar, the interleaving's
// counts, and resolution against a real test library (libtestcases.so).
#include "tasks.hpp"
#include "test_library.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace loads;
using namespace std::chrono_literals;

TEST_CASE("tasks: the selection's grammar") {
    auto p = parse_task_selection("Shop.browse:3, Shop.buy:1@1s:2s ,Admin@200ms,ns::Shop.view,ns::Shop.pay:2");
    REQUIRE(p);
    const auto& v = p.value;
    REQUIRE(v.size() == 5);
    CHECK(v[0].name == "Shop.browse");
    CHECK(v[0].weight == 3u);
    CHECK_FALSE(v[0].think);
    CHECK(v[1].name == "Shop.buy");
    CHECK(v[1].weight == 1u);
    REQUIRE(v[1].think);
    CHECK(v[1].think->min == Duration(1s));
    CHECK(v[1].think->max == Duration(2s));
    CHECK(v[2].name == "Admin");
    CHECK_FALSE(v[2].weight);
    CHECK(v[2].think->min == Duration(200ms));
    CHECK(v[3].name == "ns::Shop.view");
    CHECK_FALSE(v[3].weight);
    CHECK(v[4].name == "ns::Shop.pay");
    CHECK(v[4].weight == 2u);

    auto err = [](std::string_view s) {
        auto r = parse_task_selection(s);
        REQUIRE_FALSE(r);
        return r.error;
    };
    CHECK(err("Shop.a:0").find("whole number from 1 to 10000") != std::string::npos);
    CHECK(err("Shop.a:10001").find("whole number from 1 to 10000") != std::string::npos);
    CHECK(err("Shop.a:x").find("whole number") != std::string::npos);
    CHECK(err("Shop.a:-1").find("whole number") != std::string::npos);
    CHECK(err("Shop.a,,Shop.b").find("an empty test name") != std::string::npos);
    CHECK(err("Shop.a,").find("an empty test name") != std::string::npos);
    CHECK(err("Shop.a@soon").find("think time") != std::string::npos);
    CHECK(err(":3").find("no test name") != std::string::npos);
    CHECK(err("Shop:3").find("a whole class takes its tests' declared weights") != std::string::npos);
}

TEST_CASE("tasks: the interleaving holds each task its weight times, evenly spread") {
    auto order = interleave({3, 1});
    CHECK(order == std::vector<std::uint16_t>{0, 0, 1, 0});
    for (const auto& weights : std::vector<std::vector<std::uint32_t>>{{1}, {1, 1}, {5, 3, 2}, {7, 1, 1, 1}, {100, 1}}) {
        auto o = interleave(weights);
        std::uint32_t total = 0;
        for (auto w : weights) total += w;
        REQUIRE(o.size() == total);
        // Any window of n positions, wrapping, holds task i within one of n * w_i / W.
        for (std::size_t n : {std::size_t(1), std::size_t(2), std::size_t(total / 2 + 1), std::size_t(total)})
            for (std::size_t start = 0; start < total; ++start) {
                std::vector<std::uint32_t> seen(weights.size(), 0);
                for (std::size_t k = 0; k < n; ++k) ++seen[o[(start + k) % total]];
                for (std::size_t i = 0; i < weights.size(); ++i) {
                    const double ideal = double(n) * weights[i] / total;
                    CHECK(std::abs(double(seen[i]) - ideal) < 2.0);
                    if (n == total) CHECK(seen[i] == weights[i]);
                }
            }
    }
}

TEST_CASE("tasks: resolved against a library, with declared weights and classes") {
    auto lib = TestLibrary::open(LOADS_TESTCASES_LIB);
    REQUIRE(lib);
    const TestLibrary& l = *lib.value;

    auto one = resolve_tasks("Cases.test_throws", l);
    REQUIRE(one);
    REQUIRE(one.value.tasks.size() == 1);
    CHECK(one.value.tasks[0].weight == 1);
    CHECK(one.value.order.size() == 1);

    auto mix = resolve_tasks("Mix", l);  // LOADS_TASK(Mix, a, 3), LOADS_TASK(Mix, b, 1)
    REQUIRE(mix);
    REQUIRE(mix.value.tasks.size() == 2);
    CHECK(mix.value.tasks[0].name == "Mix.a");
    CHECK(mix.value.tasks[0].weight == 3);
    CHECK(mix.value.tasks[1].weight == 1);
    CHECK(mix.value.classes == std::vector<std::string>{"Mix"});

    auto both = resolve_tasks("Mix.b:2,Other@1s", l);
    REQUIRE(both);
    const auto& t = both.value.tasks;
    REQUIRE(t.size() == 3);
    CHECK(t[0].name == "Mix.b");
    CHECK(t[0].weight == 2);  // the run's weight wins over the declared one
    CHECK(t[1].name == "Other.c");
    CHECK(t[1].weight == 1);
    CHECK(t[1].think->min == Duration(1s));
    CHECK(both.value.classes == std::vector<std::string>{"Mix", "Other"});
    CHECK(t[0].instance == 0);
    CHECK(t[1].instance == 1);
    CHECK(t[2].instance == 1);

    // User u's hit h is position (u + h) mod W: W consecutive hits of any
    // user hold each task its weight times.
    std::map<std::string, int> counts;
    for (std::uint64_t h = 0; h < 4; ++h) ++counts[both.value.pick(7, h).name];
    CHECK(counts == std::map<std::string, int>{{"Mix.b", 2}, {"Other.c", 1}, {"Other.failing", 1}});

    CHECK(resolve_tasks("Mix.a,Mix.a", l).error == "task \"Mix.a\" is named twice");
    CHECK(resolve_tasks("Mix,Mix.a:2", l).error == "task \"Mix.a\" is named twice");
    CHECK(resolve_tasks("Mix.zz", l).error.find("no test \"Mix.zz\"") != std::string::npos);
    auto nope = resolve_tasks("Nope", l);
    CHECK(nope.error.find("no class \"Nope\"") != std::string::npos);
    CHECK(nope.error.find("Mix.a") != std::string::npos);  // lists what there is
}
