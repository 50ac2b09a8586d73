// The engine that runs virtual users: the same code runs a load in
// loads-runner (local mode) and in loads-agent (cluster mode).
//
// Threads: `threads` workers, each with its own io_context; users are spread
// round-robin over them and run as stackful coroutines (thousands per thread).
// Each worker counts into its own Stats with no lock; the thread that called
// run() collects the workers' deltas every `interval` and hands them to the
// observer.
#pragma once

#include "loads/allow.hpp"
#include "loads/plan.hpp"
#include "loads/stats.hpp"

#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace loads {

// What each hit runs.
struct TestSpec {
    enum class Kind { url, library };
    Kind kind = Kind::url;

    // Kind::url ("zero-code"): one request or exchange per hit.
    std::string url;     // http(s)://, ws(s)://, tcp://host:port
    std::string method = "GET";
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;    // HTTP: request body; ws/tcp: what each hit sends (default "ping")
    std::string expect;  // ws/tcp: reply must equal this when non-empty; http: body must contain it
    std::string until = "\n";  // tcp: a reply ends with this delimiter

    // Kind::library: a test library (.so) and what to run of it: "Class.method",
    // or weighted tasks "Shop.browse:3,Shop.buy:1@1s" (agent/src/tasks.hpp).
    std::string library_path;
    std::string test_name;
};

// One task of a library test run: a test and its weight (tasks.hpp).
struct TaskInfo {
    std::string name;                 // "Class.method"
    std::uint32_t weight = 1;
    std::optional<SleepRange> think;  // its think time, in place of --sleep
};

// How the engine's clients behave.
struct ClientOptions {
    Duration connect_timeout = std::chrono::seconds(10);  // the TCP connect and the TLS handshake together
    Duration timeout = std::chrono::seconds(30);  // one request or receive
    bool follow_redirects = false;                // URL mode; sessions default to true
    unsigned max_redirects = 10;
    bool insecure = false;                        // skip TLS certificate verification
    std::uint64_t max_body = 64ull << 20;         // bigger responses are a protocol error
    bool http2 = false;                           // HTTP/2: h2c on http, ALPN h2 on https
    unsigned streams = 1;                         // URL mode: requests at once per user (HTTP/2 streams)
};

// A data file of --data NAME=FILE (agent/src/data_file.hpp has the formats).
struct DataSource {
    std::string name;  // what a test calls it: data("users")
    std::string path;  // .csv (a header row) or .jsonl; on the wire the file rides along
};

// What user_row() does for a user whose id is past the last row.
enum class DataExhaustion {
    wrap,  // row id % rows: rows are reused, in order
    stop,  // throws DataExhausted: the user stops (counted as out of data)
};
// --param KEY=VALUE: strings the run hands to its test (param("KEY")).
inline constexpr std::size_t kMaxParams = 256;
inline constexpr std::size_t kMaxParamKey = 128;          // bytes
inline constexpr std::size_t kMaxParamValue = 64 * 1024;  // bytes
using Params = std::map<std::string, std::string, std::less<>>;

// Why `key` cannot name a parameter ("" when it can): 1 to kMaxParamKey
// characters of A-Z a-z 0-9 _ . -
inline std::string check_param_key(std::string_view key) {
    if (key.empty()) return "the key is empty";
    if (key.size() > kMaxParamKey) return "the key is longer than " + std::to_string(kMaxParamKey) + " bytes";
    for (char c : key)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'))
            return "the key may hold only letters, digits, '_', '.' and '-'";
    return {};
}

struct RunSpec {
    TestSpec test;
    Plan plan;
    std::string server_url;  // base for relative paths in test libraries
    ClientOptions client;
    Duration interval = std::chrono::seconds(1);  // how often on_interval is called
    // This engine's place in the run: agent `agent_index` of `agent_count`
    // (0 of 1 locally). It makes user ids unique over the run and gives the
    // open model this agent's share of the rate and of --max-users.
    std::uint32_t agent_index = 0;
    std::uint32_t agent_count = 1;
    // Test data, read by tests with data(name) and user_row(name).
    std::vector<DataSource> data;
    DataExhaustion data_exhausted = DataExhaustion::wrap;
    Params params;  // --param: read by tests with param("KEY"), on every agent alike
};

