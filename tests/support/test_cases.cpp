// Tests whose outcome the integration tests know in advance: a failing
// check, a 5xx looked at or not, an exception.
#include <loads/loads.hpp>

#include <stdexcept>

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

LOADS_TEST(Cases, test_failing_check)
LOADS_TEST(Cases, test_unchecked_500)
LOADS_TEST(Cases, test_checked_500)
LOADS_TEST(Cases, test_throws)
LOADS_TEST(Cases, test_shared_space)
