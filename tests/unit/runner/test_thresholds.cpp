#include "report.hpp"
#include "thresholds.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace loads;
using namespace loads::runner;

namespace {

Threshold parsed(const std::string& text) {
    auto t = parse_threshold(text);
    INFO(text << ": " << t.error);
    REQUIRE(t);
    return t.value;
}

std::string error_of(const std::string& text) {
    auto t = parse_threshold(text);
    INFO(text);
    REQUIRE_FALSE(t);
    return t.error;
}

// 100 hits; latency 1..100 ms (one request each), 7 errors, 3 failures;
// "GET /cart" has 10 of the requests (91..100 ms), 2 of them errors.
Stats sample() {
    Stats s;
    s.hits = 100;
    s.successes = 90;
    s.failures = 3;
    for (int i = 0; i < 7; ++i) s.count_error(ErrorKind::status);
    s.requests = 100;
    s.dropped = 4;
    s.late = 5;
    s.interrupted = 1;
    for (std::uint64_t i = 1; i <= 100; ++i) {
        s.latency.record(i * 1'000'000);
        auto& l = s.label(i > 90 ? "GET /cart" : "GET /");
        ++l.count;
        l.latency.record(i * 1'000'000);
    }
    s.label("GET /cart").errors = 2;
    return s;
}

ThresholdResult judge(const std::string& text, const Stats& s, Duration elapsed = std::chrono::seconds(10),
                      bool open = false) {
    static std::vector<Threshold> keep;  // results point at their threshold
    keep.assign(1, parsed(text));
    auto r = evaluate(keep, ThresholdInput{&s, elapsed, open});
    REQUIRE(r.size() == 1);
    return r[0];
}

}  // namespace

TEST_CASE("thresholds: the issue's examples parse") {
    auto t = parsed("p95<200ms");
    CHECK_FALSE(t.name);
    CHECK(t.metric == "p95");
    CHECK(t.op == ThresholdOp::lt);
    CHECK(t.limit == 200e6);
    CHECK(t.unit == ThresholdUnit::ns);
    CHECK(t.quantile == Approx(0.95));

    t = parsed("errors<1%");
    CHECK(t.metric == "errors");
    CHECK(t.unit == ThresholdUnit::percent);
    CHECK(t.limit == 1);

    t = parsed("rps>1000");
    CHECK(t.metric == "rps");
    CHECK(t.op == ThresholdOp::gt);
    CHECK(t.unit == ThresholdUnit::per_second);
    CHECK(t.limit == 1000);

    t = parsed("GET /cart:p99<50ms");
    REQUIRE(t.name);
    CHECK(*t.name == "GET /cart");
    CHECK(t.metric == "p99");
    CHECK(t.limit == 50e6);
    CHECK(t.expression == "GET /cart:p99<50ms");
}

TEST_CASE("thresholds: operators, units, suffixes and spellings") {
    CHECK(parsed("p99.9 <= 1.5s").op == ThresholdOp::le);
    CHECK(parsed("p99.9 <= 1.5s").limit == 1.5e9);
    CHECK(parsed("p99.9 <= 1.5s").quantile == Approx(0.999));
    CHECK(parsed("max>=250us").op == ThresholdOp::ge);
    CHECK(parsed("max>=250us").limit == 250e3);
    CHECK(parsed("mean<100ns").limit == 100);
    CHECK(parsed("dropped==0").op == ThresholdOp::eq);
    CHECK(parsed("requests>10k").limit == 10e3);
    CHECK(parsed("hits>=1.5M").limit == 1.5e6);
    CHECK(parsed("rps>2k/s").limit == 2000);
    CHECK(parsed("rps > 500/s").limit == 500);
    CHECK(parsed("failures<=0.5%").unit == ThresholdUnit::percent);
    CHECK(parsed("service_p95<20ms").service);
    CHECK(parsed("service_p95<20ms").metric == "service_p95");
    CHECK(parsed("P95<1s").metric == "p95");
    // k6's spellings.
    CHECK(parsed("p(95)<200ms").metric == "p95");
    CHECK(parsed("p(99.9)<1s").quantile == Approx(0.999));
    CHECK(parsed("avg<1s").metric == "mean");
    CHECK(parsed("med<1s").metric == "p50");
    CHECK(parsed("p75<1s").quantile == Approx(0.75));
    // The name is what comes before the last ':' (names may hold colons).
    auto t = parsed("tcp 127.0.0.1:8081:max<5ms");
    CHECK(*t.name == "tcp 127.0.0.1:8081");
    CHECK(parsed("GET /cart:errors<2%").unit == ThresholdUnit::percent);
    CHECK(parsed("GET /cart:count>=10").metric == "count");
    CHECK(parsed("login:service_max<1s").metric == "service_max");
}

