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

LOADS_TEST(UserIds, test_get)
LOADS_TEST(Cases, test_failing_check)
LOADS_TEST(Cases, test_unchecked_500)
LOADS_TEST(Cases, test_checked_500)
LOADS_TEST(Cases, test_throws)
LOADS_TEST(Cases, test_shared_space)
