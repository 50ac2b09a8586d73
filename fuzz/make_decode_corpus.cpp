// Writes fuzz/corpus/decode/: every message kind encoded by the real codec,
// as HEAD '\0' BODY (the input format of fuzz_decode). The samples are
// tests/support/sample_messages.hpp, which the codec's unit tests use too.
// Usage: make_decode_corpus DIR
#include "loads/proto/messages.hpp"

#include "sample_messages.hpp"  // tests/support

#include <cstdio>
#include <fstream>
#include <random>
#include <string>

using namespace loads::proto;
using namespace loads::proto::samples;

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_decode_corpus DIR\n");
        return 2;
    }
    int n = 0;
    for (const auto& m : every_message()) {
        Frames f = encode(m);
        const bool pub = std::holds_alternative<Snapshot>(m) || std::holds_alternative<RunEvent>(m) ||
                         std::holds_alternative<ClusterEvent>(m);
        const std::string head = pub ? topic_of(m) : f.head;
        std::ofstream(std::string(argv[1]) + "/" + std::to_string(n++) + "-" + std::string(command_of(m)),
                      std::ios::binary)
            << head << '\0' << f.body;
    }
    std::ofstream(std::string(argv[1]) + "/stats", std::ios::binary) << '\0' << encode_stats(sample_stats(7));
    std::printf("%d inputs\n", n + 1);
    return 0;
}
