#include "series.hpp"

#include <catch2/catch.hpp>

using namespace loads;
using namespace loads::runner;
using namespace std::chrono_literals;

namespace {
Stats hits(std::uint64_t n) {
    Stats s;
    s.hits = s.successes = n;
    return s;
}
}  // namespace

TEST_CASE("series rows keep the users gauge through a cycle's final delta", "[series]") {
    SeriesBuilder b(1s);
    b.add(500ms, 0, hits(50), 10, 10);
    b.add(1000ms, 0, hits(50), 10, 9);
    // The cycle's users have ended when its last delta is taken: its gauge
    // reads 0 although those users made its 40 hits.
    b.add(2000ms, 0, hits(40), 0, 0);
    b.add(3000ms, 1, hits(100), 20, 20);
    b.add(4000ms, 2, Stats{}, 0, 0);  // nothing made, nobody alive
    auto rows = b.finish(4000ms);
    REQUIRE(rows.size() == 4);
    CHECK(rows[0].users == 10);
    CHECK(rows[0].hits == 100);
    CHECK(rows[1].cycle == 0);
    CHECK(rows[1].hits == 40);
    CHECK(rows[1].users == 10);  // was 0 before: the chart dipped at every hand-over
    CHECK(rows[1].users_busy == 9);
    CHECK(rows[2].cycle == 1);
    CHECK(rows[2].users == 20);
    CHECK(rows[2].hits == 100);
    CHECK(rows[3].cycle == 2);
    CHECK(rows[3].users == 0);
    CHECK(rows[3].hits == 0);
}

TEST_CASE("series rows are consecutive and add up to the deltas", "[series]") {
    SeriesBuilder b(1s);
    std::uint64_t total = 0;
    for (int i = 1; i <= 10; ++i) {
        b.add(std::chrono::milliseconds(i * 250), 0, hits(i), 5, 5);
        total += i;
    }
    auto rows = b.finish(2500ms);
    std::uint64_t sum = 0;
    double end = 0;
    for (auto& r : rows) {
        CHECK(r.start_s == Approx(end));
        end = r.end_s;
        sum += r.hits;
    }
    CHECK(sum == total);
    CHECK(end == Approx(2.5));
}
