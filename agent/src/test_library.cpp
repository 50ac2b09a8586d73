#include "test_library.hpp"

#include "loads/library_check.hpp"

#include <dlfcn.h>
#include <sys/stat.h>

namespace loads {

Parsed<std::shared_ptr<TestLibrary>> TestLibrary::open(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        return {nullptr, "cannot load test library \"" + path + "\": no such file"};
    // Its bytes first: dlopen would run a stranger's constructors before
    // dlsym could tell that it is not a test library.
    if (auto why = check_library_file(path, path); !why.empty()) {
        if (why.find("exports no loads_registry_v1") != std::string::npos)
            why += " (build it with loads_add_test_library() and register tests with LOADS_TEST)";
        return {nullptr, why};
    }
    // dlopen searches the library path for names without a slash; the user
    // means the file in the current directory.
    std::string file = path.find('/') == std::string::npos ? "./" + path : path;
    void* handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char* why = ::dlerror();
        return {nullptr, "cannot load test library \"" + path + "\": " + (why ? why : "unknown error")};
    }
    using RegistryFn = const detail::Registry* (*)();
    auto fn = reinterpret_cast<RegistryFn>(::dlsym(handle, "loads_registry_v1"));
    if (!fn) {
        ::dlclose(handle);
        return {nullptr, "\"" + path +
                             "\" is not a loads test library (it has no loads_registry_v1): "
                             "build it with loads_add_test_library() and register tests with LOADS_TEST"};
    }
    const detail::Registry* reg = fn();
    if (!reg || reg->abi_version < detail::Registry::kOldestAbiVersion ||
        reg->abi_version > detail::Registry::kAbiVersion) {
        ::dlclose(handle);
        return {nullptr, "\"" + path + "\" was built against another version of <loads/loads.hpp> "
                             "(ABI " + std::to_string(reg ? reg->abi_version : 0) + ", this engine takes " +
                             std::to_string(detail::Registry::kOldestAbiVersion) + " to " +
                             std::to_string(detail::Registry::kAbiVersion) + "): rebuild it"};
    }
    return {std::shared_ptr<TestLibrary>(new TestLibrary(path, handle, reg)), {}};
}

TestLibrary::~TestLibrary() {
    if (handle_) ::dlclose(handle_);
}

std::vector<std::string> TestLibrary::names() const {
    std::vector<std::string> out;
    for (auto& t : registry_->tests) out.emplace_back(t.name);
    return out;
}

Parsed<const detail::TestEntry*> TestLibrary::find(std::string_view name) const {
    for (auto& t : registry_->tests)
        if (name == t.name) return {&t, {}};
    std::string msg = "no test \"" + std::string(name) + "\" in \"" + path_ + "\"";
    if (registry_->tests.empty()) {
        msg += ": it registers no tests (use LOADS_TEST(Class, method))";
    } else {
        msg += "; it has:";
        for (auto& t : registry_->tests) msg += std::string("\n  ") + t.name;
    }
    return {nullptr, msg};
}

}  // namespace loads