TEST_CASE("thresholds: bad text is a clear error naming the expression") {
    CHECK_THAT(error_of("p95"), Catch::Contains("--threshold \"p95\"") && Catch::Contains("no comparison"));
    CHECK_THAT(error_of("latency<200ms"), Catch::Contains("unknown metric \"latency\""));
    CHECK_THAT(error_of("p95<200"), Catch::Contains("needs a time unit"));
    CHECK_THAT(error_of("p95<200m"), Catch::Contains("unknown time unit \"m\""));
    CHECK_THAT(error_of("p95<fast"), Catch::Contains("is not a number"));
    CHECK_THAT(error_of("p95<-1ms"), Catch::Contains("is not a number"));
    CHECK_THAT(error_of("p95=200ms"), Catch::Contains("use =="));
    CHECK_THAT(error_of("p95!=200ms"), Catch::Contains("not a comparison"));
    CHECK_THAT(error_of("p95<"), Catch::Contains("no limit"));
    CHECK_THAT(error_of("<200ms"), Catch::Contains("no metric"));
    CHECK_THAT(error_of("1<p95<2"), Catch::Contains("one comparison"));
    CHECK_THAT(error_of("p0<1s"), Catch::Contains("not a percentile"));
    CHECK_THAT(error_of("p101<1s"), Catch::Contains("not a percentile"));
    CHECK_THAT(error_of("rps<10%"), Catch::Contains("only errors and failures take a percentage"));
    CHECK_THAT(error_of("errors<101%"), Catch::Contains("at most 100"));
    CHECK_THAT(error_of("errors<10ms"), Catch::Contains("not a latency"));
    CHECK_THAT(error_of("hits>10x"), Catch::Contains("unknown suffix \"x\""));
    CHECK_THAT(error_of("service_errors<1"), Catch::Contains("service_ goes with a latency metric"));
    CHECK_THAT(error_of("count>1"), Catch::Contains("count goes with a request name"));
    CHECK_THAT(error_of("GET /:rps>1"), Catch::Contains("per request name"));
    CHECK_THAT(error_of(" :p95<1s"), Catch::Contains("empty request name"));
}

TEST_CASE("thresholds: judged on the merged figures, with the measured value") {
    Stats s = sample();
    auto r = judge("p95<100ms", s);
    REQUIRE(r.measured);
    // The histogram's p95 of 1..100 ms: the 95th value's bucket's highest value.
    CHECK(*r.measured == double(s.latency.value_at_quantile(0.95)));
    CHECK(*r.measured >= 95e6);
    CHECK(*r.measured < 95e6 * 1.008);
    CHECK(r.ok);
    CHECK_FALSE(judge("p95<95ms", s).ok);
    CHECK(judge("max<=100ms", s).ok == (double(s.latency.max()) <= 100e6));
    CHECK(*judge("max<1s", s).measured == 100e6);
    CHECK(*judge("min<1s", s).measured == 1e6);
    CHECK(*judge("mean<1s", s).measured == Approx(50.5e6));

    CHECK(*judge("errors<1%", s).measured == Approx(7.0));
    CHECK_FALSE(judge("errors<1%", s).ok);
    CHECK(judge("errors<1%", s).detail == "7 of 100 hits");
    CHECK(judge("errors<=7", s).ok);
    CHECK_FALSE(judge("errors<7", s).ok);
    CHECK(judge("failures==3", s).ok);
    CHECK(judge("failures<5%", s).ok);
    CHECK(judge("dropped==4", s).ok);
    CHECK(judge("late<6", s).ok);
    CHECK(judge("interrupted<1", s).ok == false);
    CHECK(judge("hits>=100", s).ok);
    CHECK(judge("requests>100", s).ok == false);

    // rps: hits over the run's wall time.
    CHECK(*judge("rps>5", s, std::chrono::seconds(10)).measured == Approx(10.0));
    CHECK(judge("rps>=10", s, std::chrono::seconds(10)).ok);
    CHECK_FALSE(judge("rps>10", s, std::chrono::seconds(10)).ok);
}

