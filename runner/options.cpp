#include "options.hpp"

#include "loads/proto/wire.hpp"

#include <CLI/CLI.hpp>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string_view>

namespace loads::runner {

Parsed<TestSpec> parse_test_argument(const std::string& text) {
    TestSpec t;
    if (text.find("://") != std::string::npos) {
        t.kind = TestSpec::Kind::url;
        t.url = text;
        return {t, {}};
    }
    auto so = text.rfind(".so");
    if (so != std::string::npos && (so + 3 == text.size() || text[so + 3] == ':')) {
        t.kind = TestSpec::Kind::library;
        t.library_path = text.substr(0, so + 3);
        if (so + 3 < text.size()) t.test_name = text.substr(so + 4);
        return {t, {}};
    }
    return {{}, "TEST \"" + text +
                    "\" is neither a URL (http://, https://, ws://, wss://, tcp://) nor "
                    "LIBRARY.so:Class.method"};
}

std::string parse_params(const std::vector<std::string>& texts, Params& out) {
    if (texts.size() > kMaxParams)
        return "--param: " + std::to_string(texts.size()) + " given, at most " + std::to_string(kMaxParams);
    for (const auto& text : texts) {
        auto eq = text.find('=');
        if (eq == std::string::npos) return "--param \"" + text + "\": expected KEY=VALUE";
        std::string key = text.substr(0, eq);
        if (auto why = check_param_key(key); !why.empty()) return "--param \"" + text + "\": " + why;
        std::string value = text.substr(eq + 1);
        if (value.size() > kMaxParamValue)
            return "--param " + key + ": the value is longer than " + std::to_string(kMaxParamValue) + " bytes";
        if (!out.emplace(key, std::move(value)).second) return "--param " + key + " is given twice";
    }
    return {};
}

namespace {

// CLI11 validator wrapping one of our parsers, so the error names the option.
template <class F>
CLI::Validator checked(F parse, std::string what) {
    return CLI::Validator(
        [parse, what](std::string& value) -> std::string {
            auto r = parse(value);
            return r ? std::string() : r.error;
        },
        what);
}

// "" when `path` can be written once the run is over (so a run is not made
// only to find that its report has nowhere to go), else why not.
std::string why_not_writable(const std::string& option, const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path p(path);
    if (fs::is_directory(p, ec)) return option + " " + path + ": is a directory";
    if (fs::exists(p, ec)) {
        return ::access(path.c_str(), W_OK) == 0 ? "" : option + " " + path + ": cannot write this file";
    }
    const fs::path dir = p.parent_path().empty() ? fs::path(".") : p.parent_path();
    if (!fs::is_directory(dir, ec)) return option + " " + path + ": no directory " + dir.string();
    if (::access(dir.c_str(), W_OK) != 0) return option + " " + path + ": cannot create files in " + dir.string();
    return "";
}

bool is_text(std::string_view line) {
    for (std::size_t i = 0; i < line.size();) {
        const auto c = static_cast<unsigned char>(line[i]);
        if (c < 0x80) {
            if (c < 0x20 && c != '\t') return false;
            ++i;
            continue;
        }
        const std::size_t n = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
        if (n == 0 || c >= 0xf5 || i + n > line.size()) return false;
        for (std::size_t k = 1; k < n; ++k)
            if ((static_cast<unsigned char>(line[i + k]) & 0xc0) != 0x80) return false;
        i += n;
    }
    return true;
}

// CLI11 reads an INI/TOML file leniently (a line it cannot parse becomes a
// flag of that name; a file of random bytes was once read as nothing at all)
// and words its errors for its own developers. Checked here first: "" when
// every line is blank, a comment, [default] or `name = value` for an option
// this program has, else why not, with the line.
std::string why_not_config(const CLI::App& app, const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) return "--config " + path + ": cannot read it";
    std::string line;
    for (int n = 1; std::getline(f, line); ++n) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto bad = [&](const std::string& why) {
            return "--config " + path + " line " + std::to_string(n) + ": " + why;
        };
        if (!is_text(line)) return bad("not text (a control character or bytes that are not UTF-8)");
        const auto first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#' || line[first] == ';') continue;
        const auto last = line.find_last_not_of(" \t");
        if (line[first] == '[') {
            if (line.substr(first, last + 1 - first) == "[default]") continue;
            return bad("options go at the top of the file or under [default], not under " +
                       line.substr(first, 60));
        }
        const auto eq = line.find('=');
        std::string name = line.substr(first, eq == std::string::npos ? std::string::npos : eq - first);
        name.erase(name.find_last_not_of(" \t") + 1);
        const bool name_ok = !name.empty() && name.find_first_not_of("abcdefghijklmnopqrstuvwxyz"
                                                                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") ==
                                                  std::string::npos;
        if (eq == std::string::npos || !name_ok)
            return bad("expected 'name = value', got \"" + line.substr(first, 60) + "\"");
        if (name == "config" || !app.get_option_no_throw("--" + name))
            return bad("no option --" + name + " (loads-runner --help lists them)");
    }
    return "";
}

// The value of --config on the command line, if given.
std::optional<std::string> config_argument(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "--") break;
        if (a == "--config" && i + 1 < argc) return std::string(argv[i + 1]);
        if (a.rfind("--config=", 0) == 0) return std::string(a.substr(9));
    }
    return std::nullopt;
}

