// The loads-runner command line: what the user asked for, validated, before
// any thread starts. A bad flag is a clear message and exit code 2.
#pragma once

#include "thresholds.hpp"

#include "loads/proto/curve.hpp"

#include "loads/engine.hpp"

#include <memory>
#include <optional>
#include <string>

namespace loads::runner {

enum class OutputFormat { text, json };

struct Options {
    RunSpec spec;                  // what to run and how
    std::string test_argument;     // TEST as typed, for the report
    unsigned threads = 0;          // 0: one per core
    bool quiet = false;            // no progress bar
    OutputFormat output = OutputFormat::text;
    std::string output_file;       // report goes here instead of stdout
    std::string report_file;       // --report: the HTML report goes here
    bool list_tests = false;       // print the tests of the library and exit
    std::string log_level = "warn";
    std::string dashboard;         // HOST:PORT: serve the live page and /metrics (local runs)

    // CI: judged on the merged results; a failed one makes the exit code 3.
    std::vector<Threshold> thresholds;
    bool abort_on_fail = false;    // stop the run once a threshold can no longer pass

    // Cluster mode (see docs/protocol.md).
    unsigned agents = 0;           // 0: run in this process
    std::string broker = "tcp://127.0.0.1:7780";
    bool wait_for_agents = false;
    bool ping_broker = false;
    bool check_cluster = false;
    bool show_url = false;         // the broker may show the URL unredacted to others (STATUS, PUB)
    std::optional<Duration> broker_timeout;
    // CURVE (docs/security.md): this runner's keypair and the broker's public
    // key, from --curve-key and --broker-pub; disabled when neither is given.
    proto::ClientKeys curve;
};

// What parse() came to: options to run with, or an exit code to leave with
// (0 after --help/--version, 2 after a usage error, with the message printed).
struct ParseResult {
    std::optional<Options> options;
    int exit_code = 0;
};

ParseResult parse(int argc, char** argv);

// The same parser, kept for many parses: building it (CLI11's App, every
// option and check) is most of a parse's cost, which a program parsing many
// command lines (fuzz/fuzz_options) pays once. parse(argc, argv) above is
// CommandLine().parse(argc, argv); each parse starts from the defaults.
class CommandLine {
public:
    CommandLine();
    ~CommandLine();
    CommandLine(const CommandLine&) = delete;
    CommandLine& operator=(const CommandLine&) = delete;
    ParseResult parse(int argc, char** argv);

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

// Adds each "KEY=VALUE" of --param to `out`. Returns why one is bad (no '=',
// a bad or repeated key, too long, too many), or "".
std::string parse_params(const std::vector<std::string>& texts, Params& out);

// Splits the TEST argument into a TestSpec: a URL, or LIBRARY.so:Class.method.
Parsed<TestSpec> parse_test_argument(const std::string& text);

}  // namespace loads::runner
