// What a run is: the test, the plan, the clients' options, the data and
// the parameters. The engine runs it (loads/engine.hpp) and the wire carries
// it (loads/proto/messages.hpp): it lives below both, so every dependency
// points down.
#pragma once

#include "loads/plan.hpp"

#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
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

}  // namespace loads