// The variables the command line's options are bound to, with their
// defaults; a parse starts from a fresh copy.
struct Values {
    Options o;
    PlanInput plan;
    std::string test_arg, timeout = "30s", connect_timeout = "10s", interval = "1s";
    std::vector<std::string> headers;
    std::string output = "text";
    std::string broker_timeout;
    std::string streams;  // --streams, checked with --http2
    std::string curve_key, broker_pub;
    std::vector<std::string> thresholds;
    std::vector<std::string> data;
    std::string data_exhausted = "wrap";
    std::vector<std::string> params;
};

}  // namespace

// CLI11's App with every option bound to a member of `v`: made once, used
// for every parse (CLI11 clears the options' results at each parse, and `v`
// is reset to its defaults).
struct CommandLine::Impl {
    Values v;
    CLI::App app{"loads-runner: run a load test, on this machine or on a loads cluster.\n\n"
                 "  loads-runner http://127.0.0.1:8080/ -u 10:20:30 -c 20\n"
                 "  loads-runner ./libexample.so:WebSite.test_home --server-url http://127.0.0.1:8080 -u 50 -d 30s\n",
                 "loads-runner"};
    CLI::Option* users_opt = nullptr;

    Impl();
    ParseResult parse(int argc, char** argv);

private:
    // The options of each group of --help, bound to v.
    void add_plan_options();
    void add_open_model_options();
    void add_target_options();
    void add_data_options();
    void add_output_options();
    void add_thresholds_options();
    void add_engine_options();
    void add_cluster_options();
    // Each takes part of the parsed values into v.o; "" or why not.
    std::string take_test();
    std::string take_plan();
    std::string take_outputs();
};

CommandLine::Impl::Impl() {
    app.set_version_flag("--version", "loads-runner " LOADS_VERSION);
    app.option_defaults()->always_capture_default();

    app.add_option("test", v.test_arg,
                   "What each hit runs: a URL (http, https, ws, wss, tcp://host:port) or "
                   "LIBRARY.so:Class.method");
    app.set_config("--config", "", "Read options from an INI or TOML file; command-line flags win");
    app.allow_config_extras(CLI::config_extras_mode::error);  // a misspelt name is an error, not ignored

    add_plan_options();
    add_open_model_options();
    add_target_options();
    add_data_options();
    add_output_options();
    add_thresholds_options();
    add_engine_options();
    add_cluster_options();
}

