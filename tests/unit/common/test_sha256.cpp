// One SHA-256 for the runner and the agent (issue 14): known vectors (FIPS 180-2).
#include "loads/sha256.hpp"

#include <catch2/catch.hpp>

#include <string>

using loads::is_sha256_hex;
using loads::Sha256;
using loads::sha256_hex;

namespace {
constexpr const char* kEmpty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* kAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* kTwoBlocks = "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr const char* kTwoBlocksText = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
}  // namespace

TEST_CASE("sha256_hex of known vectors") {
    CHECK(sha256_hex("") == kEmpty);
    CHECK(sha256_hex("abc") == kAbc);
    CHECK(sha256_hex(kTwoBlocksText) == kTwoBlocks);
    // A million 'a' (FIPS 180-2, appendix B.3).
    CHECK(sha256_hex(std::string(1'000'000, 'a')) ==
          "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    // Bytes after a NUL count.
    CHECK(sha256_hex(std::string_view("abc\0", 4)) != kAbc);
}

TEST_CASE("Sha256 in pieces equals sha256_hex in one") {
    Sha256 h;
    REQUIRE(h.ok());
    const std::string text = kTwoBlocksText;
    for (std::size_t i = 0; i < text.size(); i += 7) h.update(std::string_view(text).substr(i, 7));
    CHECK(h.hex() == kTwoBlocks);
    Sha256 empty;
    CHECK(empty.hex() == kEmpty);
    // hex() finishes the hash: a second call has nothing to give.
    CHECK(empty.hex().empty());
}

TEST_CASE("is_sha256_hex takes 64 lower-case hex digits only") {
    CHECK(is_sha256_hex(kEmpty));
    CHECK(is_sha256_hex(sha256_hex("abc")));
    CHECK_FALSE(is_sha256_hex(""));
    CHECK_FALSE(is_sha256_hex(std::string(kAbc).substr(0, 63)));
    CHECK_FALSE(is_sha256_hex(std::string(kAbc) + "0"));
    std::string upper = kAbc;
    upper[0] = 'B';
    CHECK_FALSE(is_sha256_hex(upper));
    std::string g = kAbc;
    g[10] = 'g';
    CHECK_FALSE(is_sha256_hex(g));
}