TEST_CASE("thresholds: per request name") {
    Stats s = sample();
    auto r = judge("GET /cart:p50<1s", s);
    REQUIRE(r.measured);
    CHECK(*r.measured == double(s.labels.at("GET /cart").latency.value_at_quantile(0.5)));
    CHECK(*r.measured >= 95e6);
    CHECK(*judge("GET /cart:max<1s", s).measured == 100e6);
    CHECK(*judge("GET /cart:count>1", s).measured == 10);
    CHECK(*judge("GET /cart:errors<1", s).measured == 2);
    CHECK(*judge("GET /cart:errors<1%", s).measured == Approx(20.0));
    CHECK(judge("GET /cart:errors<1%", s).detail == "2 of 10");
    CHECK(*judge("GET /:errors==0", s).measured == 0);
    CHECK(judge("GET /:errors==0", s).ok);

    // A name that never appeared fails, and says so.
    r = judge("GET /nope:p99<1s", s);
    CHECK_FALSE(r.measured);
    CHECK_FALSE(r.ok);
    CHECK(r.detail == "no request named \"GET /nope\" appeared");
    CHECK_FALSE(judge("GET /nope:errors<1", s).ok);
}

TEST_CASE("thresholds: nothing measured never passes") {
    Stats empty;
    for (auto text : {"p95<1s", "max<1s", "errors<1%", "failures<50%"}) {
        auto r = judge(text, empty);
        INFO(text);
        CHECK_FALSE(r.measured);
        CHECK_FALSE(r.ok);
    }
    // Counts of nothing are 0, and rps of no time is 0.
    CHECK(judge("errors==0", empty).ok);
    CHECK(*judge("rps>1", empty, Duration::zero()).measured == 0);
}

TEST_CASE("thresholds: the open model's headline latency is from schedule, service_ reads service time") {
    Stats s;
    s.hits = 10;
    s.successes = 10;
    for (int i = 0; i < 10; ++i) {
        s.latency.record(1'000'000);                 // 1 ms service time
        s.latency_from_schedule.record(900'000'000); // 900 ms from schedule (a stall)
    }
    CHECK(*judge("p99<100ms", s, std::chrono::seconds(1), true).measured >= 900e6);
    CHECK_FALSE(judge("p99<100ms", s, std::chrono::seconds(1), true).ok);
    CHECK(judge("service_p99<100ms", s, std::chrono::seconds(1), true).ok);
    // The closed model reads service time (latency_from_schedule is empty there).
    CHECK(judge("p99<100ms", s, std::chrono::seconds(1), false).ok);
}

TEST_CASE("thresholds: which can fail before the end") {
    CHECK(can_fail_early(parsed("errors<100")));
    CHECK(can_fail_early(parsed("dropped==0")));
    CHECK(can_fail_early(parsed("hits<=10")));
    CHECK(can_fail_early(parsed("max<1s")));
    CHECK(can_fail_early(parsed("GET /:errors<3")));
    CHECK(can_fail_early(parsed("GET /:service_max<3ms")));
    CHECK(can_fail_early(parsed("min>1ms")));
    CHECK_FALSE(can_fail_early(parsed("errors>100")));   // can still get there
    CHECK_FALSE(can_fail_early(parsed("errors<1%")));    // a ratio moves both ways
    CHECK_FALSE(can_fail_early(parsed("p95<200ms")));
    CHECK_FALSE(can_fail_early(parsed("mean<200ms")));
    CHECK_FALSE(can_fail_early(parsed("rps>1000")));
    CHECK_FALSE(can_fail_early(parsed("min<1ms")));
}