void CommandLine::Impl::add_plan_options() {
    auto& plan = v.plan;
    const char* g = "Load plan";
    users_opt = app.add_option("-u,--users", plan.users, "Concurrent users per cycle, e.g. 10 or 10:20:30 (closed model, the default)")
        ->group(g)->check(checked(parse_count_list, "USERS"));
    auto* hits_opt = app.add_option("-c,--hits", plan.hits,
                                    "Hits per user in each cycle (one value, or one per cycle: 5:10:20)")
        ->group(g)->check(checked(parse_count_list, "HITS"));
    auto* dur_opt = app.add_option("-d,--duration", plan.duration,
                                   "Hold each cycle for this long instead of counting hits (10s, 2m)")
        ->group(g)->check(checked(parse_duration, "DURATION"));
    hits_opt->excludes(dur_opt);
    app.add_option("--sleep", plan.sleep, "Think time between hits: 0.01, 100ms, or min:max")
        ->group(g)->check(checked(parse_sleep, "SLEEP"));
    app.add_option("--startup-delay", plan.startup_delay, "Delay between user starts in a cycle")
        ->group(g)->check(checked(parse_duration, "DURATION"));
    app.add_option("--graceful-stop", plan.graceful_stop,
                   "Duration mode: how long hits in flight at the end of a cycle may finish")
        ->group(g)->check(checked(parse_duration, "DURATION"));
}

void CommandLine::Impl::add_open_model_options() {
    auto& plan = v.plan;
    const char* g = "Open model (arrival rate)";
    app.add_option("--rate", plan.rate,
                   "Hits started per second, whatever the server does, per cycle: 500 or 500:1k:2k (with -d); "
                   "latency counts from each hit's scheduled time")
        ->group(g)->check(checked(parse_rate_list, "RATE"));
    app.add_option("--ramp", plan.ramp, "Ramp linearly from one cycle's rate to the next (from 0 to the first)")
        ->group(g)->check(checked(parse_duration, "DURATION"));
    app.add_option("--arrivals", plan.arrivals, "Arrival spacing: uniform (default) or poisson")
        ->group(g)->check(CLI::IsMember({"uniform", "poisson"}));
    app.add_option("--max-users", plan.max_users,
                   "Cap of the pool of users serving arrivals, over the whole run (default 1000 per agent); "
                   "the pool grows as arrivals need")
        ->group(g)->check(checked(parse_count, "N"));
    app.add_option("--arrival-window", plan.arrival_window,
                   "Arrivals due within this window start together: fewer wake-ups, each hit up to this much "
                   "after its schedule (default 500us; 0: a wake-up per arrival)")
        ->group(g)->check(checked(parse_duration, "DURATION"));
}

void CommandLine::Impl::add_target_options() {
    auto& o = v.o;
    auto& timeout = v.timeout;
    auto& connect_timeout = v.connect_timeout;
    auto& headers = v.headers;
    auto& streams = v.streams;
    auto& params = v.params;
    const char* g = "Target";
    app.add_option("--server-url", o.spec.server_url, "Base URL for the relative paths of a test library")->group(g);
    app.add_option("--param", params,
                   "KEY=VALUE a test library reads with param(\"KEY\"), repeatable; reaches every agent")
        ->group(g)->allow_extra_args(false);
    app.add_option("-m,--method", o.spec.test.method, "URL mode: HTTP method")->group(g);
    app.add_option("-H,--header", headers, "URL mode: extra header 'Name: value' (repeatable)")->group(g);
    app.add_option("--body", o.spec.test.body, "URL mode: request body (ws/tcp: the message sent each hit)")->group(g);
    app.add_option("--expect", o.spec.test.expect,
                   "URL mode: HTTP body must contain this; ws/tcp reply must equal it")->group(g);
    app.add_option("--until", o.spec.test.until, "tcp:// mode: a reply ends with this delimiter")->group(g);
    app.add_option("--timeout", timeout, "Timeout of one request or receive")
        ->group(g)->check(checked(parse_duration, "DURATION"));
    app.add_option("--connect-timeout", connect_timeout, "Timeout of one connect")
        ->group(g)->check(checked(parse_duration, "DURATION"));
    app.add_flag("--follow-redirects", o.spec.client.follow_redirects, "URL mode: follow 3xx redirects")->group(g);
    app.add_flag("-k,--insecure", o.spec.client.insecure, "Do not verify TLS certificates")->group(g);
    app.add_flag("--http2", o.spec.client.http2,
                 "HTTP/2: prior knowledge (h2c) on http://, ALPN h2 on https:// (HTTP/1.1 if the server picks it); "
                 "also the default of a test library's sessions")
        ->group(g);
    app.add_option("--streams", streams,
                   "URL mode with --http2: requests each user sends at once, one stream each on its connection "
                   "(a hit is all of them; default 1, at most 1000)")
        ->group(g)->check(checked(parse_count, "N"));
}

