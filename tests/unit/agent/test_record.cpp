// The one recording path of every timed operation (record.hpp, issue 14):
// what a row counts, what enters which histogram.
#include "record.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using namespace loads;

TEST_CASE("a success is counted and timed in its row and in the run") {
    Stats s;
    LabelStats& l = s.label("GET /");
    record_latency(s, l, 3ms, Outcome::ok);
    CHECK(l.count == 1);
    CHECK(l.errors == 0);
    CHECK(l.latency.count() == 1);
    CHECK(s.latency.count() == 1);
    CHECK(l.latency.max() >= 2'900'000);
    CHECK(l.latency.max() <= 3'100'000);
}

TEST_CASE("a timed error (a timeout) enters the histograms at its elapsed time") {
    Stats s;
    LabelStats& l = s.label("GET /slow");
    CHECK(error_outcome(ErrorKind::timeout) == Outcome::error);
    record_latency(s, l, 2s, error_outcome(ErrorKind::timeout));
    CHECK(l.count == 1);
    CHECK(l.errors == 1);
    CHECK(l.latency.count() == 1);
    CHECK(s.latency.count() == 1);
    CHECK(s.latency.max() >= 1'980'000'000);
}

TEST_CASE("an untimed error (refused, reset) is counted, not timed") {
    for (ErrorKind k : {ErrorKind::connect, ErrorKind::reset, ErrorKind::tls, ErrorKind::protocol}) {
        Stats s;
        LabelStats& l = s.label("GET /");
        CHECK(error_outcome(k) == Outcome::error_untimed);
        record_latency(s, l, 5ms, error_outcome(k));
        CHECK(l.count == 1);
        CHECK(l.errors == 1);
        CHECK(l.latency.count() == 0);
        CHECK(s.latency.count() == 0);
    }
}

TEST_CASE("a label-only row (group, WS connect) leaves the run's histogram alone") {
    Stats s;
    LabelStats& l = s.label("group checkout");
    record_latency(s, l, 10ms, Outcome::ok, Scope::label);
    record_latency(s, l, 20ms, Outcome::error, Scope::label);
    CHECK(l.count == 2);
    CHECK(l.errors == 1);
    CHECK(l.latency.count() == 2);
    CHECK(s.latency.count() == 0);
}

TEST_CASE("a negative elapsed time (a test's own timing) is recorded as 0") {
    Stats s;
    LabelStats& l = s.label("custom");
    record_latency(s, l, -5ms, Outcome::ok);
    CHECK(l.latency.count() == 1);
    CHECK(l.latency.max() == 0);
}
