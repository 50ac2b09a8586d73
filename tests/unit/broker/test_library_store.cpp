// The broker's libraries: one copy per hash, shared by the runs that hold
// it, freed with the last; slices inside it only; unknown hashes refused.
#include "library_store.hpp"

#include <catch2/catch.hpp>

using namespace loads;
using loads::broker::LibraryStore;

TEST_CASE("one copy per library, slices inside it, gone with its last run") {
    LibraryStore store;
    proto::Library a{"l.so", std::string(64, 'a'), "0123456789"};
    proto::Library b = a;
    auto held = store.add(a);
    CHECK(a.bytes.empty());  // moved out of the SUBMIT: PREPARE carries only the size
    CHECK(a.size == 10);
    auto again = store.add(b);
    CHECK(again.get() == held.get());  // the same library twice is one copy
    CHECK(store.size() == 1);

    std::string error;
    CHECK(store.slice(a.sha256, 2, 3, error) == "234");
    CHECK(error.empty());
    CHECK(store.slice(a.sha256, 8, 100, error) == "89");  // cut at its end
    CHECK(store.slice(a.sha256, 10, 1, error).empty());
    CHECK(error.find("outside the library (10 bytes)") != std::string::npos);
    error.clear();
    CHECK(store.slice(std::string(64, 'f'), 0, 1, error).empty());
    CHECK(error.find("no library with sha256 ffff") != std::string::npos);

    held.reset();
    again.reset();
    CHECK(store.size() == 0);  // no run needs it: freed
    error.clear();
    CHECK(store.slice(a.sha256, 0, 1, error).empty());
    CHECK(!error.empty());
}
