// --param KEY=VALUE (runner/options.hpp parse_params): what is accepted, and
// that every bad value is refused with a sentence naming it.
#include "options.hpp"

#include <catch2/catch.hpp>

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
