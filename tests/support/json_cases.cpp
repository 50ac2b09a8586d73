// JSON bodies (r.json(), post_json, put_json) against the demo target's shop,
// a JSON API (examples/demo_target/shop.hpp), and its /echo and /headers.
// A second translation unit of libtestcases.so: Boost.JSON comes from its
// shared library (loads::api links it), so any number of a library's files
// may use it.
#include <loads/loads.hpp>

#include <cstdint>
#include <string>

class Json : public loads::TestCase {
public:
    // Logs in with a JSON body and reads the user back from the JSON reply.
    void on_start() override {
        user_ = "json" + std::to_string(user_id());
        auto r = session().post_json("/login", {{"user", user_}, {"password", "pw-" + user_}});
        check_equal(r.status(), 200, "login status");
        check_equal(std::string(r.json().at("user").as_string()), user_, "logged-in user");
    }
    void on_stop() override { session().post("/logout", ""); }

    // Each hit adds two loaves to the cart: the reply's count follows.
    void test_cart() {
        auto r = session().post_json("/cart", {{"sku", "B2"}, {"qty", 2}});
        check_equal(r.status(), 200, "cart status");
        auto j = r.json();
        check_equal(j.at("items").as_int64(), static_cast<std::int64_t>(2 * (hit_index() + 1)), "items in the cart");
        check_equal(j.at("total").as_double(), 2.5 * 2 * static_cast<double>(hit_index() + 1), "cart total");
    }

    // What put_json sends, /echo sends back: the same JSON value. post_json
    // says it is JSON (/headers echoes the request's headers).
    void test_echo() {
        const boost::json::value sent = {{"user", user_},
                                         {"hit", hit_index()},
                                         {"tags", {"fresh", "bread", "été"}},
                                         {"ok", true},
                                         {"none", nullptr},
                                         {"nested", {{"price", 2.5}, {"qty", -3}}}};
        auto r = session().put_json("/echo", sent);
        check(r.json() == sent, "the echo is the JSON that was sent");
        auto h = session().post_json("/headers", sent);
        check(h.text().find("Content-Type: application/json\n") != std::string::npos, "Content-Type: application/json");
        loads::RequestOptions own;
        own.headers = {{"content-type", "application/vnd.loads+json"}};
        auto typed = session().post_json("/headers", sent, own);
        check(typed.text().find("Content-Type: application/json") == std::string::npos &&
                  typed.text().find("content-type: application/vnd.loads+json") != std::string::npos,
              "a Content-Type of the test's own is kept, not doubled");
    }

    // The demo target's greeting is text, not JSON: a failure saying why.
    void test_not_json() { session().get("/").json(); }
    // Valid JSON read wrongly: Boost.JSON's exception, an error.
    void test_missing_key() { session().post_json("/echo", {{"a", 1}}).json().at("b"); }

private:
    std::string user_;
};

LOADS_TEST(Json, test_cart)
LOADS_TEST(Json, test_echo)
LOADS_TEST(Json, test_not_json)
LOADS_TEST(Json, test_missing_key)
