// Tests whose outcome the integration tests know in advance: a failing
// check, a 5xx looked at or not, an exception.
#include <loads/loads.hpp>

#include <cstdlib>
#include <stdexcept>
#include <string>

#include <fcntl.h>
#include <unistd.h>

class Cases : public loads::TestCase {
public:
    void test_failing_check() {
        auto r = session().get("/");
        check_equal(r.status(), 201, "status (expected 201)");
    }
    void test_unchecked_500() { session().get("/status/500"); }
    void test_checked_500() {
        auto r = session().get("/status/503");
        check(r.status() == 503, "the target is down on purpose");
    }
    void test_throws() { throw std::runtime_error("boom"); }
    void test_shared_space() {
        // Pairs of users: even ones post, odd ones wait for their partner.
        auto id = user_id();
        if (id % 2 == 0) {
            shared().push("q" + std::to_string(id / 2), "hello from " + std::to_string(id));
        } else {
            auto v = shared().pop("q" + std::to_string(id / 2), loads::Seconds(5));
            check(v.has_value(), "partner's message arrived");
            check_equal(*v, "hello from " + std::to_string(id - 1), "partner's message");
        }
    }
};

// Writes "user_id cycle" to $LOADS_TEST_ID_LOG once per user (one write to
// an O_APPEND file, so lines from several agent processes never mix), then
// makes one GET per hit: the tests check that user ids are unique over a run.
class UserIds : public loads::TestCase {
public:
    void on_start() override {
        const char* path = std::getenv("LOADS_TEST_ID_LOG");
        if (!path) return;
        std::string line = std::to_string(user_id()) + " " + std::to_string(context().cycle()) + "\n";
        int fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
        if (fd < 0) throw std::runtime_error("cannot open LOADS_TEST_ID_LOG");
        auto n = ::write(fd, line.data(), line.size());
        ::close(fd);
        if (n != static_cast<ssize_t>(line.size())) throw std::runtime_error("short write to LOADS_TEST_ID_LOG");
    }
    void test_get() { session().get("/"); }
};

// --data users=FILE (columns user, password): each user logs in to the demo
// target's shop once with its own row; each hit views the products. With
// --data items=FILE (a column sku), each hit views one of them in turn.
class DataUsers : public loads::TestCase {
public:
    void on_start() override {
        auto row = user_row("users");
        loads::RequestOptions o;
        o.headers = {{"Content-Type", "application/json"}};
        auto r = session().post("/login", "{\"user\": \"" + row["user"] + "\", \"password\": \"" + row["password"] + "\"}",
                                o);
        check_equal(r.status(), 200, "login of " + row["user"]);
    }
    void test_browse() {
        auto r = session().get("/products");
        check_equal(r.status(), 200, "products");
    }
    void test_items() {
        const auto& items = data("items");
        auto sku = items.row(hit_index() % items.size())["sku"];
        auto r = session().get("/products/" + sku);
        check_equal(r.status(), 200, "product " + sku);
    }
    void test_no_such_set() { data("nope"); }
};

// No login: asks for its row in every hit (the policy applies there too),
// and names its request after the row.
class DataPerHit : public loads::TestCase {
public:
    void test_row() {
        auto row = user_row("users");
        auto r = session().get("/products/A1", {{}, {}, "row " + row["user"]});
        check_equal(r.status(), 200, "product");
    }
    // The same on a 30 ms answer (so an open model's pool must grow).
    void test_row_slow() {
        auto row = user_row("users");
        auto r = session().get("/delay?ms=30", {{}, {}, "row " + row["user"]});
        check_equal(r.status(), 200, "delay");
    }
};

// The lifecycle (loads.hpp, TestCase): on_start logs in (a GET named
// "login"), on_stop logs out (a GET named "logout"), and each subclass makes
// on_start or its hits end in one way, so the tests can count logins,
// logouts, hits and skipped hits against what the target saw.
enum class Throw { none, runtime_error, int_value, text, check, first_cycle };

