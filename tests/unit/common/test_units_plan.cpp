#include "loads/plan.hpp"
#include "loads/units.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using loads::make_plan;
using loads::parse_count;
using loads::parse_count_list;
using loads::parse_duration;
using loads::parse_sleep;
using loads::PlanInput;

TEST_CASE("durations accept units") {
    CHECK(parse_duration("500ms").value == 500ms);
    CHECK(parse_duration("1.5s").value == 1500ms);
    CHECK(parse_duration("2m").value == 120s);
    CHECK(parse_duration("1h").value == 3600s);
    CHECK(parse_duration("10").value == 10s);
    CHECK(parse_duration("250us").value == 250us);
    CHECK(parse_duration(" 3s ").value == 3s);
}

TEST_CASE("bad durations are errors that name the input") {
    for (const char* bad : {"", "abc", "-1s", "10 parsecs", "5x", "s", ".", "1e999"}) {
        auto d = parse_duration(bad);
        INFO(bad);
        CHECK_FALSE(d);
        CHECK_FALSE(d.error.empty());
    }
    CHECK(parse_duration("5x").error.find("'5x'") != std::string::npos);
}

TEST_CASE("counts accept suffixes") {
    CHECK(parse_count("1200").value == 1200);
    CHECK(parse_count("10k").value == 10000);
    CHECK(parse_count("2M").value == 2000000);
    CHECK(parse_count("1.5k").value == 1500);
    CHECK_FALSE(parse_count("1.5"));
    CHECK_FALSE(parse_count("-3"));
    CHECK_FALSE(parse_count("ten"));
    CHECK_FALSE(parse_count("10q"));
    CHECK_FALSE(parse_count("1e30"));
    CHECK(parse_count_list("10:20:30").value == std::vector<std::uint64_t>{10, 20, 30});
    CHECK_FALSE(parse_count_list("10::30"));
    CHECK_FALSE(parse_count_list("10:x"));
    CHECK_FALSE(parse_count_list(""));
}

TEST_CASE("think time is fixed or a range") {
    auto fixed = parse_sleep("0.01");
    REQUIRE(fixed);
    CHECK(fixed.value.min == 10ms);
    CHECK(fixed.value.max == 10ms);
    auto range = parse_sleep("100ms:1s");
    REQUIRE(range);
    CHECK(range.value.min == 100ms);
    CHECK(range.value.max == 1s);
    CHECK_FALSE(parse_sleep("2s:1s"));
    CHECK_FALSE(parse_sleep("a:b"));
}

TEST_CASE("users 10:20:30 with hits 20 is three cycles and 1200 hits") {
    PlanInput in;
    in.users = "10:20:30";
    in.hits = "20";
    auto p = make_plan(in);
    REQUIRE(p);
    REQUIRE(p.value.cycles.size() == 3);
    CHECK(p.value.cycles[2].users == 30);
    CHECK(p.value.total_hits() == 1200u);
    CHECK_FALSE(p.value.total_duration());
}

TEST_CASE("a hits list pairs with the cycles") {
    PlanInput in;
    in.users = "1:2:3";
    in.hits = "5:10:20";
    auto p = make_plan(in);
    REQUIRE(p);
    CHECK(p.value.total_hits() == 1 * 5 + 2 * 10 + 3 * 20u);
    in.hits = "5:10";
    auto bad = make_plan(in);
    CHECK_FALSE(bad);
    CHECK(bad.error.find("-c/--hits") != std::string::npos);
}

TEST_CASE("duration plans hold each cycle") {
    PlanInput in;
    in.users = "1:2:3:5:7:10:13:16:20";
    in.duration = "10s";
    in.startup_delay = "50ms";
    in.sleep = "0.5:1";
    auto p = make_plan(in);
    REQUIRE(p);
    CHECK(p.value.total_duration() == 90s);
    CHECK_FALSE(p.value.total_hits());
    CHECK(p.value.startup_delay == 50ms);
    CHECK(p.value.sleep.max == 1s);
}

TEST_CASE("bad plans name the option") {
    auto error_of = [](PlanInput in) { return make_plan(in).error; };
    PlanInput in;
    in.users = "0";
    CHECK(error_of(in).find("-u/--users") != std::string::npos);
    in.users = "10:abc";
    CHECK(error_of(in).find("-u/--users") != std::string::npos);
    in.users = "2000000";
    CHECK(error_of(in).find("-u/--users") != std::string::npos);
    in = {};
    in.hits = "0";
    CHECK(error_of(in).find("-c/--hits") != std::string::npos);
    in = {};
    in.hits = "5";
    in.duration = "10s";
    CHECK(error_of(in) == "-c/--hits and -d/--duration cannot be combined");
    in = {};
    in.duration = "0s";
    CHECK(error_of(in).find("-d/--duration") != std::string::npos);
    in = {};
    in.sleep = "soon";
    CHECK(error_of(in).find("--sleep") != std::string::npos);
    in = {};
    in.startup_delay = "-1";
    CHECK(error_of(in).find("--startup-delay") != std::string::npos);
}