void CommandLine::Impl::add_data_options() {
    auto& data = v.data;
    auto& data_exhausted = v.data_exhausted;
    const char* g = "Test data";
    app.add_option("--data", data,
                   "A data file for the test, repeatable: NAME=FILE, a .csv with a header row or a .jsonl "
                   "(one JSON object per line); read in a test as data(\"NAME\") and user_row(\"NAME\"), "
                   "shipped to agents")
        ->group(g)->allow_extra_args(false);
    app.add_option("--data-exhausted", data_exhausted,
                   "user_row() past the last row: wrap (row user_id % rows, the default) or stop (the user stops)")
        ->group(g)->check(CLI::IsMember({"wrap", "stop"}));
}

void CommandLine::Impl::add_output_options() {
    auto& o = v.o;
    auto& output = v.output;
    const char* g = "Output";
    app.add_flag("-q,--quiet", o.quiet, "No progress bar")->group(g);
    app.add_option("--output", output, "Report format")->group(g)->check(CLI::IsMember({"text", "json"}));
    app.add_option("--output-file", o.output_file, "Write the report to this file (stdout still gets the summary)")->group(g);
    app.add_option("--dashboard", o.dashboard,
                   "Serve the live dashboard and /metrics on HOST:PORT during a local run (127.0.0.1:8089)")
        ->group(g);
    app.add_option("--report", o.report_file,
                   "Also write a self-contained HTML report here (charts, cycles, names, errors; opens offline)")
        ->group(g);
    app.add_flag("--list", o.list_tests, "List the tests of a test library and exit")->group(g);
    app.add_option("--log-level", o.log_level, "Diagnostics on stderr: trace, debug, info, warn, error, off")
        ->group(g)->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
}

void CommandLine::Impl::add_thresholds_options() {
    auto& o = v.o;
    auto& thresholds = v.thresholds;
    const char* g = "Thresholds (CI)";
    app.add_option("--threshold", thresholds,
                   "Pass/fail criterion, repeatable: 'p95<200ms', 'errors<1%', 'rps>1000', 'GET /cart:p99<50ms'; "
                   "a failed one makes the exit code 3")
        ->group(g)->allow_extra_args(false);
    app.add_flag("--abort-on-fail", o.abort_on_fail,
                 "Stop the run as soon as a threshold can no longer pass (a count over its limit, the max latency over its limit)")
        ->group(g);
}

void CommandLine::Impl::add_engine_options() {
    auto& o = v.o;
    const char* g = "Engine";
    app.add_option("--threads", o.threads, "Worker threads (default: one per core)")
        ->group(g)->check(CLI::Range(0u, 1024u));
}

