// A first test library: copy this folder to start your own.
//
// Build (inside this project, or anywhere after `cmake --install`):
//     find_package(loads 0.2 REQUIRED)                  # not needed in-tree
//     loads_add_test_library(website SOURCES website.cpp)
// Run against the demo target:
//     loads-demo-target --http-port 8080 &
//     loads-runner ./libwebsite.so:WebSite.test_home --server-url http://127.0.0.1:8080 -u 10:20:30 -c 20
//
// A test is a class deriving from loads::TestCase, like a Python unittest.
// Each virtual user gets its own instance and its own session (keep-alive
// connection, cookies). Code is written as if it blocked: session().get()
// suspends this user only, while the thread runs thousands of others.
#include <loads/loads.hpp>

#include <string>

class WebSite : public loads::TestCase {
public:
    // Runs before every hit; tearDown() runs after it. on_start()/on_stop()
    // run once per user.
    void setUp() override {}

    // One GET of the home page, checked. Relative URLs resolve against
    // --server-url. A check that does not hold makes the hit a failure; a
    // connection error makes it an error of its kind (connect, timeout, ...).
    void test_home() {
        auto r = session().get("/");
        check(r.status() == 200, "home page answers 200");
        check(r.text().find("Hello") != std::string::npos, "home page says Hello");
    }

    // POST and compare: check_equal prints both values when they differ.
    void test_echo() {
        std::string payload = "user " + std::to_string(user_id()) + " hit " + std::to_string(hit_index());
        auto r = session().post("/echo", payload);
        check_equal(r.status(), 200, "status");
        check_equal(r.text(), payload, "echoed body");
    }

    // Cookies persist in the user's session like in a browser; redirects are
    // followed (like Requests). `name` groups requests in the statistics.
    void test_login_flow() {
        auto r = session().get("/cookies/set?session=u" + std::to_string(user_id()),
                               {.name = "set cookie"});
        check(r.ok(), "cookie set");
        auto c = session().get("/cookies", {.name = "read cookie"});
        check_equal(c.text(), "session=u" + std::to_string(user_id()), "cookie sent back");
        auto home = session().get("/redirect/2", {.name = "redirects"});
        check_equal(home.status(), 200, "redirects end at /");
    }

    // Time your own exchange under a name of your choosing: it gets its own
    // row and goes into the latency histogram.
    void test_timed() {
        timed("two requests", [&] {
            session().get("/");
            session().get("/bytes/1024");
        });
    }
};

LOADS_TEST(WebSite, test_home)
LOADS_TEST(WebSite, test_echo)
LOADS_TEST(WebSite, test_login_flow)
LOADS_TEST(WebSite, test_timed)
