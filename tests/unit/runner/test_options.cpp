// --param KEY=VALUE (runner/options.hpp parse_params): what is accepted, and
// that every bad value is refused with a sentence naming it.
#include "options.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace loads;
using namespace loads::runner;

namespace {

std::string refusal(std::vector<std::string> texts) {
    Params out;
    return parse_params(texts, out);
}

}  // namespace

TEST_CASE("params take KEY=VALUE, the value up to the end") {
    Params p;
    CHECK(parse_params({"user=alice", "query=a=b&c=d", "empty=", "dotted.key-1_x=v"}, p).empty());
    CHECK(p == Params{{"user", "alice"}, {"query", "a=b&c=d"}, {"empty", ""}, {"dotted.key-1_x", "v"}});
}

TEST_CASE("a bad param is refused, naming it") {
    CHECK(refusal({"novalue"}) == "--param \"novalue\": expected KEY=VALUE");
    CHECK(refusal({"=x"}) == "--param \"=x\": the key is empty");
    CHECK(refusal({"a b=1"}).find("only letters, digits") != std::string::npos);
    CHECK(refusal({"a=1", "a=2"}) == "--param a is given twice");
    CHECK(refusal({std::string(kMaxParamKey + 1, 'k') + "=1"}).find("longer than 128 bytes") != std::string::npos);
    CHECK(refusal({"k=" + std::string(kMaxParamValue + 1, 'v')}) == "--param k: the value is longer than 65536 bytes");
    std::vector<std::string> many;
    for (std::size_t i = 0; i <= kMaxParams; ++i) many.push_back("k" + std::to_string(i) + "=v");
    CHECK(refusal(many) == "--param: 257 given, at most 256");
}

// runner::CommandLine (fuzz/fuzz_options keeps one for every input): a parse
// with a reused parser comes to what a fresh one does; nothing of an earlier
// command line (values, repeated options, a usage error) leaks into the next.
namespace {

std::string fingerprint(const ParseResult& r) {
    std::ostringstream s;
    s << "rc=" << r.exit_code << " options=" << r.options.has_value();
    if (!r.options) return s.str();
    const Options& o = *r.options;
    const RunSpec& sp = o.spec;
    s << " kind=" << int(sp.test.kind) << " url=" << sp.test.url << " lib=" << sp.test.library_path << ":"
      << sp.test.test_name << " method=" << sp.test.method << " body=" << sp.test.body << " expect=" << sp.test.expect
      << " until=" << sp.test.until << " server=" << sp.server_url;
    for (auto& [k, v] : sp.test.headers) s << " H[" << k << "=" << v << "]";
    for (auto& [k, v] : sp.params) s << " P[" << k << "=" << v << "]";
    for (auto& d : sp.data) s << " D[" << d.name << "=" << d.path << "]";
    for (auto& c : sp.plan.cycles)
        s << " C[" << c.users << "," << c.hits << "," << (c.duration ? c.duration->count() : -1) << "," << c.rate << "]";
    s << " model=" << int(sp.plan.model) << " timeout=" << sp.client.timeout.count()
      << " connect=" << sp.client.connect_timeout.count() << " follow=" << sp.client.follow_redirects
      << " insecure=" << sp.client.insecure << " interval=" << sp.interval.count()
      << " exhausted=" << int(sp.data_exhausted) << " output=" << int(o.output) << " file=" << o.output_file
      << " quiet=" << o.quiet << " list=" << o.list_tests << " log=" << o.log_level << " threads=" << o.threads
      << " agents=" << o.agents << " broker=" << o.broker << " wait=" << o.wait_for_agents
      << " thresholds=" << o.thresholds.size() << " abort=" << o.abort_on_fail;
    return s.str();
}

ParseResult parse_with(CommandLine* cl, std::vector<std::string> args) {
    std::vector<char*> argv{const_cast<char*>("loads-runner")};
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int argc = static_cast<int>(argv.size() - 1);
    return cl ? cl->parse(argc, argv.data()) : parse(argc, argv.data());
}

}  // namespace

TEST_CASE("a reused CommandLine parses each command line as a fresh parser does") {
    const std::vector<std::vector<std::string>> lines = {
        {"http://127.0.0.1:1/a", "-u", "3:4", "-c", "2:5", "-H", "A: b", "-H", "C: d", "--body", "x", "--expect", "y",
         "-m", "POST", "--timeout", "2s", "--threshold", "p95<200ms", "--threshold", "errors<1%", "--output", "json",
         "-q", "--threads", "3", "--follow-redirects", "-k", "--interval", "500ms"},
        {"http://127.0.0.1:1/"},
        {"lib.so:A.b", "--param", "k=v", "--param", "j=w", "--server-url", "http://h:1", "--data", "users=u.csv",
         "--data-exhausted", "stop", "-d", "3s", "-u", "2"},
        {"lib.so:A.b"},
        {"http://127.0.0.1:1/", "--rate", "100:200", "-d", "1s", "--max-users", "7"},
        {"http://127.0.0.1:1/", "-u", "nope"},  // a usage error
        {"http://127.0.0.1:1/", "-u", "2"},
        {"--help"},
        {"tcp://127.0.0.1:2", "--until", ".", "--agents", "2", "--broker", "tcp://127.0.0.1:3", "--wait"},
        {"tcp://127.0.0.1:2"},
        {},
    };
    CommandLine reused;
    for (int round = 0; round < 2; ++round)
        for (const auto& line : lines) {
            INFO("command line " << Catch::Detail::stringify(line));
            CHECK(fingerprint(parse_with(&reused, line)) == fingerprint(parse_with(nullptr, line)));
        }
}