TEST_CASE("thresholds: the abort watch fires once a threshold is doomed on the running totals") {
    std::vector<Threshold> ts{parsed("p95<1ns"), parsed("errors<1%"), parsed("dropped==2"), parsed("errors<10")};
    AbortWatch watch(ts, true, false);
    Stats delta;
    delta.hits = 5;
    for (int i = 0; i < 5; ++i) delta.count_error(ErrorKind::status);
    delta.latency.record(1'000'000);
    delta.dropped = 1;
    CHECK_FALSE(watch.add(delta, std::chrono::seconds(1)));  // 5 errors, 1 dropped: both can still pass
    CHECK_FALSE(watch.fired());
    CHECK(watch.add(delta, std::chrono::seconds(2)));  // 10 errors: errors<10 is lost for good
    REQUIRE(watch.fired());
    CHECK(watch.fired()->index == 3);
    CHECK(watch.fired()->measured == 10);
    CHECK(watch.fired()->at == std::chrono::seconds(2));
    CHECK(watch.describe() == "errors<10 can no longer pass (errors = 10 after 2.0 s)");
    CHECK_FALSE(watch.add(delta, std::chrono::seconds(3)));  // fires once

    // == is lost once the count passed it, not while it is below.
    std::vector<Threshold> eq{parsed("dropped==2")};
    AbortWatch w2(eq, true, false);
    Stats d;
    d.dropped = 1;
    CHECK_FALSE(w2.add(d, std::chrono::seconds(1)));
    CHECK_FALSE(w2.add(d, std::chrono::seconds(2)));
    CHECK(w2.add(d, std::chrono::seconds(3)));

    // Disabled (no --abort-on-fail): never fires.
    AbortWatch off(ts, false, false);
    Stats many;
    many.hits = many.errors = 1000;
    CHECK_FALSE(off.add(many, std::chrono::seconds(1)));
}

namespace {
Report report_with(std::vector<std::string> thresholds, Stats total) {
    Report r;
    r.result.total = std::move(total);
    r.result.elapsed = std::chrono::seconds(10);
    r.spec.plan.cycles.push_back(Cycle{});
    for (auto& t : thresholds) r.thresholds.push_back(parsed(t));
    return r;
}
}  // namespace

TEST_CASE("thresholds: exit codes and their precedence") {
    Stats clean;
    clean.hits = clean.successes = 10;
    for (int i = 0; i < 10; ++i) clean.latency.record(1'000'000);
    Stats with_errors = sample();  // 7 errors of 100 hits

    CHECK(exit_code(report_with({}, clean)) == 0);
    CHECK(exit_code(report_with({}, with_errors)) == 1);
    CHECK(exit_code(report_with({"p95<1s"}, clean)) == 0);
    CHECK(exit_code(report_with({"p95<1ms"}, clean)) == 3);
    // The thresholds judge errors: 7% passes errors<10%, fails errors<1%.
    CHECK(exit_code(report_with({"errors<10%"}, with_errors)) == 0);
    CHECK(exit_code(report_with({"errors<1%"}, with_errors)) == 3);
    // A failed threshold wins over everything that makes 1.
    auto lost = report_with({"errors<1%"}, with_errors);
    lost.incomplete = true;
    CHECK(exit_code(lost) == 3);
    // All passed, but the run cannot be judged: 1.
    lost = report_with({"errors<10%"}, with_errors);
    lost.incomplete = true;
    CHECK(exit_code(lost) == 1);
    auto stopped = report_with({"p95<1s"}, clean);
    stopped.result.stopped = true;
    CHECK(exit_code(stopped) == 1);
    CHECK(exit_code(report_with({"errors==0"}, Stats{})) == 1);  // no hit at all
}

