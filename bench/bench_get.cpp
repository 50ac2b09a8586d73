// The benchmark's C++ test: one GET and a status check per hit, what a
// Locust FastHttpUser task does in the comparison (bench/compare).
#include <loads/loads.hpp>

class BenchGet : public loads::TestCase {
public:
    void test_get() {
        auto r = session().get("/");
        check(r.status() == 200, "status 200");
    }
};

LOADS_TEST(BenchGet, test_get)