template <Throw OnStart, Throw InHit = Throw::none>
class Lifecycle : public loads::TestCase {
public:
    void on_start() override {
        loads::RequestOptions o;
        o.name = "login";
        session().get("/", o);
        raise(OnStart);
    }
    void on_stop() override {
        loads::RequestOptions o;
        o.name = "logout";
        session().get("/", o);
    }
    void test_get() {
        session().get("/");
        raise(InHit);
    }

private:
    void raise(Throw how) {
        switch (how) {
            case Throw::none: return;
            case Throw::runtime_error: throw std::runtime_error("login refused");
            case Throw::int_value: throw 42;
            case Throw::text: throw "no login today";
            case Throw::check: check(false, "login page says no"); return;
            case Throw::first_cycle:
                if (context().cycle() == 0) throw std::runtime_error("not in the first cycle");
                return;
        }
    }
};

class StartThrows : public Lifecycle<Throw::runtime_error> {};
class StartThrowsInt : public Lifecycle<Throw::int_value> {};
class StartThrowsText : public Lifecycle<Throw::text> {};
class StartFailsCheck : public Lifecycle<Throw::check> {};
class StartFailsFirstCycle : public Lifecycle<Throw::first_cycle> {};
class HitThrowsInt : public Lifecycle<Throw::none, Throw::int_value> {};
// The test's constructor throws: no on_start, no on_stop, one errored hit.
class CtorThrows : public loads::TestCase {
public:
    CtorThrows() { throw std::logic_error("bad fixture"); }
    void test_get() { session().get("/"); }
};

// --param: each hit posts param("payload") to /echo and checks the echo,
// under the name "echo <param("label", "default")>", so the per-name table
// shows which values reached the users (on every agent).
class Params : public loads::TestCase {
public:
    void test_echo() {
        loads::RequestOptions o;
        o.name = "echo " + param("label", "default");
        auto r = session().post("/echo", param("payload"), o);
        check_equal(r.text(), param("payload"), "echoed payload");
    }
};

LOADS_TEST(Params, test_echo)
LOADS_TEST(StartThrows, test_get)
LOADS_TEST(StartThrowsInt, test_get)
LOADS_TEST(StartThrowsText, test_get)
LOADS_TEST(StartFailsCheck, test_get)
LOADS_TEST(StartFailsFirstCycle, test_get)
LOADS_TEST(HitThrowsInt, test_get)
LOADS_TEST(CtorThrows, test_get)
// Weighted tasks: each task views its own product, so the target's views by
// SKU count the tasks. Mix declares weights 3 and 1 (Locust's @task(3));
// Other's on_start lists the products once per user.
class Mix : public loads::TestCase {
public:
    void a() { view("A1"); }
    void b() { view("B2"); }
    void failing() { check(false, "Mix.failing fails on purpose"); }

protected:
    void view(const std::string& sku) {
        auto r = session().get("/products/" + sku);
        check_equal(r.status(), 200, "product " + sku);
        metric_trend("product bytes").add(double(r.body().size()));
    }
};
class Other : public Mix {
public:
    void on_start() override { session().get("/products"); }
    void c() { view("C3"); }
};

LOADS_TEST(UserIds, test_get)
LOADS_TASK(Mix, a, 3)
LOADS_TASK(Mix, b, 1)
LOADS_TEST(Other, c)
LOADS_TEST(Other, failing)
LOADS_TEST(DataUsers, test_browse)
LOADS_TEST(DataUsers, test_items)
LOADS_TEST(DataPerHit, test_row)
LOADS_TEST(DataPerHit, test_row_slow)
LOADS_TEST(DataUsers, test_no_such_set)
LOADS_TEST(Cases, test_failing_check)
LOADS_TEST(Cases, test_unchecked_500)
LOADS_TEST(Cases, test_checked_500)
LOADS_TEST(Cases, test_throws)
LOADS_TEST(Cases, test_shared_space)