struct CycleResult {
    std::uint32_t index = 0;
    std::uint32_t users = 0;   // closed: concurrent users; open: the pool's peak
    double rate = 0;           // open model: arrivals per second asked
    Stats stats;
    Duration elapsed{0};
};

struct RunResult {
    std::chrono::system_clock::time_point started;
    Duration elapsed{0};
    std::vector<CycleResult> cycles;
    Stats total;           // sum of the cycles
    bool stopped = false;  // stop() ended it before the plan was done
};

struct Progress {
    std::uint64_t hits_done = 0;
    std::optional<std::uint64_t> hits_total;       // count mode
    Duration elapsed{0};
    std::optional<Duration> duration_total;         // duration mode
    std::uint32_t cycle = 0;                        // index of the running cycle
    std::uint32_t cycles = 0;
    std::uint32_t users_alive = 0;                  // virtual users now (the open model's pool)
    std::uint32_t users_busy = 0;                   // of which in a hit now

    // 0..1, from hits in count mode and from time in duration mode.
    double fraction() const;
};

// Receives the run as it goes. Every call is made on the thread inside run().
class RunObserver {
public:
    virtual ~RunObserver() = default;
    // Called every interval and once at the end of each cycle with the figures
    // counted since the previous call (so summing every delta gives the total).
    virtual void on_interval(std::uint32_t /*cycle*/, const Stats& /*delta*/, const Progress&) {}
    // Called when a cycle starts and when it has ended.
    virtual void on_cycle_start(std::uint32_t /*cycle*/, const Cycle&) {}
    virtual void on_cycle_end(const CycleResult&) {}
};

// How an engine is set up (for every run it makes).
struct EngineOptions {
    unsigned threads = 0;  // 0: one per core
    // Where virtual users may connect (loads-agent --allow): every address a
    // host resolves to is checked before connecting; a refused one is never
    // contacted and the hit fails with ErrorKind::forbidden. Empty: no check
    // (loads-runner's local runs).
    AllowList allow;
};

class Engine {
public:
    // threads == 0: one per core.
    explicit Engine(unsigned threads = 0);
    explicit Engine(EngineOptions options);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    unsigned threads() const;

    // Checks a test before a run: the URL parses, the library loads and has
    // the test. Returns an error message, or empty when the test can run.
    static std::string check(const TestSpec& test);
    // Checks data files before a run: names, formats, sizes, every row
    // parses. Returns an error message ("--data users=u.csv: line 3: ..."),
    // or empty.
    static std::string check_data(const std::vector<DataSource>& data);
    // Checks the hosts a run names up front (the URL in URL mode,
    // --server-url) against an allow list: "" when allowed (or the list is
    // empty), else why not ("http://10.9.9.9/ is outside this agent's
    // --allow (127.0.0.0/8, ::1)"). A name is allowed by a name entry, or when
    // one of its addresses is allowed; a name that does not resolve passes
    // here (connecting is checked again, address by address).
    static std::string check_allowed(const RunSpec& spec, const AllowList& allow);
    // The names of the tests a library holds ("Class.method", with ":WEIGHT"
    // for those LOADS_TASK gave a weight), or an error.
    static Parsed<std::vector<std::string>> list_tests(const std::string& library_path);
    // The tasks a library test runs (one for "Class.method"), or an error.
    static Parsed<std::vector<TaskInfo>> tasks(const TestSpec& test);
    // The names a URL-mode test records its requests under, known before it
    // runs ("GET /path"; "ws /path" and "WS connect /path"; "tcp host:port");
    // empty for a test library (its names appear as it runs) or a bad URL.
    static std::vector<std::string> request_names(const TestSpec& test);

    // Runs the plan to its end (or until stop()). Blocks the calling thread.
    RunResult run(const RunSpec& spec, RunObserver& observer);

    // Asks a running run() to stop: no new hits start, hits in flight are
    // cancelled, and run() returns within about a second. Thread-safe and
    // async-signal-unsafe: call it from a normal thread.
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace loads