void CommandLine::Impl::add_cluster_options() {
    auto& o = v.o;
    auto& interval = v.interval;
    auto& broker_timeout = v.broker_timeout;
    auto& curve_key = v.curve_key;
    auto& broker_pub = v.broker_pub;
    const char* g = "Cluster";
    app.add_option("--agents", o.agents, "Run on this many agents of a broker (each runs the whole plan)")
        ->group(g)->check(CLI::Range(0u, 10000u));
    app.add_option("--broker", o.broker, "The broker's frontend endpoint")->group(g);
    app.add_flag("--wait", o.wait_for_agents, "Wait for enough idle agents instead of failing")->group(g);
    app.add_flag("--show-url", o.show_url,
                 "Let the broker's STATUS and result stream show this run's URL as typed (by default without "
                 "user:password@ and with query values REDACTED)")
        ->group(g);
    app.add_flag("--ping-broker", o.ping_broker, "Print the broker's status and exit")->group(g);
    app.add_flag("--check-cluster", o.check_cluster, "Print the broker and its agents and exit")->group(g);
    app.add_option("--curve-key", curve_key, "This runner's CURVE keypair file (loads-broker keygen NAME)")->group(g);
    app.add_option("--broker-pub", broker_pub, "The broker's public key file (BROKER.pub), with --curve-key")->group(g);
    app.add_option("--broker-timeout", broker_timeout, "How long to wait for the broker to answer")
        ->group(g)->check(checked(parse_duration, "DURATION"));
    app.add_option("--interval", interval, "How often results are reported (100ms to 10s)")
        ->group(g)->check(checked(parse_duration, "DURATION"));
}

ParseResult CommandLine::Impl::parse(int argc, char** argv) {
    v = Values{};  // the options stay bound: v's members keep their addresses
    auto& o = v.o;
    auto& output = v.output;
    auto& broker_timeout = v.broker_timeout;
    auto& curve_key = v.curve_key;
    auto& broker_pub = v.broker_pub;

    if (auto path = config_argument(argc, argv))
        if (auto why = why_not_config(app, *path); !why.empty()) {
            std::cerr << "loads-runner: " << why << "\nRun with --help for more information.\n";
            return {std::nullopt, 2};
        }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int rc = app.exit(e, std::cout, std::cerr);
        return {std::nullopt, rc == 0 ? 0 : 2};
    }

    auto usage = [&](const std::string& msg) {
        std::cerr << "loads-runner: " << msg << "\nRun with --help for more information.\n";
        return ParseResult{std::nullopt, 2};
    };

    o.output = output == "json" ? OutputFormat::json : OutputFormat::text;
    if (auto why = proto::check_connect_endpoint(o.broker); !why.empty()) return usage("--broker " + why);
    if (!broker_timeout.empty()) {
        o.broker_timeout = parse_duration(broker_timeout).value;
        if (*o.broker_timeout <= Duration::zero()) return usage("--broker-timeout must be more than 0");
    }
    try {
        o.curve = proto::load_client_keys(curve_key, broker_pub);
    } catch (const std::exception& e) {
        return usage(e.what());
    }
    if (o.ping_broker || o.check_cluster) return {std::move(o), 0};

    for (auto take : {&Impl::take_test, &Impl::take_plan, &Impl::take_outputs})
        if (auto why = (this->*take)(); !why.empty()) return usage(why);
    return {std::move(o), 0};
}

// The test argument and what goes with it (URL mode's options, --param, --streams).
std::string CommandLine::Impl::take_test() {
    auto& o = v.o;
    auto& test_arg = v.test_arg;
    auto& headers = v.headers;
    auto& streams = v.streams;
    auto& params = v.params;
    if (test_arg.empty()) return "a TEST is required (a URL or LIBRARY.so:Class.method)";
    auto test = parse_test_argument(test_arg);
    if (!test) return test.error;
    std::string method = o.spec.test.method, body = o.spec.test.body, expect = o.spec.test.expect,
                until = o.spec.test.until;
    o.spec.test = test.value;
    o.test_argument = test_arg;
    o.spec.test.method = method;
    o.spec.test.body = body;
    o.spec.test.expect = expect;
    o.spec.test.until = until;
    for (auto& h : headers) {
        auto colon = h.find(':');
        if (colon == std::string::npos || colon == 0) return "--header \"" + h + "\": expected 'Name: value'";
        std::string value = h.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        o.spec.test.headers.emplace_back(h.substr(0, colon), value);
    }
    if (o.spec.test.kind == TestSpec::Kind::library && o.spec.test.test_name.empty() && !o.list_tests)
        return "\"" + test_arg + "\" names a library but no test: use " + test_arg +
               ":Class.method (--list shows its tests)";
    if (o.spec.test.kind == TestSpec::Kind::url && o.list_tests)
        return "--list takes a test library, not a URL";
    if (auto err = parse_params(params, o.spec.params); !err.empty()) return err;
    if (!streams.empty()) {
        auto n = parse_count(streams).value;
        if (n < 1 || n > 1000) return "--streams must be between 1 and 1000";
        if (!o.spec.client.http2) return "--streams goes with --http2 (HTTP/1.1 has one request in flight per connection)";
        if (o.spec.test.kind != TestSpec::Kind::url || o.spec.test.url.rfind("http", 0) != 0)
            return "--streams goes with an http:// or https:// URL";
        o.spec.client.streams = static_cast<unsigned>(n);
    }
    if (!o.spec.params.empty() && o.spec.test.kind == TestSpec::Kind::url)
        return "--param is read by test libraries (param(\"KEY\") in a test); a URL test has no use for it";

    return {};
}