// Groups (k6's group): a checkout of two requests timed as a whole; the
// second group fails its check on every other hit.
class Groups : public loads::TestCase {
public:
    void test_checkout() {
        group("browse", [&] {
            check_equal(session().get("/products/A1").status(), 200, "product A1");
            check_equal(session().get("/products/B2").status(), 200, "product B2");
        });
        group("pay", [&] {
            session().get("/delay?ms=5");
            check(hit_index() % 2 == 0, "pay fails on odd hits");
        });
    }
};
LOADS_TEST(Groups, test_checkout)

// Custom metrics (issue 15): every hit adds 3 to a counter (a member made in
// the constructor), sets a gauge to its index, adds a rate true on even hits
// and the index + 1 to a trend.
class Metrics : public loads::TestCase {
public:
    void test_shop() {
        check_equal(session().get("/products/A1").status(), 200, "product A1");
        items_.add(3);
        metric_gauge("depth").set(double(hit_index()));
        metric_rate("even").add(hit_index() % 2 == 0);
        metric_trend("index").add(double(hit_index() + 1));
    }
    // A name used with two kinds: the second use throws.
    void test_wrong_kind() {
        metric_counter("x").add(1);
        metric_trend("x").add(1);
    }
    void test_negative() { metric_counter("neg").add(-1); }

private:
    loads::CounterMetric items_ = metric_counter("cart_items");
};
LOADS_TEST(Metrics, test_shop)
LOADS_TEST(Metrics, test_wrong_kind)
LOADS_TEST(Metrics, test_negative)

// loads-agent --allow (issue 16): each hit connects where the run's params
// say, which the agent may refuse. test_http GETs param("url") (absolute);
// test_tcp opens param("host"):param("port"), asks one line and reads the
// answer; test_ws opens param("ws").
class Outside : public loads::TestCase {
public:
    void test_http() { session().get(param("url")); }
    void test_tcp() {
        auto s = tcp_connect(param("host"), static_cast<unsigned>(std::stoul(param("port"))));
        s->send("ping\n");
        s->recv_until("\n");
    }
    void test_ws() { create_ws(param("ws")); }
};

LOADS_TEST(Outside, test_http)
LOADS_TEST(Outside, test_tcp)
LOADS_TEST(Outside, test_ws)

// Exceptions of any type (issue 12): a type not derived from std::exception,
// thrown from a task, from on_stop and from a group() body, counts as an
// error of kind `exception` naming the type; nothing ends the worker or the
// run. Each hit makes one GET first, so the target's count shows every hit ran.
namespace oddities {
struct NotAnException {
    int code = 7;
};
}  // namespace oddities

class OddThrows : public loads::TestCase {
public:
    void on_stop() override {
        if (param("on_stop", "") == "throw") throw oddities::NotAnException{};
    }
    void test_custom() {
        session().get("/");
        throw oddities::NotAnException{};
    }
    void test_int() {
        session().get("/");
        throw 42;
    }
    void test_group() {
        session().get("/");
        group("odd", [] { throw oddities::NotAnException{}; });
    }
    void test_ok() { session().get("/"); }
};
LOADS_TEST(OddThrows, test_custom)
LOADS_TEST(OddThrows, test_int)
LOADS_TEST(OddThrows, test_group)
LOADS_TEST(OddThrows, test_ok)

// HTTP/2 from a test (issue 14): the session switches to HTTP/2 itself, so
// the run needs no --http2. GETs param("url") and checks the body holds
// param("expect").
class Http2 : public loads::TestCase {
public:
    void test_get() {
        auto r = session().http2(true).get(param("url"));
        check(r.status() == 200, "200 over HTTP/2");
        check(r.body().find(param("expect")) != std::string::npos, "the body holds the expected text");
    }
    // param("n") requests at once from this one user (param("url") each).
    void test_parallel() {
        std::vector<loads::ParallelRequest> batch(std::stoul(param("n")), loads::ParallelRequest{"GET", param("url"), {}});
        auto rs = session().http2(true).parallel(batch);
        check(rs.size() == batch.size(), "one response per request");
        for (const auto& r : rs) check(r.status() == 200 && r.body().find(param("expect")) != std::string::npos,
                                       "200 with the expected text");
    }
};

LOADS_TEST(Http2, test_get)
LOADS_TEST(Http2, test_parallel)