TEST_CASE("thresholds: the summary and the JSON carry every verdict") {
    auto r = report_with({"p95<1s", "errors<1%", "GET /nope:p99<1s"}, sample());
    r.aborted = ThresholdAbort{1, 5.0, std::chrono::milliseconds(1500)};
    std::ostringstream out;
    print_summary(out, r);
    const std::string text = out.str();
    CHECK_THAT(text, Catch::Contains("Thresholds: 1 of 3 passed"));
    CHECK_THAT(text, Catch::Contains("\u2713 p95<1s  p95 = "));
    CHECK_THAT(text, Catch::Contains("\u2717 errors<1%  errors = 7.00% (7 of 100 hits); stopped the run at 1.5 s"));
    CHECK_THAT(text, Catch::Contains("\u2717 GET /nope:p99<1s  not measured: no request named \"GET /nope\" appeared"));
    CHECK_THAT(text, Catch::Contains("Stopped by --abort-on-fail: errors<1% could no longer pass after 1.5 s"));

    const std::string json = to_json(r);
    CHECK_THAT(json, Catch::Contains(R"("thresholds":[{"expression":"p95<1s","metric":"p95","name":null,"operator":"<","limit":1E9,"unit":"ns")"));
    CHECK_THAT(json, Catch::Contains(R"("expression":"errors<1%","metric":"errors","name":null,"operator":"<","limit":1E0,"unit":"%","measured":7E0,"ok":false,"aborted":true})"));
    CHECK_THAT(json, Catch::Contains(R"("name":"GET /nope","operator":"<","limit":1E9,"unit":"ns","measured":null,"ok":false,"aborted":false})"));
    CHECK_THAT(json, Catch::Contains(R"("exit_code":3)"));
}

TEST_CASE("thresholds on custom metrics: k6's aggregations per kind") {
    Stats s = sample();
    for (int i = 0; i < 3; ++i) s.metric("cart_items", MetricKind::counter)->add(4, 0);
    s.metric("queue", MetricKind::gauge)->add(30, 1);
    s.metric("queue", MetricKind::gauge)->add(12, 2);
    for (int i = 0; i < 10; ++i) s.metric("cache_hit", MetricKind::rate)->add(i < 9, 0);
    for (int i = 1; i <= 100; ++i) s.metric("render_ms", MetricKind::trend)->add(i, 0);

    CHECK(parsed("cart_items:count>=12").custom == false);  // NAME:count: resolved when judged
    CHECK(parsed("render_ms:p95<250").custom);
    CHECK(parsed("cache_hit:rate>90%").limit == Approx(0.9));

    auto ok = [&](const std::string& text) { return judge(text, s).ok; };
    CHECK(ok("cart_items:count==12"));
    CHECK_FALSE(ok("cart_items:count>12"));
    CHECK(ok("cart_items:total>=12"));
    CHECK(judge("cart_items:rate>1", s, std::chrono::seconds(4)).measured == Approx(3.0));
    CHECK(ok("queue:value==12"));
    CHECK(ok("queue:max==30"));
    CHECK(ok("queue:min<13"));
    CHECK(ok("cache_hit:rate>=0.9"));
    CHECK_FALSE(ok("cache_hit:rate>0.9"));
    CHECK(ok("render_ms:p95<=96"));
    CHECK_FALSE(ok("render_ms:p95<94"));
    CHECK(ok("render_ms:avg==50.5"));
    CHECK(ok("render_ms:max==100"));
    CHECK(ok("render_ms:count==100"));
    CHECK(ok("GET /cart:count==10"));  // no custom metric of that name: the request name's

    auto gone = judge("missing:p95<1", s);
    CHECK_FALSE(gone.ok);
    CHECK_THAT(gone.detail, Catch::Contains("no custom metric named \"missing\""));
    auto wrong = judge("queue:p95<1", s);
    CHECK_FALSE(wrong.ok);
    CHECK_THAT(wrong.detail, Catch::Contains("\"queue\" is a gauge: it has value, min and max"));
    CHECK_THAT(error_of("cart_items:count>1ms"), Catch::Contains("not a latency"));
    CHECK_THAT(error_of("cart_items:total>1%"), Catch::Contains("plain number"));

    // With --abort-on-fail: a count only grows, a min only falls.
    CHECK(can_fail_early(parsed("cart_items:total<100")));
    CHECK(can_fail_early(parsed("render_ms:min>2")));
    CHECK_FALSE(can_fail_early(parsed("render_ms:p95<2")));
}