// The load plan, timeouts and the reporting interval.
std::string CommandLine::Impl::take_plan() {
    auto& o = v.o;
    auto& plan = v.plan;
    auto& timeout = v.timeout;
    auto& connect_timeout = v.connect_timeout;
    auto& interval = v.interval;
    if (!o.dashboard.empty() && o.agents)
        return "--dashboard serves a local run; for a cluster run loads-dashboard --publisher on the broker's publisher";
    plan.users_given = users_opt->count() > 0;
    plan.agents = std::max(1u, o.agents);
    auto p = make_plan(plan);
    if (!p) return p.error;
    o.spec.plan = std::move(p.value);
    o.spec.client.timeout = parse_duration(timeout).value;
    o.spec.client.connect_timeout = parse_duration(connect_timeout).value;
    if (o.spec.client.timeout <= Duration::zero() || o.spec.client.connect_timeout <= Duration::zero())
        return "--timeout and --connect-timeout must be more than 0";
    o.spec.interval = parse_duration(interval).value;
    if (o.spec.interval < std::chrono::milliseconds(100) || o.spec.interval > std::chrono::seconds(10))
        return "--interval must be between 100ms and 10s";
    if (o.wait_for_agents && o.agents == 0) return "--wait goes with --agents";
    return {};
}

// Thresholds, data files and the files the report goes to.
std::string CommandLine::Impl::take_outputs() {
    auto& o = v.o;
    auto& thresholds = v.thresholds;
    auto& data = v.data;
    auto& data_exhausted = v.data_exhausted;
    for (const auto& text : thresholds) {
        auto t = parse_threshold(text);
        if (!t) return t.error;
        o.thresholds.push_back(std::move(t.value));
    }
    if (o.abort_on_fail && o.thresholds.empty()) return "--abort-on-fail goes with --threshold";
    for (const auto& d : data) {
        auto eq = d.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == d.size())
            return "--data \"" + d + "\": expected NAME=FILE (e.g. users=users.csv)";
        o.spec.data.push_back({d.substr(0, eq), d.substr(eq + 1)});
    }
    if (!o.spec.data.empty() && o.spec.test.kind != TestSpec::Kind::library)
        return "--data goes with a test library (LIBRARY.so:Class.method): a URL test reads no data";
    o.spec.data_exhausted = data_exhausted == "stop" ? DataExhaustion::stop : DataExhaustion::wrap;
    for (auto [option, path] : {std::pair{"--output-file", &o.output_file}, std::pair{"--report", &o.report_file}})
        if (!path->empty())
            if (auto why = why_not_writable(option, *path); !why.empty()) return why;
    return {};
}

CommandLine::CommandLine() : impl_(std::make_unique<Impl>()) {}
CommandLine::~CommandLine() = default;

ParseResult CommandLine::parse(int argc, char** argv) { return impl_->parse(argc, argv); }

ParseResult parse(int argc, char** argv) { return CommandLine().parse(argc, argv); }

}  // namespace loads::runner
