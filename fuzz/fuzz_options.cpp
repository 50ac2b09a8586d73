// libFuzzer harness: what loads-runner reads from its user
// (runner/options.cpp, runner/thresholds.cpp, common/src/units.cpp).
// runner::parse() never calls exit(): --help, --version and usage errors come
// back as an exit code, so the real command line is fuzzed. The first byte
// picks the mode, the rest is:
//   0  a command line, one argument per line (at most 64)
//   1  a --config file (written to a temporary file), run with a URL test
//   2  one text for each of the small parsers: --threshold, durations,
//      counts, rates, --sleep, --param, the TEST argument
// Arguments that make parse() open files (--config, --curve-key,
// --broker-pub) are dropped in mode 0, and inputs naming /dev/ or /proc/
// skipped (a config that says `curve-key = /dev/zero` would read forever —
// that is the user's own machine, not hostile input). parse() prints its
// messages to std::cout/std::cerr: they go nowhere here.
//
// Speed: one runner::CommandLine serves every input (building CLI11's App
// was most of the time per input, and of ASan's allocation bookkeeping);
// each parse starts from the defaults, as tests/unit/runner/test_options.cpp
// checks. Mode 1's file is on /dev/shm (tmpfs) when there is one: no disk.
#include "options.hpp"
#include "thresholds.hpp"

#include "loads/units.hpp"

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <streambuf>
#include <string>
#include <vector>

namespace {

struct NullBuf : std::streambuf {
    int overflow(int c) override { return c; }
    std::streamsize xsputn(const char*, std::streamsize n) override { return n; }
};

std::string config_path;

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_options: %s\n", what);
    std::abort();
}

loads::runner::CommandLine* command_line;

int run_parse(std::vector<std::string>& args) {
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>("loads-runner"));
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    auto r = command_line->parse(static_cast<int>(argv.size() - 1), argv.data());
    if (r.options && r.exit_code != 0) fail("options and a non-zero exit code");
    if (!r.options && r.exit_code != 0 && r.exit_code != 2) fail("an exit code other than 0 or 2");
    return r.exit_code;
}

bool opens_files(std::string_view a) {
    for (std::string_view flag : {"--config", "--curve-key", "--broker-pub"})
        if (a.starts_with(flag)) return true;
    return false;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    static NullBuf null;
    std::cout.rdbuf(&null);
    std::cerr.rdbuf(&null);
    command_line = new loads::runner::CommandLine;  // kept to the end, never destroyed
    char shm[] = "/dev/shm/loads-fuzz-config-XXXXXX";
    char tmp[] = "/tmp/loads-fuzz-config-XXXXXX";
    int fd = ::mkstemp(shm);
    config_path = shm;
    if (fd < 0) {
        fd = ::mkstemp(tmp);
        config_path = tmp;
    }
    if (fd < 0) fail("mkstemp");
    ::close(fd);
    std::atexit([] { ::unlink(config_path.c_str()); });
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
    if (in.find("/dev/") != std::string_view::npos || in.find("/proc/") != std::string_view::npos) return 0;

    switch (data[0] % 3) {
    case 0: {
        std::vector<std::string> args;
        std::size_t pos = 0;
        while (pos <= in.size() && args.size() < 64) {
            auto nl = in.find('\n', pos);
            if (nl == std::string_view::npos) nl = in.size();
            std::string a(in.substr(pos, nl - pos));
            if (a.find('\0') != std::string::npos) return 0;  // argv strings have no NUL
            if (!opens_files(a)) args.push_back(std::move(a));
            pos = nl + 1;
        }
        run_parse(args);
        break;
    }
    case 1: {
        FILE* f = std::fopen(config_path.c_str(), "wb");
        if (!f) fail("cannot write the config file");
        std::fwrite(in.data(), 1, in.size(), f);
        std::fclose(f);
        std::vector<std::string> args{"--config", config_path, "http://127.0.0.1:8080/"};
        run_parse(args);
        break;
    }
    default: {
        const std::string text(in);
        using namespace loads;
        (void)runner::parse_threshold(text);
        (void)parse_duration(text);
        (void)parse_count(text);
        (void)parse_rate(text);
        (void)parse_rate_list(text);
        (void)parse_count_list(text);
        (void)parse_sleep(text);
        (void)runner::parse_test_argument(text);
        Params params;
        (void)runner::parse_params({text}, params);
        if (auto d = parse_duration(text)) {
            if (d.value < Duration::zero()) fail("a negative duration");
            (void)format_duration(d.value);
        }
        if (auto r = parse_rate(text); r && !(r.value > 0)) fail("a rate that is not > 0");
        break;
    }
    }
    return 0;
}
