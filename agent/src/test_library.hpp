// A test library (.so built with loads_add_test_library) opened with dlopen,
// and the tests it registered with LOADS_TEST.
#pragma once

#include "loads/loads.hpp"
#include "loads/units.hpp"

#include <memory>
#include <string>
#include <vector>

namespace loads {

class TestLibrary {
public:
    // Opens the library. Errors are sentences for the user: the file cannot
    // be loaded (dlerror's reason), or it is not a loads test library.
    static Parsed<std::shared_ptr<TestLibrary>> open(const std::string& path);
    ~TestLibrary();
    TestLibrary(const TestLibrary&) = delete;
    TestLibrary& operator=(const TestLibrary&) = delete;

    const std::string& path() const { return path_; }
    // "Class.method" of every test, in registration order.
    std::vector<std::string> names() const;
    // The test called `name`, or an error listing the tests there are.
    Parsed<const detail::TestEntry*> find(std::string_view name) const;
    // Every registered test, in registration order.
    const std::vector<detail::TestEntry>& entries() const { return registry_->tests; }

private:
    TestLibrary(std::string path, void* handle, const detail::Registry* registry)
        : path_(std::move(path)), handle_(handle), registry_(registry) {}

    std::string path_;
    void* handle_;
    const detail::Registry* registry_;
};

}  // namespace loads
