// loads-runner's command line (runner/options.hpp parse): every flag that
// takes a value refuses a bad one with exit code 2 and a message that names
// the flag or the value, before anything runs; good values land in Options.
#include "options.hpp"

#include <catch2/catch.hpp>

#include <iostream>
#include <sstream>
#include <string>
#include <vector>

using namespace loads;
using namespace loads::runner;

namespace {

struct Parsed {
    ParseResult result;
    std::string err;  // what parse printed on stderr
};

Parsed parse_args(std::vector<std::string> args) {
    args.insert(args.begin(), "loads-runner");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    std::ostringstream err, out;
    auto* old_err = std::cerr.rdbuf(err.rdbuf());
    auto* old_out = std::cout.rdbuf(out.rdbuf());
    Parsed p{parse(static_cast<int>(argv.size()), argv.data()), {}};
    std::cerr.rdbuf(old_err);
    std::cout.rdbuf(old_out);
    p.err = err.str();
    return p;
}

constexpr const char* kUrl = "http://127.0.0.1:9/";

}  // namespace

TEST_CASE("every flag's bad value is refused with exit 2 and a message naming it") {
    struct Case {
        std::vector<std::string> args;
        std::string says;  // a part of the message
    };
    const std::vector<Case> cases = {
        {{kUrl, "-u", "0"}, "every cycle needs at least one user"},
        {{kUrl, "-u", "10:x"}, "--users: bad count 'x'"},
        {{kUrl, "-u", "-3"}, "-u"},
        {{kUrl, "-c", "many"}, "--hits: bad count 'many'"},
        {{kUrl, "-d", "forever"}, "--duration: bad duration 'forever'"},
        {{kUrl, "-d", "10parsecs"}, "unknown unit 'parsecs'"},
        {{kUrl, "--sleep", "2:1"}, "--sleep: bad range '2:1': max is below min"},
        {{kUrl, "--sleep", "soon"}, "--sleep: bad duration 'soon'"},
        {{kUrl, "--startup-delay", "x"}, "--startup-delay: bad duration"},
        {{kUrl, "--graceful-stop", "-1s"}, "--graceful-stop"},
        {{kUrl, "--rate", "fast"}, "--rate: bad rate 'fast'"},
        {{kUrl, "--ramp", "1parsec"}, "--ramp: bad duration"},
        {{kUrl, "--arrivals", "bursty"}, "--arrivals"},
        {{kUrl, "--max-users", "none"}, "--max-users: bad count 'none'"},
        {{kUrl, "--arrival-window", "x"}, "--arrival-window: bad duration"},
        {{kUrl, "--param", "novalue"}, "--param \"novalue\""},
        {{kUrl, "-H", "NoColon"}, "--header \"NoColon\""},
        {{kUrl, "-H", ": value"}, "--header"},
        {{kUrl, "--timeout", "0s"}, "--timeout"},
        {{kUrl, "--timeout", "abc"}, "--timeout: bad duration"},
        {{kUrl, "--connect-timeout", "0"}, "--connect-timeout"},
        {{kUrl, "--data", "users.csv"}, "--data \"users.csv\""},
        {{kUrl, "--data-exhausted", "loop"}, "--data-exhausted"},
        {{kUrl, "--output", "xml"}, "--output"},
        {{kUrl, "--output-file", "/nonexistent-dir/x.json"}, "--output-file"},
        {{kUrl, "--report", "/nonexistent-dir/r.html"}, "--report"},
        {{kUrl, "--log-level", "loud"}, "--log-level"},
        {{kUrl, "--threshold", "p99<"}, "threshold"},
        {{kUrl, "--threshold", "nonsense"}, "threshold"},
        {{kUrl, "--abort-on-fail"}, "--abort-on-fail goes with --threshold"},
        {{kUrl, "--threads", "5000"}, "--threads"},
        {{kUrl, "--agents", "-1"}, "--agents"},
        {{kUrl, "--agents", "20000"}, "--agents"},
        {{kUrl, "--broker", "garbage"}, "--broker"},
        {{kUrl, "--broker", "tcp://127.0.0.1:99999"}, "--broker"},
        {{kUrl, "--wait"}, "--wait goes with --agents"},
        {{kUrl, "--broker-timeout", "0"}, "--broker-timeout must be more than 0"},
        {{kUrl, "--broker-timeout", "x"}, "--broker-timeout: bad duration"},
        {{kUrl, "--interval", "10ms"}, "--interval must be between 100ms and 10s"},
        {{kUrl, "--interval", "1m"}, "--interval must be between 100ms and 10s"},
        {{kUrl, "--curve-key", "/nonexistent/runner.key"}, "--curve-key needs --broker-pub"},
        {{kUrl, "--config", "/nonexistent/loads.ini"}, "--config /nonexistent/loads.ini"},
        {{kUrl, "--no-such-flag"}, "--no-such-flag"},
        {{kUrl, "--dashboard", "127.0.0.1:0", "--agents", "2"}, "--dashboard serves a local run"},
        {{kUrl, "--list"}, "--list takes a test library"},
        {{kUrl, "--param", "k=v"}, "--param is read by test libraries"},
        {{"example.com/x"}, "is neither a URL"},
        {{"./libnothing.so"}, "names a library but no test"},
        {{}, "a TEST is required"},
    };
    for (const auto& c : cases) {
        auto p = parse_args(c.args);
        std::string line;
        for (const auto& a : c.args) line += a + " ";
        INFO("loads-runner " << line << "\nsaid: " << p.err);
        CHECK_FALSE(p.result.options);
        CHECK(p.result.exit_code == 2);
        CHECK(p.err.find(c.says) != std::string::npos);
    }
}

TEST_CASE("good values land in the options") {
    auto p = parse_args({kUrl, "-u", "10:20", "-c", "5", "--sleep", "10ms:20ms", "-H", "X-A: b",
                         "--timeout", "2s", "--interval", "250ms", "--threshold", "p99<500ms"});
    REQUIRE(p.result.options);
    const Options& o = *p.result.options;
    CHECK(p.err.empty());
    REQUIRE(o.spec.plan.cycles.size() == 2);
    CHECK(o.spec.plan.cycles[0].users == 10);
    CHECK(o.spec.plan.cycles[1].users == 20);
    CHECK(o.spec.plan.cycles[1].hits == 5);
    CHECK(o.spec.test.headers == std::vector<std::pair<std::string, std::string>>{{"X-A", "b"}});
    CHECK(o.spec.client.timeout == std::chrono::seconds(2));
    CHECK(o.spec.interval == std::chrono::milliseconds(250));
    CHECK(o.thresholds.size() == 1);
    CHECK(o.agents == 0);
}

TEST_CASE("--help and --version leave with 0 and run nothing") {
    for (const char* flag : {"--help", "--version"}) {
        auto p = parse_args({flag});
        CHECK_FALSE(p.result.options);
        CHECK(p.result.exit_code == 0);
    }
}
