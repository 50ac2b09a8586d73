// libFuzzer harness: the wire codec (proto/src/codec.cpp) on hostile frames.
// Input: HEAD '\0' BODY — the command name (or PUB topic) up to the first NUL,
// the msgpack body after it. Each input goes through decode(), decode_published()
// and, when HEAD is empty, decode_stats(): any exception other than ProtoError, any sanitizer report,
// is a crash. A message that decodes must survive encode -> decode -> encode
// with the same bytes (what the broker relays must mean what it received).
#include "loads/proto/messages.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

using namespace loads::proto;

namespace {

[[noreturn]] void fail(const char* what, std::string_view head) {
    std::fprintf(stderr, "fuzz_decode: %s (head \"%.*s\")\n", what, static_cast<int>(head.size()), head.data());
    std::abort();
}

void round_trip(const Message& m, bool published) {
    const Frames f = encode(m);
    const std::string head = published ? topic_of(m) : f.head;
    Message back;
    try {
        back = published ? decode_published(head, f.body) : decode(head, f.body);
    } catch (const ProtoError& e) {
        std::fprintf(stderr, "fuzz_decode: re-decoding refused: %s\n", e.what());
        fail("a decoded message does not decode again after encode()", head);
    }
    if (encode(back).body != f.body) fail("encode(decode(encode(m))) differs from encode(m)", head);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    const auto nul = in.find('\0');
    const std::string_view head = nul == std::string_view::npos ? std::string_view() : in.substr(0, nul);
    const std::string_view body = nul == std::string_view::npos ? in : in.substr(nul + 1);

    try {
        round_trip(decode(head, body), false);
    } catch (const ProtoError&) {
    }
    try {
        round_trip(decode_published(head, body), true);
    } catch (const ProtoError&) {
    }
    if (!head.empty()) return 0;
    try {  // an empty head: the body is a Stats alone
        const loads::Stats s = decode_stats(body);
        if (encode_stats(decode_stats(encode_stats(s))) != encode_stats(s)) fail("stats do not round-trip", head);
    } catch (const ProtoError&) {
    }
    return 0;
}
